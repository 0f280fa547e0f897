"""The "Payout accounts" pages: list, create, edit, deactivate, reactivate, and who may do what."""

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from evse_payout.models import Assignment, AuditAction, AuditEvent, PayoutAccount, UnassignReason
from tests.conftest import FINANCE, MANAGER, VIEWER
from tests.factories import AssignmentFactory, PayoutAccountFactory, SubCPOFactory, UserFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("evse_payout:account_list")
CREATE_URL = reverse("evse_payout:account_create")


def form_data(**overrides):
    data = {
        "name": "Municipality payouts",
        "holder": "",
        "account_holder_name": "City of Gent",
        "iban": "be68 5390 0754 7034",
        "bic": "",
        "vat_number": "",
        "currency": "EUR",
        "commission_percent": "10",
        "fee_per_kwh": "0.02",
        "fee_per_session": "0.25",
    }
    data.update(overrides)
    return data


def edit_data(account, **overrides):
    data = form_data(
        name=account.name,
        holder=str(account.holder_id or ""),
        account_holder_name=account.account_holder_name,
        iban=account.iban,
        bic=account.bic,
        vat_number=account.vat_number,
        currency=account.currency,
        commission_percent=str(account.commission_percent),
        fee_per_kwh=str(account.fee_per_kwh),
        fee_per_session=str(account.fee_per_session),
    )
    data.update(overrides)
    return data


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- list ---------------------------------------------------------------------------------------


def test_list_shows_accounts_with_holder_grouped_iban_and_evse_count(finance_client):
    holder = SubCPOFactory(name="Hotel Chain")
    account = PayoutAccountFactory(name="Hotel payouts", holder=holder, iban="BE68539007547034")
    AssignmentFactory.create_batch(3, payout_account=account)
    closed = AssignmentFactory(payout_account=account)
    Assignment.objects.filter(pk=closed.pk).update(
        unassigned_at=closed.assigned_at, unassign_reason=UnassignReason.MANUAL
    )
    PayoutAccountFactory(name="Own payouts", holder=None)

    response = finance_client.get(LIST_URL)

    assert response.status_code == 200
    rows = {row.record.name: row.record for row in response.context["table"].rows}
    assert rows["Hotel payouts"].evse_count == 3
    assert rows["Own payouts"].evse_count == 0
    html = response.content.decode()
    assert "BE68 5390 0754 7034" in html
    assert "Hotel Chain" in html
    assert "CPO (own)" in html
    assert "10.00 % + 0.0200 EUR/kWh + 0.25 EUR/session" in html


def test_list_filters_by_status_holder_and_name(viewer_client):
    holder = SubCPOFactory()
    own = PayoutAccountFactory(name="Own main", holder=None)
    partner = PayoutAccountFactory(name="Partner main", holder=holder)
    inactive = PayoutAccountFactory(name="Old partner", holder=holder, is_active=False)

    def names(**params):
        response = viewer_client.get(LIST_URL, params)
        assert response.status_code == 200
        return {row.record.name for row in response.context["table"].rows}

    assert names(status="inactive") == {inactive.name}
    assert names(status="active") == {own.name, partner.name}
    assert names(holder="own") == {own.name}
    assert names(holder=str(holder.pk)) == {partner.name, inactive.name}
    assert names(holder=str(holder.pk), status="active") == {partner.name}
    assert names(name="MAIN") == {own.name, partner.name}


def test_list_invalid_filter_shows_the_error(viewer_client):
    PayoutAccountFactory()
    response = viewer_client.get(LIST_URL, {"status": "sleeping"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_list_empty_state_offers_to_create_an_account(finance_client):
    response = finance_client.get(LIST_URL)
    html = response.content.decode()
    assert "There are no payout accounts yet" in html
    assert '<button type="submit" class="button default">Create payout account</button>' in html


def test_list_shows_actions_only_to_finance(viewer_client, finance):
    account = PayoutAccountFactory()
    html = viewer_client.get(LIST_URL).content.decode()
    assert "Create payout account" not in html
    assert reverse("evse_payout:account_deactivate", args=[account.pk]) not in html

    viewer_client.force_login(finance)
    html = viewer_client.get(LIST_URL).content.decode()
    assert "Create payout account" in html
    assert reverse("evse_payout:account_deactivate", args=[account.pk]) in html
    assert reverse("evse_payout:account_edit", args=[account.pk]) in html


def test_list_offers_reactivate_for_inactive_accounts(finance_client):
    account = PayoutAccountFactory(is_active=False)
    html = finance_client.get(LIST_URL).content.decode()
    assert reverse("evse_payout:account_reactivate", args=[account.pk]) in html
    assert "Inactive" in html


def test_list_links_each_account_to_its_assigned_evses_tab(viewer_client):
    account = PayoutAccountFactory()
    AssignmentFactory(payout_account=account)
    url = reverse("evse_payout:evses_assigned")
    assert f'href="{url}?account={account.pk}"' in viewer_client.get(LIST_URL).content.decode()


def list_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(LIST_URL).status_code == 200
    return len(queries)


def test_list_query_count_is_the_same_for_1_and_20_accounts(finance_client):
    holder = SubCPOFactory()
    first = PayoutAccountFactory(holder=holder)
    AssignmentFactory(payout_account=first)
    finance_client.get(LIST_URL)
    one = list_queries(finance_client)
    for _ in range(19):
        account = PayoutAccountFactory(holder=SubCPOFactory())
        AssignmentFactory.create_batch(2, payout_account=account)
    assert list_queries(finance_client) == one


# --- create and edit ----------------------------------------------------------------------------


def test_create_account_normalises_iban_and_audits(finance_client, finance):
    response = finance_client.post(CREATE_URL, form_data())

    assert response.status_code == 302
    assert response["Location"] == LIST_URL
    account = PayoutAccount.objects.get(name="Municipality payouts")
    assert account.iban == "BE68539007547034"
    assert account.holder is None
    assert account.fee_per_kwh == Decimal("0.0200")
    assert AuditEvent.objects.get(action=AuditAction.ACCOUNT_CREATE).actor == finance
    assert messages_of(response) == ["Payout account “Municipality payouts” created."]


def test_create_form_preselects_the_holder_from_the_query(finance_client):
    holder = SubCPOFactory(name="Fleet depot")
    response = finance_client.get(CREATE_URL, {"holder": holder.pk})
    form = response.context["form"]
    assert form.initial["holder"] == holder
    assert form.initial["account_holder_name"] == "Fleet depot"
    assert "CPO (own)" in response.content.decode()


def test_create_with_a_bad_iban_names_the_field(finance_client):
    response = finance_client.post(CREATE_URL, form_data(iban="BE68 5390 0754 7035"))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["iban"]
    assert "not a valid IBAN" in errors["iban"][0]
    assert not PayoutAccount.objects.exists()


def test_create_with_a_bad_bic_names_the_field(finance_client):
    response = finance_client.post(CREATE_URL, form_data(bic="NOTABIC"))
    assert "not a valid BIC" in response.context["form"].errors["bic"][0]


@pytest.mark.parametrize("field", ["fee_per_kwh", "fee_per_session", "commission_percent"], ids=str)
def test_create_refuses_negative_fees(finance_client, field):
    response = finance_client.post(CREATE_URL, form_data(**{field: "-1"}))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not PayoutAccount.objects.exists()


def test_create_refuses_commission_over_100_percent(finance_client):
    response = finance_client.post(CREATE_URL, form_data(commission_percent="100.5"))
    assert "commission_percent" in response.context["form"].errors
    assert not PayoutAccount.objects.exists()


def test_create_returns_to_a_safe_next_url(finance_client):
    next_url = "/assignment/?city=Gent&power_type=DC"
    response = finance_client.post(f"{CREATE_URL}?next=/ignored/", form_data(next=next_url))
    assert response.status_code == 302
    assert response["Location"] == next_url


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"]
)
def test_create_refuses_an_open_redirect(finance_client, next_url):
    response = finance_client.post(CREATE_URL, form_data(next=next_url))
    assert response.status_code == 302
    assert response["Location"] == LIST_URL
    get_page = finance_client.get(CREATE_URL, {"next": next_url}).content.decode()
    assert "evil.example" not in get_page


def test_create_form_keeps_a_safe_next_url_for_the_post(finance_client):
    html = finance_client.get(CREATE_URL, {"next": "/assignment/?city=Gent"}).content.decode()
    assert '<input type="hidden" name="next" value="/assignment/?city=Gent">' in html


def test_edit_saves_changes_and_audits(finance_client, finance):
    account = PayoutAccountFactory()
    url = reverse("evse_payout:account_edit", args=[account.pk])

    response = finance_client.post(url, edit_data(account, fee_per_session="0.75"))

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.fee_per_session == Decimal("0.75")
    event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_UPDATE)
    assert event.actor == finance
    assert messages_of(response) == [f"Payout account “{account.name}” saved."]


def test_edit_ignores_an_is_active_field(finance_client):
    account = PayoutAccountFactory()
    url = reverse("evse_payout:account_edit", args=[account.pk])
    finance_client.post(url, edit_data(account, is_active=""))
    account.refresh_from_db()
    assert account.is_active


def test_edit_refuses_a_holder_change_while_evses_are_assigned(finance_client):
    account = PayoutAccountFactory(holder=None)
    AssignmentFactory.create_batch(2, payout_account=account)
    url = reverse("evse_payout:account_edit", args=[account.pk])

    response = finance_client.post(url, edit_data(account, holder=str(SubCPOFactory().pk)))

    assert response.status_code == 200
    error = response.context["form"].errors["holder"][0]
    assert "2 assigned EVSEs" in error
    assert "unassign them before changing its holder" in error
    account.refresh_from_db()
    assert account.holder is None


def test_edit_refuses_a_currency_change_while_evses_are_assigned(finance_client):
    account = PayoutAccountFactory(currency="EUR")
    AssignmentFactory(payout_account=account)
    url = reverse("evse_payout:account_edit", args=[account.pk])

    response = finance_client.post(url, edit_data(account, currency="GBP"))

    assert "currency" in response.context["form"].errors
    account.refresh_from_db()
    assert account.currency == "EUR"


def test_account_page_shows_its_audit_trail(viewer_client, finance):
    account = PayoutAccountFactory()
    AuditEvent.objects.create(
        at=account.created_at,
        actor=finance,
        actor_label="finance",
        action=AuditAction.ASSIGN,
        payout_account=account,
        object_count=1234,
        summary="Assigned 1,234 EVSEs to the account",
    )
    response = viewer_client.get(reverse("evse_payout:account_edit", args=[account.pk]))
    html = response.content.decode()
    assert "Audit" in html
    assert "Assigned 1,234 EVSEs to the account" in html
    assert "finance" in html


def test_account_page_is_read_only_for_viewers(viewer_client):
    account = PayoutAccountFactory()
    response = viewer_client.get(reverse("evse_payout:account_edit", args=[account.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert ">Save</button>" not in html
    assert "Deactivate" not in html
    assert all(field.disabled for field in response.context["form"].fields.values())


# --- deactivate and reactivate ------------------------------------------------------------------


def test_deactivate_confirmation_says_how_many_evses_will_be_unassigned(finance_client):
    account = PayoutAccountFactory(name="Hotel payouts")
    AssignmentFactory.create_batch(3, payout_account=account)
    response = finance_client.get(reverse("evse_payout:account_deactivate", args=[account.pk]))
    html = response.content.decode()
    assert "Deactivating “Hotel payouts” will unassign 3 EVSEs." in html
    assert ">Confirm</button>" in html


def test_deactivate_unassigns_evses_and_audits(finance_client, finance):
    account = PayoutAccountFactory(name="Hotel payouts")
    AssignmentFactory.create_batch(3, payout_account=account)

    response = finance_client.post(reverse("evse_payout:account_deactivate", args=[account.pk]))

    assert response.status_code == 302
    assert messages_of(response) == ["“Hotel payouts” deactivated; 3 EVSEs unassigned."]
    account.refresh_from_db()
    assert not account.is_active
    assert account.deactivated_by == finance
    assignments = Assignment.objects.filter(payout_account=account)
    assert not assignments.open().exists()
    assert {(a.unassign_reason, a.unassigned_by_id) for a in assignments} == {
        (UnassignReason.ACCOUNT_DEACTIVATED, finance.pk)
    }
    event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_DEACTIVATE)
    assert (event.actor, event.payout_account, event.object_count) == (finance, account, 3)


def test_deactivating_an_inactive_account_shows_a_message(finance_client):
    account = PayoutAccountFactory(is_active=False, name="Old")
    response = finance_client.post(reverse("evse_payout:account_deactivate", args=[account.pk]))
    assert response.status_code == 302
    assert messages_of(response) == ["The payout account “Old” is already inactive."]


def test_deactivate_page_of_an_inactive_account_goes_back_to_the_list(finance_client):
    account = PayoutAccountFactory(is_active=False, name="Old")
    response = finance_client.get(reverse("evse_payout:account_deactivate", args=[account.pk]))
    assert response.status_code == 302
    assert response["Location"] == LIST_URL
    assert messages_of(response) == ["“Old” is already inactive."]


def test_reactivate_confirms_then_reactivates(finance_client, finance):
    account = PayoutAccountFactory(name="Old", is_active=False)
    url = reverse("evse_payout:account_reactivate", args=[account.pk])
    assert ">Confirm</button>" in finance_client.get(url).content.decode()

    response = finance_client.post(url)

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.is_active
    assert AuditEvent.objects.get(action=AuditAction.ACCOUNT_REACTIVATE).actor == finance
    assert messages_of(response) == ["“Old” reactivated; it can receive new assignments again."]


def test_reactivating_an_active_account_shows_a_message(finance_client):
    account = PayoutAccountFactory(name="Live")
    response = finance_client.post(reverse("evse_payout:account_reactivate", args=[account.pk]))
    assert response.status_code == 302
    assert messages_of(response) == ["The payout account “Live” is already active."]


# --- permissions --------------------------------------------------------------------------------


def changing_requests(account, inactive):
    return [
        ("get", CREATE_URL, {}),
        ("post", CREATE_URL, form_data()),
        ("post", reverse("evse_payout:account_edit", args=[account.pk]), edit_data(account)),
        ("get", reverse("evse_payout:account_deactivate", args=[account.pk]), {}),
        ("post", reverse("evse_payout:account_deactivate", args=[account.pk]), {}),
        ("get", reverse("evse_payout:account_reactivate", args=[inactive.pk]), {}),
        ("post", reverse("evse_payout:account_reactivate", args=[inactive.pk]), {}),
    ]


def test_anonymous_users_are_sent_to_login(client):
    account, inactive = PayoutAccountFactory(), PayoutAccountFactory(is_active=False)
    for method, url, data in [
        ("get", LIST_URL, {}),
        ("get", reverse("evse_payout:account_edit", args=[account.pk]), {}),
        *changing_requests(account, inactive),
    ]:
        response = getattr(client, method)(url, data)
        assert response.status_code == 302, (method, url)
        assert response["Location"].startswith("/login/"), (method, url)


@pytest.mark.parametrize("group", [VIEWER, MANAGER])
def test_only_finance_may_change_accounts(client, group):
    client.force_login(UserFactory(groups=[group]))
    account, inactive = PayoutAccountFactory(), PayoutAccountFactory(is_active=False)
    AssignmentFactory(payout_account=account)

    for method, url, data in changing_requests(account, inactive):
        response = getattr(client, method)(url, data)
        assert response.status_code == 403, (method, url)

    assert PayoutAccount.objects.count() == 2
    account.refresh_from_db()
    inactive.refresh_from_db()
    assert account.is_active and not inactive.is_active
    assert Assignment.objects.open().count() == 1
    assert not AuditEvent.objects.exists()


def test_finance_may_change_accounts(client):
    client.force_login(UserFactory(groups=[FINANCE]))
    account, inactive = PayoutAccountFactory(), PayoutAccountFactory(is_active=False)
    for method, url, data in changing_requests(account, inactive):
        response = getattr(client, method)(url, data)
        assert response.status_code == (200 if method == "get" else 302), (method, url)


def test_staff_without_the_view_permission_get_403(client):
    client.force_login(UserFactory())
    account = PayoutAccountFactory()
    assert client.get(LIST_URL).status_code == 403
    assert client.get(reverse("evse_payout:account_edit", args=[account.pk])).status_code == 403


def test_unknown_account_is_404(finance_client):
    assert finance_client.get(reverse("evse_payout:account_edit", args=[999999])).status_code == 404
    assert (
        finance_client.post(reverse("evse_payout:account_deactivate", args=[999999])).status_code
        == 404
    )


# --- the account form (issue 15, problem 10) -----------------------------------------------------


def test_create_form_marks_required_fields_and_offers_payout_currencies_only(finance_client):
    page = finance_client.get(CREATE_URL).content.decode()

    assert '<label for="id_name" class="required">Name:</label>' in page
    assert '<label for="id_bic">' in page  # optional: not marked
    assert '<option value="EUR" selected>EUR — Euro</option>' in page
    assert 'value="XAU"' not in page and 'value="XTS"' not in page
    assert page.count("<option value=") < 40
    assert "Use this IBAN anyway" not in page


def test_edit_form_keeps_an_existing_currency_outside_the_list(finance_client):
    account = PayoutAccountFactory(currency="MAD")

    page = finance_client.get(reverse("evse_payout:account_edit", args=[account.pk]))

    assert '<option value="MAD" selected>' in page.content.decode()


def test_an_iban_of_another_holders_account_is_refused_until_confirmed(finance_client):
    hotel = SubCPOFactory(name="Hotel Zeezicht")
    PayoutAccountFactory(name="Hotel main", holder=hotel, iban="BE68539007547034")

    refused = finance_client.post(CREATE_URL, form_data())

    page = refused.content.decode()
    assert refused.status_code == 200
    assert "This IBAN is already used by “Hotel main” (Hotel Zeezicht), of another holder." in page
    assert "Use this IBAN anyway" in page
    assert not PayoutAccount.objects.filter(name="Municipality payouts").exists()

    accepted = finance_client.post(CREATE_URL, form_data(confirm_shared_iban="on"))

    assert accepted.status_code == 302
    assert PayoutAccount.objects.filter(name="Municipality payouts").exists()


def test_the_same_holder_may_reuse_its_own_iban_without_a_warning(finance_client):
    PayoutAccountFactory(name="Own main", holder=None, iban="BE68539007547034")

    response = finance_client.post(CREATE_URL, form_data())

    assert response.status_code == 302


# --- settle before deactivating (issue 12, case 8) ------------------------------------------------


def _partner_with_pending_cdrs():
    from tests.factories import PartnerAssignmentFactory
    from tests.services.test_invoicing import rated_cdr

    assignment = PartnerAssignmentFactory(payout_account__name="Hotel Zeezicht")
    rated_cdr(assignment, excl=Decimal("100.00"))
    rated_cdr(assignment, excl=Decimal("23.45"))
    return assignment.payout_account


def test_deactivate_confirmation_shows_the_pending_cdrs_and_their_amount(finance_client):
    account = _partner_with_pending_cdrs()

    page = finance_client.get(reverse("evse_payout:account_deactivate", args=[account.pk]))

    html = page.content.decode()
    # payouts 90.0000 + 21.1050 = 111.105 → 111.11
    assert "2 rated CDRs not yet invoiced, 111.11 EUR payout" in html
    assert ">Settle account</button>" in html


def test_settle_account_drafts_a_statement_for_that_account_alone(finance_client):
    from evse_payout.models import CDR, Invoice

    account = _partner_with_pending_cdrs()
    other = AssignmentFactory()
    from tests.services.test_invoicing import rated_cdr

    untouched = rated_cdr(other)

    response = finance_client.post(
        reverse("evse_payout:account_settle", args=[account.pk]), follow=True
    )

    statement = Invoice.objects.get()
    assert statement.payout_account == account
    assert statement.net_payout == Decimal("111.11")
    assert "Finalize it, then deactivate the account" in str(list(response.context["messages"])[0])
    assert CDR.objects.get(pk=untouched.pk).statement is None


def test_settle_is_refused_to_a_viewer(viewer_client):
    account = _partner_with_pending_cdrs()

    response = viewer_client.post(reverse("evse_payout:account_settle", args=[account.pk]))

    assert response.status_code == 403


def test_account_page_shows_its_open_balance(finance_client):
    from evse_payout.models import Invoice, InvoiceRun, InvoiceStatus

    account = PayoutAccountFactory()
    run = InvoiceRun.objects.create(cutoff="2026-03-01", created_at="2026-03-01T00:00Z")
    Invoice.objects.create(
        run=run,
        payout_account=account,
        currency="EUR",
        created_at="2026-03-01T00:00Z",
        finalized_at="2026-03-01T00:00Z",
        status=InvoiceStatus.FINAL,
        number="PS-2026-000042",
        payee_iban=account.iban,
        payable=Decimal("-12.3400"),
        carried_forward=True,
    )

    html = finance_client.get(reverse("evse_payout:account_edit", args=[account.pk])).content
    text = html.decode()

    assert "-12.34 EUR, carried forward from" in text
    assert "PS-2026-000042" in text


def test_finance_sets_the_minimum_payout_on_the_account_page(finance_client):
    account = PayoutAccountFactory()

    finance_client.post(
        reverse("evse_payout:account_edit", args=[account.pk]),
        form_data(name=account.name, minimum_payout="25.00"),
    )

    account.refresh_from_db()
    assert account.minimum_payout == Decimal("25.00")


def test_minimum_payout_left_empty_is_zero(finance_client):
    finance_client.post(CREATE_URL, form_data(minimum_payout=""))

    assert PayoutAccount.objects.get().minimum_payout == Decimal("0.00")
