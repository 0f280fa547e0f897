"""Invoice runs in headless Chromium: new run → preview → Confirm → Finalize → Download CSV."""

import csv
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from evse_payout.models import Invoice, InvoiceStatus
from tests.factories import PartnerAccountFactory as PayoutAccountFactory
from tests.factories import PartnerAssignmentFactory as AssignmentFactory
from tests.services.test_invoicing import rated_cdr

pytestmark = pytest.mark.django_db(transaction=True)


def test_new_run_preview_confirm_finalize_and_download_csv(page, login, finance_user):
    account = PayoutAccountFactory(name="Hotel Zeezicht")
    assignment = AssignmentFactory(payout_account=account)
    original = rated_cdr(assignment, excl=Decimal("1500.00"))
    rated_cdr(assignment, excl=Decimal("-100.00"), credit=True, credited_cdr=original)
    login(finance_user)

    page.goto("/invoice-runs/")
    expect(page.locator("#content-main")).to_contain_text("No invoice runs yet")
    page.get_by_role("button", name="New invoice run").click()
    page.get_by_label("Cutoff").fill("2026-03-01")
    page.get_by_role("button", name="Preview").click()

    preview = page.locator("#preview-statements")
    expect(preview).to_contain_text("Hotel Zeezicht")
    expect(preview).to_contain_text("1,400.00 EUR")
    expect(preview).to_contain_text("1,260.00 EUR")
    page.get_by_role("button", name="Confirm").click()

    expect(page.locator("#job-summary")).to_contain_text("drafted 1 statements with 2 CDRs")
    page.get_by_role("link", name=re.compile("Open invoice run")).click()
    expect(page).to_have_url(re.compile(r"/invoice-runs/\d+/$"))
    page.get_by_role("link", name="Draft — Hotel Zeezicht").click()

    expect(
        page.get_by_role("heading", name=re.compile("Self-billing payout statement"))
    ).to_be_visible()
    expect(page.locator("#result_list")).to_contain_text("-100.0000 EUR")
    page.get_by_role("button", name="Finalize").click()
    expect(page.locator("#finalize-summary")).to_contain_text(
        "Finalizing gives 1 draft statement (2 CDRs; net payout 1,260.00 EUR)"
    )
    assert Invoice.objects.get().status == InvoiceStatus.DRAFT
    page.get_by_role("button", name="Confirm").click()

    statement = Invoice.objects.get()
    assert statement.status == InvoiceStatus.FINAL
    expect(page.locator(".messagelist")).to_contain_text(statement.number)
    expect(page.get_by_role("button", name="Finalize")).to_have_count(0)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value

    assert download.suggested_filename == f"{statement.number}.csv"
    with open(download.path(), encoding="utf-8", newline="") as downloaded:
        rows = list(csv.reader(downloaded))
    assert len(rows) == 3
    assert {row[0] for row in rows[1:]} == {statement.number}
    assert sorted(row[12] for row in rows[1:]) == ["-90.0000", "1350.0000"]


def test_deactivating_an_account_with_pending_cdrs_offers_to_settle_it_first(
    page, login, finance_user
):
    finance_user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="evse_payout",
            codename__in=["view_payoutaccount", "change_payoutaccount"],
        )
    )
    account = PayoutAccountFactory(name="Hotel Zeezicht")
    assignment = AssignmentFactory(payout_account=account)
    rated_cdr(assignment, excl=Decimal("100.00"))
    rated_cdr(assignment, excl=Decimal("23.45"))
    login(finance_user)

    page.goto(f"/accounts/{account.pk}/")
    page.get_by_role("link", name="Deactivate").click()

    # payouts 90.0000 + 21.1050 = 111.105 → 111.11
    expect(page.locator("#unsettled")).to_contain_text(
        "2 rated CDRs not yet invoiced, 111.11 EUR payout"
    )
    page.get_by_role("button", name="Settle account").click()

    expect(page.locator(".messagelist")).to_contain_text("Finalize it, then deactivate")
    expect(page).to_have_url(re.compile(r"/invoice-runs/\d+/$"))
    statement = Invoice.objects.get()
    assert statement.payout_account == account
    assert statement.cdr_count == 2
    expect(page.locator("#result_list")).to_contain_text("Hotel Zeezicht")
