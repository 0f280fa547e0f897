"""The Payout EVSE assignment page in headless Chromium: filter, pick, confirm, unassign."""

import re

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from evse_payout.models import Assignment, PowerType
from tests.factories import EVSEFactory, LocationFactory, PayoutAccountFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def payout_manager():
    # Transactional tests flush the groups of the data migration, so grant the permissions directly.
    user = UserFactory(username="pm")
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="evse_payout",
            codename__in=["view_evse", "view_assignment", "view_payoutaccount", "add_assignment"],
        )
    )
    return user


def own_evse(evse_id, *, city, power_type):
    return EVSEFactory(
        evse_id=evse_id,
        power_type=power_type,
        location=LocationFactory(owner=None, city=city),
    )


def test_filter_assign_two_then_unassign_one(page, login, payout_manager):
    PayoutAccountFactory(name="Own main", holder=None)
    own_evse("BE*BEC*E0001", city="Gent", power_type=PowerType.DC)
    own_evse("BE*BEC*E0002", city="Gent", power_type=PowerType.DC)
    own_evse("BE*BEC*E0003", city="Gent", power_type=PowerType.AC_3_PHASE)
    own_evse("BE*BEC*E0004", city="Brugge", power_type=PowerType.DC)
    login(payout_manager)

    page.goto("/assignment/")
    page.get_by_label("City").fill("Gent")
    page.get_by_label("DC", exact=True).check()
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(".results-count")).to_have_text("2 matching EVSEs")
    expect(page).to_have_url(re.compile(r"city=Gent"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    for row in range(2):
        rows.nth(row).get_by_role("checkbox").check()
    page.get_by_role("button", name="Assign EVSEs").click()

    expect(page.get_by_role("heading", name="Select a payout account")).to_be_visible()
    page.get_by_label("Own main").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#content-main")).to_contain_text("Own main")
    expect(page.locator(".evse-list li")).to_have_count(2)
    page.get_by_role("button", name="Confirm").click()

    expect(page.locator(".messagelist")).to_contain_text("2 EVSEs assigned to Own main")
    expect(page).to_have_url(re.compile(r"/assignment/\?.*city=Gent"))
    expect(page.locator(".results-count")).to_have_text("0 matching EVSEs")

    page.get_by_role("link", name="Assigned EVSEs (2)", exact=True).click()
    page.get_by_role("link", name="Own main (2)").click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    rows.filter(has_text="BE*BEC*E0002").get_by_role("checkbox").check()
    page.get_by_role("button", name="Unassign EVSEs").click()
    expect(page.locator(".evse-list")).to_contain_text("BE*BEC*E0002")
    page.get_by_role("button", name="Confirm").click()

    expect(page.locator(".messagelist")).to_contain_text("1 EVSE unassigned from Own main")
    expect(page.get_by_role("link", name="Own main (1)")).to_be_visible()
    assert list(Assignment.objects.open().values_list("evse__evse_id", flat=True)) == [
        "BE*BEC*E0001"
    ]


def test_select_all_matching_assigns_across_pages(page, login, payout_manager):
    PayoutAccountFactory(name="Own main", holder=None)
    for n in range(30):
        own_evse(f"BE*BEC*E1{n:03d}", city="Antwerpen", power_type=PowerType.AC_3_PHASE)
    own_evse("BE*BEC*E2000", city="Brugge", power_type=PowerType.AC_3_PHASE)
    login(payout_manager)

    page.goto("/assignment/?city=Antwerpen&per_page=25")
    expect(page.locator("#result_list tbody tr")).to_have_count(25)
    select_across = page.get_by_label("Select all 30 matching EVSEs")
    expect(select_across).to_be_hidden()
    page.get_by_label("Select all EVSEs on this page").check()
    select_across.check()
    page.get_by_role("button", name="Assign EVSEs").click()
    page.get_by_label("Own main").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#content-main")).to_contain_text("Assign 30 EVSEs")
    page.get_by_role("button", name="Confirm").click()

    expect(page.locator(".messagelist")).to_contain_text("30 EVSEs assigned to Own main")
    assert Assignment.objects.open().count() == 30
    assert not Assignment.objects.filter(evse__location__city="Brugge").exists()
