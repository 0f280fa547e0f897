"""Self-billing documents in headless Chromium: finalize a run, open a statement, download its
PDF and UBL, cancel it with a credit note."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from evse_payout.models import CDR, CDRStatus, Document, Invoice
from tests.factories import PartnerAccountFactory, PartnerAssignmentFactory
from tests.services.test_invoicing import rated_cdr

pytestmark = pytest.mark.django_db(transaction=True)


def test_finalize_open_download_pdf_and_ubl_then_cancel_with_credit_note(page, login, finance_user):
    account = PartnerAccountFactory(name="Hotel Zeezicht")
    assignment = PartnerAssignmentFactory(payout_account=account)
    original = rated_cdr(assignment, excl=Decimal("1500.00"))
    rated_cdr(assignment, excl=Decimal("-100.00"), credit=True, credited_cdr=original)
    login(finance_user)

    page.goto("/invoice-runs/new/")
    page.get_by_label(re.compile("Cutoff")).fill("2026-03-01")
    page.get_by_role("button", name="Preview").click()
    page.get_by_role("button", name="Confirm").click()
    # The run is a background job; its page links to the run, which asks before finalizing.
    page.get_by_role("link", name=re.compile(r"Open invoice run \d+")).click()
    page.get_by_role("button", name="Finalize all drafts").click()
    expect(page.locator("#finalize-summary")).to_contain_text("Finalizing gives 1 draft statement")
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator(".messagelist")).to_contain_text("Finalized")

    statement = Invoice.objects.get(payout_account=account)
    page.get_by_role("link", name=statement.number).click()
    # Collected 1,400.00, fees 140.00 (10 %); a Belgian registered payee: 21 % on both.
    self_billed = page.locator(".statement-document", has_text="Self-billed invoice SB-")
    fee = page.locator(".statement-document", has_text="Fee invoice FE-")
    expect(self_billed).to_contain_text("1,400.00 EUR")
    expect(self_billed).to_contain_text("294.00 EUR")
    expect(self_billed).to_contain_text("1,694.00 EUR")
    expect(self_billed).to_contain_text("VAT: Belgium VAT at 21 %")
    expect(fee).to_contain_text("140.00 EUR")
    expect(fee).to_contain_text("169.40 EUR")
    expect(page.locator("#amount-paid")).to_contain_text("1,524.60 EUR")

    with page.expect_download() as pdf_download:
        self_billed.get_by_role("link", name="Download PDF").click()
    assert re.fullmatch(r"SB-\d{4}-000001\.pdf", pdf_download.value.suggested_filename)
    with open(pdf_download.value.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"
    with page.expect_download() as ubl_download:
        self_billed.get_by_role("link", name="Download UBL").click()
    with open(ubl_download.value.path(), "rb") as ubl:
        assert b"<cbc:InvoiceTypeCode>389</cbc:InvoiceTypeCode>" in ubl.read()

    page.get_by_role("link", name="Cancel with credit note…").click()
    preview = page.locator("#credit-notes-preview")
    expect(preview).to_contain_text("-1,694.00 EUR")
    expect(preview).to_contain_text("-169.40 EUR")
    page.get_by_role("button", name="Confirm").click()

    expect(page.locator(".messagelist")).to_contain_text("is cancelled by credit notes SBC-")
    expect(page.locator("#credit-notes")).to_contain_text("reverses SB-")
    assert Document.objects.filter(invoice=statement, corrects__isnull=False).count() == 2
    assert set(CDR.objects.values_list("status", flat=True)) == {CDRStatus.RATED}
