"""The "CDR overview", the CDR page and the bulk "Rerate CDRs" flow."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from evse_payout.models import (
    CDR,
    EVSE,
    CDRRating,
    CDRStatus,
    PayoutAccount,
)
from evse_payout.services.assignments import unassign_evses
from evse_payout.services.invoicing import run_invoicing
from evse_payout.services.rating import rate_cdr, rerate_cdrs
from tests.factories import (
    AssignmentFactory,
    CDRFactory,
    EVSEFactory,
    LocationFactory,
    PayoutAccountFactory,
    SubCPOFactory,
    UserFactory,
)
from tests.services.test_rating import make_invoiced

pytestmark = pytest.mark.django_db

LIST = reverse("evse_payout:cdr_list")
RERATE = reverse("evse_payout:cdr_rerate")


def listed(client, **params):
    response = client.get(LIST, params)
    assert response.status_code == 200
    return {row.record.pk for row in response.context["table"].paginated_rows}


@pytest.fixture
def world():
    """CDRs of every kind: rated to two accounts, unassigned, unknown EVSE; two Sub-CPOs."""
    hotel = SubCPOFactory(name="Hotel chain")
    hotel_account = PayoutAccountFactory(name="Hotel payouts", holder=hotel)
    own_account = PayoutAccountFactory(name="Own payouts")
    hotel_evse = AssignmentFactory(
        evse=EVSEFactory(evse_id="BE*BEC*E100", location=LocationFactory(owner=hotel)),
        payout_account=hotel_account,
    ).evse
    own_evse = AssignmentFactory(
        evse=EVSEFactory(evse_id="BE*BEC*E200"), payout_account=own_account
    ).evse
    unassigned_evse = EVSEFactory(evse_id="BE*BEC*E300")
    end = datetime(2026, 4, 10, 12, tzinfo=UTC)
    cdrs = {
        "hotel": CDRFactory(
            evse=hotel_evse, start_date_time=end - timedelta(hours=1), end_date_time=end
        ),
        "own": CDRFactory(
            evse=own_evse,
            start_date_time=end - timedelta(days=10, hours=1),
            end_date_time=end - timedelta(days=10),
        ),
        "unassigned": CDRFactory(evse=unassigned_evse),
        "unknown": CDRFactory(evse=None, evse_uid="NOPE", evse_id_raw="BE*BEC*E999"),
    }
    rerate_cdrs(cdrs=CDR.objects.all())
    return {
        "cdrs": {name: CDR.objects.get(pk=cdr.pk) for name, cdr in cdrs.items()},
        "hotel": hotel,
        "hotel_account": hotel_account,
        "own_account": own_account,
    }


def pks(world, *names):
    return {world["cdrs"][name].pk for name in names}


def test_overview_lists_all_cdrs_newest_first(viewer_client, world):
    response = viewer_client.get(LIST)

    rows = [row.record for row in response.context["table"].paginated_rows]
    ends = [(cdr.end_date_time, cdr.pk) for cdr in rows]
    assert ends == sorted(ends, reverse=True)
    assert {cdr.pk for cdr in rows} == pks(world, "hotel", "own", "unassigned", "unknown")
    content = response.content.decode()
    for label in ("Status", "Reason", "EVSE ID", "Payout account", "Sub-CPO", "Ended before"):
        assert f">{label}" in content
    assert "Hotel payouts" in content and "EVSE unassigned" in content


def test_status_filter(viewer_client, world):
    assert listed(viewer_client, status="rated") == pks(world, "hotel", "own")
    assert listed(viewer_client, status="not_invoiceable") == pks(world, "unassigned", "unknown")


def test_reason_filter(viewer_client, world):
    assert listed(viewer_client, reason="evse_unknown") == pks(world, "unknown")


def test_evse_id_filter_exact_and_partial(viewer_client, world):
    assert listed(viewer_client, evse_id="be*bec*e100") == pks(world, "hotel")
    assert listed(viewer_client, evse_id="BE*BEC*E999") == pks(world, "unknown")
    assert listed(viewer_client, evse_id="E30") == pks(world, "unassigned")


def test_account_filter(viewer_client, world):
    assert listed(viewer_client, account=world["own_account"].pk) == pks(world, "own")


def test_sub_cpo_filter(viewer_client, world):
    assert listed(viewer_client, sub_cpo=world["hotel"].pk) == pks(world, "hotel")
    assert listed(viewer_client, sub_cpo="own") == pks(world, "own", "unassigned")


def test_period_filter_is_half_open_on_the_end(viewer_client, world):
    assert listed(viewer_client, ended_after="2026-04-10", ended_before="2026-04-11") == pks(
        world, "hotel"
    )
    assert listed(viewer_client, ended_after="2026-03-31", ended_before="2026-04-10") == pks(
        world, "own"
    )


def test_filters_combine(viewer_client, world):
    assert listed(viewer_client, status="rated", sub_cpo="own") == pks(world, "own")
    assert listed(viewer_client, status="not_invoiceable", sub_cpo="own") == pks(
        world, "unassigned"
    )
    assert listed(viewer_client, status="rated", reason="evse_unknown") == set()


def test_run_filter_lists_the_cdrs_the_run_left_out_per_reason(viewer_client, world):
    # The run stores only counts per reason, account and currency; the page finds the CDRs again
    # by the run's rule. "own" moves to another account (assignment changed), "hotel" is taken.
    own_evse = world["cdrs"]["own"].evse
    unassign_evses(evses=EVSE.objects.filter(pk=own_evse.pk), actor=None)
    AssignmentFactory(evse=own_evse, payout_account=PayoutAccountFactory(name="Other payouts"))
    summary = run_invoicing(cutoff=timezone.now().date() + timedelta(days=1))
    run = summary.run_id

    assert listed(viewer_client, run=run) == pks(world, "unassigned", "unknown", "own")
    assert listed(viewer_client, run=run, reason="assignment_changed") == pks(world, "own")
    assert listed(viewer_client, run=run, reason="evse_unknown") == pks(world, "unknown")
    assert listed(viewer_client, run=run + 1) == set()


def test_invoice_filter_lists_the_cdrs_on_a_statement(viewer_client, world):
    invoiced = make_invoiced(world["cdrs"]["hotel"], world["hotel_account"])

    assert listed(viewer_client, invoice=invoiced.statement.pk) == {invoiced.pk}


def test_invalid_filter_shows_an_error_not_a_500(viewer_client, world):
    response = viewer_client.get(LIST, {"ended_after": "soon", "account": "x"})

    assert response.status_code == 200
    assert "Enter a valid date" in response.content.decode()


def test_empty_overview_says_what_to_do(viewer_client, db):
    response = viewer_client.get(LIST)

    assert "No CDRs match these filters" in response.content.decode()


@pytest.mark.parametrize("rows", [1, 50])
def test_overview_query_count_is_constant_in_rows(rows, manager_client, django_assert_num_queries):
    accounts = [PayoutAccountFactory() for _ in range(3)]
    for index in range(rows):
        evse = AssignmentFactory(payout_account=accounts[index % 3]).evse
        rate_cdr(cdr=CDRFactory(evse=evse))
    manager_client.get(LIST)  # warm up the session and permission caches

    # 7 for the page, 1 capped count of the matching CDRs, 5 capped counts for the status tabs.
    with django_assert_num_queries(13):
        response = manager_client.get(LIST, {"per_page": 50})

    assert len(response.context["table"].paginated_rows) == rows


def test_a_user_without_the_view_permission_gets_403(client, db):
    client.force_login(UserFactory(username="nobody"))

    assert client.get(LIST).status_code == 403


def test_viewer_sees_no_checkboxes_or_rerate_button(viewer_client, world):
    content = viewer_client.get(LIST).content.decode()

    assert "Rerate CDRs" not in content
    assert 'name="pk"' not in content


def test_viewer_forged_rerate_post_is_403_and_changes_nothing(viewer_client, world):
    AssignmentFactory(evse=world["cdrs"]["unassigned"].evse)

    response = viewer_client.post(RERATE, {"pk": [world["cdrs"]["unassigned"].pk], "confirm": "1"})

    assert response.status_code == 403
    assert CDR.objects.get(pk=world["cdrs"]["unassigned"].pk).status == CDRStatus.NOT_INVOICEABLE


def test_manager_sees_checkboxes_and_the_rerate_button(manager_client, world):
    content = manager_client.get(LIST).content.decode()

    assert '<button type="submit" class="button">Rerate CDRs</button>' in content
    assert 'name="pk"' in content and 'name="select_all"' in content


def test_rerate_checked_cdrs_confirmation_then_rerate(manager_client, world):
    unassigned = world["cdrs"]["unassigned"]
    AssignmentFactory(evse=unassigned.evse, payout_account=world["own_account"])
    post = {"pk": [unassigned.pk], "filters": "status=not_invoiceable"}

    confirm = manager_client.post(RERATE, post)

    assert confirm.status_code == 200
    content = confirm.content.decode()
    assert "Re-rate 1 CDR?" in content
    assert "1 CDR would change status: 1 newly rated, 8.35 EUR payout" in content
    assert '<button type="submit" class="button default">Confirm</button>' in content
    assert CDR.objects.get(pk=unassigned.pk).status == CDRStatus.NOT_INVOICEABLE

    done = manager_client.post(RERATE, {**post, "confirm": "1"}, follow=True)

    assert done.redirect_chain[-1][0] == f"{LIST}?status=not_invoiceable"
    message = str(list(done.context["messages"])[0])
    assert message.startswith("Re-rated 1 CDRs: 1 changed status (1 newly rated, 8.35 EUR payout")
    assert CDR.objects.get(pk=unassigned.pk).status == CDRStatus.RATED
    assert CDRRating.objects.filter(cdr=unassigned, actor_label="manager").exists()


def test_select_all_matching_reposts_the_filter(manager_client, world):
    AssignmentFactory(evse=world["cdrs"]["unassigned"].evse, payout_account=world["own_account"])
    post = {"select_all": "on", "filters": "status=not_invoiceable"}

    confirm = manager_client.post(RERATE, post)
    assert "Re-rate 2 CDRs?" in confirm.content.decode()
    manager_client.post(RERATE, {**post, "confirm": "1"})

    statuses = dict(CDR.objects.values_list("pk", "status"))
    assert statuses[world["cdrs"]["unassigned"].pk] == CDRStatus.RATED
    assert statuses[world["cdrs"]["unknown"].pk] == CDRStatus.NOT_INVOICEABLE


def test_rerate_without_a_selection_says_what_to_do(manager_client, world):
    response = manager_client.post(RERATE, {"filters": "status=rated"}, follow=True)

    assert "Tick the CDRs first (or select all matching CDRs)" in str(
        list(response.context["messages"])[0]
    )


def test_rerate_of_only_invoiced_cdrs_changes_nothing(manager_client, world):
    invoiced = make_invoiced(world["cdrs"]["hotel"], world["hotel_account"])

    response = manager_client.post(RERATE, {"pk": [invoiced.pk], "confirm": "1"}, follow=True)

    assert "invoiced CDRs are never re-rated" in str(list(response.context["messages"])[0])
    assert CDR.objects.get(pk=invoiced.pk).status == CDRStatus.INVOICED


def test_get_on_the_rerate_url_is_not_allowed(manager_client, db):
    assert manager_client.get(RERATE).status_code == 405


def test_cdr_page_explains_why_it_is_not_invoiceable(viewer_client, world):
    cdr = world["cdrs"]["unassigned"]

    content = viewer_client.get(reverse("evse_payout:cdr_detail", args=[cdr.pk])).content.decode()

    assert "Not invoiceable: EVSE unassigned" in content
    assert (
        "EVSE BE*BEC*E300 is not assigned to a payout account — assign it, then re-rate." in content
    )
    assert reverse("evse_payout:evse_detail", args=[cdr.evse_id]) in content
    assert "Rerate CDR" not in content  # viewer


def test_cdr_page_shows_fee_breakdown_history_and_escaped_raw_json(manager_client, world):
    cdr = world["cdrs"]["hotel"]
    CDR.objects.filter(pk=cdr.pk).update(raw={"id": cdr.cdr_id, "note": "<script>x</script>"})

    response = manager_client.get(reverse("evse_payout:cdr_detail", args=[cdr.pk]))

    content = response.content.decode()
    assert "Rated: invoiceable" in content
    assert "Hotel payouts" in content
    assert "1.6500 EUR" in content and "8.3500 EUR" in content
    assert 'id="rating-history"' in content and "system" in content
    assert "&lt;script&gt;x&lt;/script&gt;" in content and "<script>x</script>" not in content
    assert "Rerate CDR" in content


def test_cdr_page_links_a_credit_and_its_original(viewer_client, world):
    original = world["cdrs"]["hotel"]
    credit = CDRFactory(
        evse=original.evse,
        credit=True,
        credit_reference_id=original.cdr_id,
        total_cost_excl_vat=Decimal("-10"),
        total_energy=Decimal("-20"),
    )
    rate_cdr(cdr=credit)

    original_page = viewer_client.get(reverse("evse_payout:cdr_detail", args=[original.pk]))
    credit_page = viewer_client.get(reverse("evse_payout:cdr_detail", args=[credit.pk]))

    assert reverse("evse_payout:cdr_detail", args=[credit.pk]) in original_page.content.decode()
    assert reverse("evse_payout:cdr_detail", args=[original.pk]) in credit_page.content.decode()
    assert "-8.35" in credit_page.content.decode()


def test_unknown_cdr_page_is_404(viewer_client, db):
    assert viewer_client.get(reverse("evse_payout:cdr_detail", args=[999999])).status_code == 404


def test_rerate_from_the_cdr_page_returns_to_it(manager_client, world):
    cdr = world["cdrs"]["unassigned"]
    AssignmentFactory(evse=cdr.evse, payout_account=world["own_account"])
    page = reverse("evse_payout:cdr_detail", args=[cdr.pk])

    confirm = manager_client.post(RERATE, {"pk": [cdr.pk], "next": page})
    assert f'name="next" value="{page}"' in confirm.content.decode()
    done = manager_client.post(RERATE, {"pk": [cdr.pk], "next": page, "confirm": "1"})

    assert done.status_code == 302 and done.url == page
    assert CDR.objects.get(pk=cdr.pk).status == CDRStatus.RATED


def test_rerate_ignores_an_unsafe_next(manager_client, world):
    cdr = world["cdrs"]["unknown"]

    done = manager_client.post(
        RERATE, {"pk": [cdr.pk], "next": "https://evil.example/", "confirm": "1"}
    )

    assert done.url == LIST


def test_select_all_without_filters_selects_every_cdr_not_invoiced(manager_client, world):
    make_invoiced(world["cdrs"]["hotel"], world["hotel_account"])

    confirm = manager_client.post(RERATE, {"select_all": "on", "filters": ""})

    assert "Re-rate 3 CDRs?" in confirm.content.decode()


def test_overview_sorts_by_amount_with_ties_newest_first(viewer_client, db):
    base = timezone.now() - timedelta(days=3)
    small = CDRFactory(total_cost_excl_vat=Decimal("5.00"), end_date_time=base)
    tie_old = CDRFactory(total_cost_excl_vat=Decimal("9.00"), end_date_time=base)
    tie_new = CDRFactory(
        total_cost_excl_vat=Decimal("9.00"), end_date_time=base + timedelta(hours=1)
    )

    ascending = viewer_client.get(LIST, {"sort": "total"}).context["table"].paginated_rows
    descending = viewer_client.get(LIST, {"sort": "-total"}).context["table"].paginated_rows

    assert [row.record.pk for row in ascending] == [small.pk, tie_new.pk, tie_old.pk]
    assert [row.record.pk for row in descending] == [tie_old.pk, tie_new.pk, small.pk]


def test_cdr_page_advice_changes_once_the_evse_is_assigned(viewer_client, world):
    cdr = world["cdrs"]["unassigned"]
    url = reverse("evse_payout:cdr_detail", args=[cdr.pk])
    assert 'id="next-step"' not in viewer_client.get(url).content.decode()

    AssignmentFactory(evse=cdr.evse, payout_account=world["own_account"])

    page = viewer_client.get(url).content.decode()
    assert "Its EVSE has been assigned to <strong>Own payouts</strong> since" in page
    assert "Re-rate this CDR to make it invoiceable." in page


def test_past_the_count_cap_the_overview_says_more_than(viewer_client, db, monkeypatch):
    monkeypatch.setattr("evse_payout.views.listing.COUNT_CAP", 30)
    CDRFactory.create_batch(31, evse=None)

    response = viewer_client.get(LIST, {"per_page": 25, "page": 99})

    page = response.content.decode()
    assert "More than 30</strong> matching CDRs" in page
    assert 'All <span class="count">(more than 30)</span>' in page
    assert len(response.context["table"].paginated_rows) == 5  # the last page the cap vouches for


def test_tabs_keep_the_other_filters(viewer_client, world):
    page = viewer_client.get(LIST, {"account": world["own_account"].pk, "page": 2}).content.decode()

    assert f'href="/cdrs/?account={world["own_account"].pk}&amp;status=rated"' in page


def test_an_htmx_filter_request_gets_only_the_listing_and_varies_on_it(viewer_client, world):
    response = viewer_client.get(LIST, {"status": "rated"}, headers={"HX-Request": "true"})

    page = response.content.decode()
    assert page.lstrip().startswith('<div id="listing">') and "<html" not in page
    assert "HX-Request" in response["Vary"]
    assert "HX-Request" in viewer_client.get(LIST)["Vary"]


def test_cdr_page_explains_the_fee_with_the_terms_stored_with_its_rating(manager_client, world):
    cdr = world["cdrs"]["hotel"]
    PayoutAccount.objects.filter(pk=cdr.payout_account_id).update(
        commission_percent=Decimal("55.00")
    )

    content = manager_client.get(reverse("evse_payout:cdr_detail", args=[cdr.pk])).content.decode()

    assert "Fee at the terms stored with this rating" in content
    assert "55" not in content.split("Fee at the terms")[1].split("</table>")[0]


def test_credit_exceeding_its_original_says_why_on_its_page(manager_client):
    from evse_payout.services.rating import rate_cdr
    from tests.factories import AssignmentFactory, CDRFactory

    assignment = AssignmentFactory()
    original = CDRFactory(evse=assignment.evse, total_cost_excl_vat=Decimal("5.00"))
    rate_cdr(cdr=original)
    credit = CDRFactory(
        evse=assignment.evse,
        credit=True,
        credit_reference_id=original.cdr_id,
        total_cost_excl_vat=Decimal("-50.00"),
        total_energy=Decimal("-20"),
    )
    rate_cdr(cdr=credit)

    content = manager_client.get(reverse("evse_payout:cdr_detail", args=[credit.pk])).content
    text = content.decode()

    assert "Not invoiceable: Credit exceeds original" in text
    assert "more than the original" in text
