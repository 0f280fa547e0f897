"""Every page of the URL walk in headless Chromium: 0 critical/serious axe violations, no sideways
page scroll at 1440 px, the table scrolling in its own box at 390 px, and screenshots of the main
pages at both widths under tests/browser/screenshots/ (ignored by git) for a reviewer."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from evse_payout.models import CDR, Invoice
from evse_payout.services.invoicing import run_invoicing
from evse_payout.services.rating import rerate_cdrs
from tests.factories import (
    AssignmentFactory,
    CDRFactory,
    EVSEFactory,
    LocationFactory,
    PayoutAccountFactory,
    SubCPOFactory,
    UserFactory,
)
from tests.services.test_invoicing import rated_cdr

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = Path(__file__).parent / "screenshots"
WIDE, PHONE = {"width": 1440, "height": 900}, {"width": 390, "height": 844}
LIST_PAGES = ("unassigned", "assigned", "cdrs", "runs", "accounts", "statement")


@pytest.fixture
def network():
    """A small network with every kind of record a page shows; returns the walk's URLs by name."""
    hotel = SubCPOFactory(name="Hotel Zeezicht")
    hotel_site = LocationFactory(owner=hotel, city="Oostende", address="Zeedijk 1")
    own_site = LocationFactory(owner=None, city="Gent", address="Kouter 1")
    account = PayoutAccountFactory(name="Hotel Zeezicht payouts", holder=hotel)
    PayoutAccountFactory(name="Own main", holder=None)
    assigned = AssignmentFactory(
        evse=EVSEFactory(evse_id="BE*BEC*E0001", location=hotel_site), payout_account=account
    )
    unassigned = EVSEFactory(evse_id="BE*BEC*E0002", location=own_site)
    EVSEFactory.create_batch(30, location=own_site)
    for _ in range(3):
        rated_cdr(assigned, excl=Decimal("1234.50"))
    waiting = CDRFactory(evse=unassigned)
    rerate_cdrs(cdrs=CDR.objects.filter(pk=waiting.pk))
    run = run_invoicing(cutoff=date(2026, 3, 1))
    invoice = Invoice.objects.get(run_id=run.run_id)
    return {
        "home": "/",
        "unassigned": "/assignment/",
        "assigned": f"/assignment/assigned/?account={account.pk}",
        "picker": f"/assignment/assign/?evse={unassigned.pk}&filters=",
        "cdrs": "/cdrs/",
        "cdr": f"/cdrs/{waiting.pk}/",
        "evse": f"/evses/{unassigned.pk}/",
        "runs": "/invoice-runs/",
        "new_run": "/invoice-runs/new/",
        "run": f"/invoice-runs/{run.run_id}/",
        "statement": f"/statements/{invoice.pk}/",
        "finalize": f"/invoice-runs/{run.run_id}/finalize/",
        "discard": f"/statements/{invoice.pk}/discard/",
        "accounts": "/accounts/",
        "account_new": "/accounts/new/",
        "account": f"/accounts/{account.pk}/",
        "deactivate": f"/accounts/{account.pk}/deactivate/",
        "admin": "/admin/",
        "admin_evses": "/admin/evse_payout/evse/",
    }


@pytest.fixture
def staff(page, login):
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    return login(user)


def serious_violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {len(violation['nodes'])} node(s), e.g. "
        f"{violation['nodes'][0]['target']}"
        for violation in results.response["violations"]
        if violation["impact"] in ("critical", "serious")
    ]


def page_scrolls_sideways(page) -> bool:
    return page.evaluate(
        "document.documentElement.scrollWidth > document.documentElement.clientWidth + 1"
    )


def test_login_page_has_no_serious_axe_violations(page):
    page.set_viewport_size(WIDE)
    page.goto("/login/")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Log in to the EVSE payout back office"
    )
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "login-1440.png", full_page=True)
    assert serious_violations(page) == []


def test_every_page_at_1440_is_accessible_and_never_scrolls_sideways(page, staff, network):
    page.set_viewport_size(WIDE)
    SCREENSHOTS.mkdir(exist_ok=True)
    problems = {}
    for name, url in network.items():
        response = page.goto(url)
        assert response.status == 200, f"{name}: {url} answered {response.status}"
        found = serious_violations(page)
        if page_scrolls_sideways(page):
            found.append("the page scrolls sideways")
        if found:
            problems[name] = found
        page.screenshot(path=SCREENSHOTS / f"{name}-1440.png", full_page=True)
    assert problems == {}


def test_every_page_at_390_scrolls_tables_in_their_own_box_not_the_page(page, staff, network):
    page.set_viewport_size(PHONE)
    SCREENSHOTS.mkdir(exist_ok=True)
    problems = {}
    for name, url in network.items():
        page.goto(url)
        found = serious_violations(page)
        if page_scrolls_sideways(page):
            found.append("the page scrolls sideways")
        sticky = page.evaluate(
            "(c => c ? getComputedStyle(c).position : 'missing')"
            "(document.querySelector('#result_list tbody td'))"
        )
        if name in LIST_PAGES and sticky != "sticky":
            found.append(f"first column is {sticky}, not sticky")
        if found:
            problems[name] = found
        page.screenshot(path=SCREENSHOTS / f"{name}-390.png", full_page=True)
    assert problems == {}


def test_filters_fold_behind_a_button_on_a_phone(page, staff, network):
    page.set_viewport_size(PHONE)
    page.goto(network["unassigned"])
    expect(page.get_by_label("City")).to_be_hidden()
    page.get_by_text("Filters", exact=True).click()
    expect(page.get_by_label("City")).to_be_visible()


def test_skip_link_reaches_the_table_in_few_tab_presses(page, staff, network):
    page.set_viewport_size(WIDE)
    page.goto(network["unassigned"])
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Skip to results":
            break
    else:
        pytest.fail("no 'Skip to results' link within 5 Tab presses")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("!!document.activeElement.closest('#results')")
