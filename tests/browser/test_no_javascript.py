"""One full flow with JavaScript disabled: every step is a plain link or form (htmx and app.js are
enhancements only). Assign two EVSEs, follow the message to their CDRs, re-rate them, run
invoicing, confirm Finalize."""

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from evse_payout.models import CDR, CDRStatus, Invoice, InvoiceStatus
from evse_payout.services.rating import rerate_cdrs
from tests.factories import (
    CDRFactory,
    EVSEFactory,
    LocationFactory,
    PayoutAccountFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def page_without_js(chromium, live_server):
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1440, "height": 900}, java_script_enabled=False
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def back_office_user():
    user = UserFactory(username="all")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="evse_payout"))
    return user


def test_assign_rerate_invoice_and_finalize_without_javascript(page_without_js, back_office_user):
    page = page_without_js
    PayoutAccountFactory(name="Own main", holder=None, commission_percent=Decimal("10"))
    site = LocationFactory(owner=None, city="Gent")
    chargers = [EVSEFactory(evse_id=f"BE*BEC*E000{n}", location=site) for n in (1, 2)]
    for charger in chargers:
        CDRFactory(evse=charger, total_cost_excl_vat=Decimal("100.00"))
    rerate_cdrs(cdrs=CDR.objects.all())

    page.goto("/login/")
    page.fill("#id_username", back_office_user.username)
    page.fill("#id_password", "secret-password")
    page.click("input[type=submit]")
    page.goto("/assignment/")
    expect(page.get_by_label("Select all 2 matching EVSEs")).to_be_visible()  # no JS: always shown
    page.get_by_label("City").fill("Gent")
    page.get_by_role("button", name="Filter").click()
    page.get_by_label("Select BE*BEC*E0001").check()
    page.get_by_label("Select BE*BEC*E0002").check()
    page.get_by_role("button", name="Assign EVSEs").click()
    expect(page.get_by_label("Own main")).to_be_checked()  # the only fitting account
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator(".messagelist")).to_contain_text("2 EVSEs assigned to Own main")

    page.get_by_role("link", name="Re-rate them in the CDR overview").click()
    expect(page.locator("#results-count")).to_have_text("2 matching CDRs")
    page.get_by_label("Select all 2 CDRs matching the filters").check()
    page.get_by_role("button", name="Rerate CDRs").click()
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator(".messagelist")).to_contain_text("Re-rated 2 CDRs")
    assert set(CDR.objects.values_list("status", flat=True)) == {CDRStatus.RATED}

    page.goto("/invoice-runs/new/")
    page.get_by_role("button", name="Preview").click()
    page.get_by_role("button", name="Confirm").click()
    # The run is a background job: its page (a refresh without JavaScript) links to the run.
    expect(page).to_have_url(re.compile(r"/jobs/\d+/$"))
    page.get_by_role("link", name=re.compile(r"Open invoice run \d+")).click()
    expect(page).to_have_url(re.compile(r"/invoice-runs/\d+/$"))
    page.get_by_role("button", name="Finalize all drafts").click()
    # The CPO's own account gets an internal revenue report (issue 12), closed without a number.
    expect(page.locator("#finalize-reports")).to_contain_text(
        "Finalizing closes 1 internal revenue report"
    )
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator(".messagelist")).to_contain_text("1 internal revenue report finalized")
    assert Invoice.objects.get().status == InvoiceStatus.FINAL
