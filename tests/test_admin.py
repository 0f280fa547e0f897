"""The Django admin: every model listed, history visible, and R4 through its form and action."""

from decimal import Decimal

import lxml.html
import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from evse_payout.models import (
    CDR,
    EVSE,
    Assignment,
    AuditAction,
    AuditEvent,
    CDRRating,
    CDRStatus,
    Connector,
    Invoice,
    InvoiceNumberSequence,
    InvoiceRun,
    InvoiceRunExclusion,
    Location,
    OCPIToken,
    PayoutAccount,
    SubCPO,
    UnassignReason,
)
from evse_payout.services.ocpi_tokens import create_ocpi_token
from tests.factories import (
    AssignmentFactory,
    CDRFactory,
    ConnectorFactory,
    EVSEFactory,
    PayoutAccountFactory,
    SubCPOFactory,
)
from tests.models.test_payout_account import assert_deactivation_unassigned

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def changelist(model):
    return reverse(f"admin:evse_payout_{model._meta.model_name}_changelist")


def change_url(obj):
    return reverse(f"admin:evse_payout_{obj._meta.model_name}_change", args=[obj.pk])


def form_data(html, form_id):
    """What a browser would post for the form as rendered (unchecked boxes are left out)."""
    form = lxml.html.fromstring(html).get_element_by_id(form_id)
    return {key: value for key, value in form.form_values()}


def populate():
    """One row of every model."""
    sub_cpo = SubCPOFactory()
    account = PayoutAccountFactory(holder=sub_cpo)
    assignment = AssignmentFactory(payout_account=account, evse__location__owner=sub_cpo)
    ConnectorFactory(evse=assignment.evse)
    cdr = CDRFactory(evse=assignment.evse)
    CDRRating.objects.create(cdr=cdr, at=timezone.now(), status=CDRStatus.NEW)
    run = InvoiceRun.objects.create(cutoff=timezone.now().date(), created_at=timezone.now())
    Invoice.objects.create(
        run=run, payout_account=account, currency="EUR", created_at=timezone.now()
    )
    InvoiceRunExclusion.objects.create(
        run=run,
        reason="evse_unassigned",
        payout_account=account,
        currency="EUR",
        cdr_count=3,
        amount_excl_vat=Decimal("1"),
    )
    InvoiceNumberSequence.objects.create(year=2026, last_number=3)
    OCPIToken.objects.create(name="peer", token_hash="0" * 64)
    AuditEvent.objects.create(at=timezone.now(), action=AuditAction.ASSIGN, summary="Assigned")


def test_every_model_is_registered_or_edited_inline():
    from django.apps import apps

    models = {m for m in apps.get_app_config("evse_payout").get_models() if m._meta.managed}
    inline = {i.model for i in admin.site._registry[EVSE].inlines}
    assert models - {Connector} <= set(admin.site._registry)
    assert Connector in inline


def test_every_changelist_and_change_page_opens(admin_client):
    populate()
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label != "evse_payout":
            continue
        response = admin_client.get(changelist(model))
        assert response.status_code == 200, model
        for obj in model.objects.all():
            assert admin_client.get(change_url(obj)).status_code == 200, model
        if model_admin.search_fields:
            assert admin_client.get(changelist(model), {"q": "x"}).status_code == 200, model


@pytest.mark.parametrize("model", [EVSE, CDR, Assignment])
def test_large_tables_do_not_count_all_rows(model):
    assert admin.site._registry[model].show_full_result_count is False


@pytest.mark.parametrize(
    ("model", "make"),
    [
        (EVSE, lambda: EVSEFactory()),
        (CDR, lambda: CDRFactory(payout_account=PayoutAccountFactory())),
        (Assignment, lambda: AssignmentFactory()),
        (PayoutAccount, lambda: PayoutAccountFactory(holder=SubCPOFactory())),
    ],
)
def test_changelist_queries_do_not_grow_with_rows(
    admin_client, django_assert_max_num_queries, model, make
):
    make()
    with django_assert_max_num_queries(100) as one_row:
        admin_client.get(changelist(model))
    for _ in range(20):
        make()
    with django_assert_max_num_queries(len(one_row.captured_queries)):
        response = admin_client.get(changelist(model))
    assert response.status_code == 200


def test_evse_page_shows_its_assignment_history_newest_first(admin_client):
    old = AssignmentFactory(unassigned_at=timezone.now(), unassign_reason=UnassignReason.MANUAL)
    current = AssignmentFactory(evse=old.evse, assigned_at=timezone.now())
    html = admin_client.get(change_url(old.evse)).content.decode()
    assert html.index(current.payout_account.name) < html.index(old.payout_account.name)
    assert "Unassigned by staff" in html
    assert f"evse__id__exact={old.evse.pk}" in html


def test_account_page_shows_its_newest_assignments_and_links_the_rest(admin_client):
    account = PayoutAccountFactory()
    AssignmentFactory.create_batch(55, payout_account=account)
    response = admin_client.get(change_url(account))
    assert response.status_code == 200
    (formset,) = [
        f for f in response.context["inline_admin_formsets"] if f.formset.model is Assignment
    ]
    assert len(formset.formset.forms) == 50
    assert f"payout_account__id__exact={account.pk}" in response.content.decode()


def test_assignment_history_filters_by_account_and_evse(admin_client):
    mine = AssignmentFactory()
    AssignmentFactory()
    for params in (
        {"payout_account__id__exact": mine.payout_account_id},
        {"evse__id__exact": mine.evse_id},
    ):
        response = admin_client.get(changelist(Assignment), params)
        assert list(response.context["cl"].result_list) == [mine]


def test_assignments_cannot_be_added_changed_or_deleted_in_admin(admin_client):
    assignment = AssignmentFactory()
    assert admin_client.get(reverse("admin:evse_payout_assignment_add")).status_code == 403
    delete = reverse("admin:evse_payout_assignment_delete", args=[assignment.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    response = admin_client.get(changelist(Assignment))
    assert "delete_selected" not in response.content.decode()
    assert Assignment.objects.count() == 1


def test_cdr_page_shows_the_raw_json_read_only(admin_client):
    cdr = CDRFactory()
    response = admin_client.get(change_url(cdr))
    html = response.content.decode()
    assert "&quot;cdr_location&quot;" in html
    assert 'name="raw"' not in html
    assert admin_client.post(change_url(cdr), {}).status_code == 403


def test_deactivating_in_the_admin_form_unassigns_its_evses(admin_client, superuser):
    account = PayoutAccountFactory()
    AssignmentFactory.create_batch(3, payout_account=account)
    data = form_data(admin_client.get(change_url(account)).content, "payoutaccount_form")
    data.pop("is_active")
    data["name"] = "Renamed account"

    response = admin_client.post(change_url(account), data, follow=True)

    assert response.redirect_chain, response.context["adminform"].form.errors
    assert_deactivation_unassigned(account, superuser, 3)
    assert account.name == "Renamed account"
    assert "unassigned 3 EVSEs" in response.content.decode()


def test_reactivating_in_the_admin_form_goes_through_the_service(admin_client, superuser):
    account = PayoutAccountFactory(is_active=False)
    data = form_data(admin_client.get(change_url(account)).content, "payoutaccount_form")
    data["is_active"] = "on"

    admin_client.post(change_url(account), data)

    account.refresh_from_db()
    assert account.is_active
    assert account.deactivated_at is None
    event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_REACTIVATE)
    assert (event.actor, event.payout_account) == (superuser, account)


def test_other_edits_in_the_admin_form_keep_the_assignments(admin_client):
    account = PayoutAccountFactory()
    AssignmentFactory.create_batch(2, payout_account=account)
    data = form_data(admin_client.get(change_url(account)).content, "payoutaccount_form")
    data["fee_per_session"] = "0.40"

    admin_client.post(change_url(account), data)

    account.refresh_from_db()
    assert account.fee_per_session == Decimal("0.40")
    assert account.is_active
    assert Assignment.objects.open().filter(payout_account=account).count() == 2


def test_admin_form_refuses_an_invalid_iban(admin_client):
    account = PayoutAccountFactory()
    data = form_data(admin_client.get(change_url(account)).content, "payoutaccount_form")
    data["iban"] = "BE68539007547035"
    response = admin_client.post(change_url(account), data)
    assert response.status_code == 200
    assert "is not a valid IBAN" in response.content.decode()


def test_bulk_action_confirms_then_deactivates_through_the_service(admin_client, superuser):
    accounts = PayoutAccountFactory.create_batch(2)
    for account in accounts:
        AssignmentFactory.create_batch(2, payout_account=account)
    untouched = AssignmentFactory()
    post = {
        "action": "deactivate_selected",
        "_selected_action": [account.pk for account in accounts],
    }

    confirmation = admin_client.post(changelist(PayoutAccount), post)

    assert confirmation.status_code == 200
    assert "unassigns their 4 EVSEs" in confirmation.content.decode()
    assert PayoutAccount.objects.filter(is_active=True).count() == 3

    response = admin_client.post(changelist(PayoutAccount), {**post, "post": "yes"}, follow=True)

    for account in accounts:
        assert_deactivation_unassigned(account, superuser, 2)
    assert Assignment.objects.open().get() == untouched
    assert "Deactivated 2 payout accounts; unassigned 4 EVSEs." in response.content.decode()


def test_bulk_action_on_inactive_accounts_says_so(admin_client):
    account = PayoutAccountFactory(is_active=False)
    response = admin_client.post(
        changelist(PayoutAccount),
        {"action": "deactivate_selected", "_selected_action": [account.pk], "post": "yes"},
        follow=True,
    )
    assert "already inactive" in response.content.decode()
    assert not AuditEvent.objects.exists()


# -- The admin goes through the services (issue 11 §7, issue 10 §1) ---------------------------


def add_url(model):
    return reverse(f"admin:evse_payout_{model._meta.model_name}_add")


@pytest.mark.parametrize("model", [PayoutAccount, EVSE, Location, SubCPO])
def test_add_pages_open(admin_client, model):
    assert admin_client.get(add_url(model)).status_code == 200


def test_creating_an_account_in_the_admin_goes_through_the_service(admin_client, superuser):
    data = form_data(admin_client.get(add_url(PayoutAccount)).content, "payoutaccount_form")
    data.update(
        name="Admin made",
        account_holder_name="Hotel NV",
        iban="be68 5390 0754 7034",
        bic="gkccbebb",
        currency="eur",
    )

    response = admin_client.post(add_url(PayoutAccount), data, follow=True)

    assert response.redirect_chain, response.context["adminform"].form.errors
    account = PayoutAccount.objects.get(name="Admin made")
    assert (account.iban, account.bic, account.currency) == ("BE68539007547034", "GKCCBEBB", "EUR")
    event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_CREATE)
    assert (event.actor, event.payout_account) == (superuser, account)
    assert event.details["iban"] == "BE68 … 7034"


def test_admin_currency_change_with_open_assignments_is_refused(admin_client):
    account = PayoutAccountFactory(currency="EUR")
    AssignmentFactory.create_batch(2, payout_account=account)
    data = form_data(admin_client.get(change_url(account)).content, "payoutaccount_form")
    data["currency"] = "GBP"

    response = admin_client.post(change_url(account), data)

    assert response.status_code == 200
    assert "has 2 assigned EVSEs: unassign them before changing its currency" in (
        response.content.decode()
    )
    account.refresh_from_db()
    assert account.currency == "EUR"
    assert not AuditEvent.objects.exists()


def test_admin_holder_change_with_open_assignments_is_refused(admin_client):
    account = PayoutAccountFactory(holder=None)
    AssignmentFactory(payout_account=account)
    data = form_data(admin_client.get(change_url(account)).content, "payoutaccount_form")
    data["holder"] = str(SubCPOFactory().pk)

    response = admin_client.post(change_url(account), data)

    assert "before changing its holder" in response.content.decode()
    account.refresh_from_db()
    assert account.holder is None


def test_admin_bank_and_currency_changes_are_audited(admin_client, superuser):
    account = PayoutAccountFactory(currency="EUR", iban="BE68539007547034")
    data = form_data(admin_client.get(change_url(account)).content, "payoutaccount_form")
    data.update(iban="DE89 3704 0044 0532 0130 00", currency="CHF")

    admin_client.post(change_url(account), data)

    account.refresh_from_db()
    assert (account.iban, account.currency) == ("DE89370400440532013000", "CHF")
    event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_UPDATE)
    assert event.actor == superuser
    assert event.details == {"iban": ["BE68 … 7034", "DE89 … 3000"], "currency": ["EUR", "CHF"]}


@pytest.mark.parametrize("model", [EVSE, Location, PayoutAccount, CDR, Invoice])
def test_money_rows_cannot_be_deleted_in_the_admin(admin_client, model):
    populate()
    obj = model.objects.first()

    listing = admin_client.get(changelist(model))
    delete = reverse(f"admin:evse_payout_{model._meta.model_name}_delete", args=[obj.pk])

    assert "delete_selected" not in listing.content.decode()
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()


def test_location_owner_change_under_live_assignments_is_refused(admin_client):
    hotel = SubCPOFactory(name="Hotel")
    assignment = AssignmentFactory(
        evse__location__owner=hotel, payout_account=PayoutAccountFactory(holder=hotel)
    )
    location = assignment.evse.location
    data = form_data(admin_client.get(change_url(location)).content, "location_form")
    data["owner"] = ""

    response = admin_client.post(change_url(location), data)

    assert response.status_code == 200
    assert "cannot go to CPO (own)" in response.content.decode()
    location.refresh_from_db()
    assert location.owner == hotel


def test_location_owner_change_without_assignments_is_audited(admin_client, superuser):
    location = EVSEFactory(location__owner=None).location
    hotel = SubCPOFactory(name="Hotel")
    data = form_data(admin_client.get(change_url(location)).content, "location_form")
    data["owner"] = str(hotel.pk)

    response = admin_client.post(change_url(location), data, follow=True)

    assert response.redirect_chain, response.context["adminform"].form.errors
    location.refresh_from_db()
    assert location.owner == hotel
    event = AuditEvent.objects.get(action=AuditAction.LOCATION_OWNER)
    assert event.actor == superuser
    assert "now belongs to Hotel (was CPO (own))" in event.summary


def test_ocpi_token_parties_are_set_in_the_admin_and_audited(admin_client, superuser):
    token = create_ocpi_token(name="Peer").token
    data = form_data(admin_client.get(change_url(token)).content, "ocpitoken_form")
    data["parties"] = "be/bec, NL*ALF"

    response = admin_client.post(change_url(token), data, follow=True)

    assert response.redirect_chain, response.context["adminform"].form.errors
    assert token.party_keys() == {("BE", "BEC"), ("NL", "ALF")}
    event = AuditEvent.objects.get(action=AuditAction.OCPI_TOKEN_PARTIES)
    assert event.actor == superuser


def test_ocpi_token_admin_refuses_a_malformed_party(admin_client):
    token = create_ocpi_token(name="Peer", parties=["BE/BEC"]).token
    data = form_data(admin_client.get(change_url(token)).content, "ocpitoken_form")
    data["parties"] = "BE/BEC, nonsense"

    response = admin_client.post(change_url(token), data)

    assert "“nonsense” is not an OCPI party" in response.content.decode()
    assert token.party_keys() == {("BE", "BEC")}


def test_admin_same_currency_in_lower_case_is_no_change(admin_client):
    account = PayoutAccountFactory(currency="EUR")
    AssignmentFactory(payout_account=account)
    data = form_data(admin_client.get(change_url(account)).content, "payoutaccount_form")
    data.update(currency="eur", fee_per_session="0.40")

    response = admin_client.post(change_url(account), data, follow=True)

    assert response.redirect_chain, response.context["adminform"].form.errors
    account.refresh_from_db()
    assert (account.currency, str(account.fee_per_session)) == ("EUR", "0.40")
    assert AuditEvent.objects.get(action=AuditAction.ACCOUNT_UPDATE).details == {
        "fee_per_session": ["0.25", "0.40"]
    }
