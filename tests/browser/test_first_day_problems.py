"""Issue 15's ten first-day problems, each tried in headless Chromium as a new user would."""

import re

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from evse_payout.models import CDR, CDRStatus
from evse_payout.services.rating import rerate_cdrs
from tests.factories import (
    AssignmentFactory,
    CDRFactory,
    EVSEFactory,
    LocationFactory,
    SubCPOFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)

PAYOUT_MANAGER_PERMISSIONS = [
    "view_evse",
    "view_assignment",
    "view_payoutaccount",
    "add_assignment",
    "view_cdr",
    "change_cdr",
]


@pytest.fixture
def payout_manager():
    # Transactional tests flush the groups of the data migration, so grant the permissions directly.
    user = UserFactory(username="pm")
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="evse_payout", codename__in=PAYOUT_MANAGER_PERMISSIONS
        )
    )
    return user


def test_not_invoiceable_tab_shows_only_not_invoiceable_cdrs(page, login, payout_manager):
    unassigned = EVSEFactory(evse_id="BE*BEC*E0001")
    assigned = AssignmentFactory(evse=EVSEFactory(evse_id="BE*BEC*E0002")).evse
    CDRFactory.create_batch(2, evse=unassigned)
    CDRFactory.create_batch(3, evse=assigned)
    rerate_cdrs(cdrs=CDR.objects.all())
    login(payout_manager)

    page.goto("/cdrs/")
    expect(page.locator("#results-count")).to_have_text("5 matching CDRs")
    page.get_by_role("link", name="Not invoiceable (2)").click()

    expect(page).to_have_url(re.compile(r"status=not_invoiceable"))
    expect(page.locator("#results-count")).to_have_text("2 matching CDRs")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="Not invoiceable")).to_have_count(2)
    page.get_by_role("link", name="Rated (3)").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    expect(page.get_by_role("link", name="Rated (3)")).to_have_attribute("aria-current", "page")


def test_rerate_from_the_cdr_page_succeeds_for_a_large_id(page, login, payout_manager):
    evse = EVSEFactory(evse_id="BE*BEC*E0001")
    cdr = CDRFactory(pk=12345, evse=evse)  # "12,345" once localized: the bug of problem 2
    rerate_cdrs(cdrs=CDR.objects.all())
    AssignmentFactory(evse=evse)
    login(payout_manager)

    page.goto(f"/cdrs/{cdr.pk}/")
    page.get_by_role("button", name="Rerate CDR").click()
    expect(page.get_by_role("heading", name="Re-rate 1 CDR?")).to_be_visible()
    page.get_by_role("button", name="Confirm").click()

    expect(page.locator(".messagelist")).to_contain_text("Re-rated 1 CDR")
    expect(page).to_have_url(re.compile(rf"/cdrs/{cdr.pk}/$"))
    assert CDR.objects.get(pk=cdr.pk).status == CDRStatus.RATED


def test_selection_counter_and_owner_check_before_leaving_the_page(page, login, payout_manager):
    hotel = LocationFactory(owner=SubCPOFactory(name="Hotel Zeezicht"))
    EVSEFactory(evse_id="BE*BEC*E0001", location=hotel)
    EVSEFactory(evse_id="BE*BEC*E0002", location=hotel)
    EVSEFactory(evse_id="BE*BEC*E0003", location=LocationFactory(owner=None))
    login(payout_manager)

    page.goto("/assignment/")
    counter = page.locator(".selection-count")
    expect(counter).to_have_text("0 selected: tick the EVSEs first")
    page.get_by_label("Select BE*BEC*E0001").check()
    expect(counter).to_have_text("1 EVSE selected")
    page.get_by_label("Select BE*BEC*E0003").check()
    expect(counter).to_have_text("2 EVSEs selected")
    page.get_by_role("button", name="Assign EVSEs").click()

    expect(page.get_by_role("alert")).to_have_text(
        "The selected EVSEs belong to different owners (CPO (own), Hotel Zeezicht). "
        "Select EVSEs of one owner at a time."
    )
    expect(page).to_have_url(re.compile(r"/assignment/$"))  # refused before leaving the page
    page.get_by_label("Select BE*BEC*E0003").uncheck()
    page.get_by_label("Select BE*BEC*E0002").check()
    page.get_by_role("button", name="Assign EVSEs").click()
    expect(page.get_by_role("heading", name="Select a payout account")).to_be_visible()


@pytest.fixture
def manager_with_finance():
    user = UserFactory(username="pmf")
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="evse_payout",
            codename__in=[*PAYOUT_MANAGER_PERMISSIONS, "add_payoutaccount", "change_payoutaccount"],
        )
    )
    return user


def test_create_account_mid_assign_returns_to_the_selection(page, login, manager_with_finance):
    hotel = LocationFactory(owner=SubCPOFactory(name="Hotel Zeezicht"))
    EVSEFactory(evse_id="BE*BEC*E0001", location=hotel)
    EVSEFactory(evse_id="BE*BEC*E0002", location=hotel)
    login(manager_with_finance)

    page.goto("/assignment/")
    page.get_by_label("Select BE*BEC*E0001").check()
    page.get_by_label("Select BE*BEC*E0002").check()
    page.get_by_role("button", name="Assign EVSEs").click()
    expect(page.locator("#content-main")).to_contain_text(
        "No active payout account belongs to Hotel Zeezicht"
    )
    page.get_by_role("link", name="Create payout account").click()
    page.locator("#id_name").fill("Hotel payouts")
    page.get_by_label("IBAN").fill("BE68 5390 0754 7034")
    page.get_by_role("button", name="Create payout account").click()

    expect(page.locator(".messagelist")).to_contain_text("Payout account “Hotel payouts” created.")
    expect(page.get_by_role("heading", name="Select a payout account")).to_be_visible()
    expect(page.locator(".evse-list li")).to_have_count(2)
    expect(page.get_by_label("Hotel payouts")).to_be_checked()
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator(".messagelist")).to_contain_text("2 EVSEs assigned to Hotel payouts")


def test_cdr_overview_offers_the_last_page(page, login, payout_manager):
    CDRFactory.create_batch(60, evse=None)
    login(payout_manager)

    page.goto("/cdrs/?per_page=25")
    expect(page.locator("#results-count")).to_have_text("60 matching CDRs")
    page.get_by_role("link", name="3", exact=True).click()
    expect(page.locator("#result_list tbody tr")).to_have_count(10)
    page.goto("/cdrs/?per_page=25&page=99")  # out of range: the last page, not an error
    expect(page.locator("#result_list tbody tr")).to_have_count(10)
