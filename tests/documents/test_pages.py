"""The statement page's documents, their downloads, the run's SEPA file, and "Cancel with credit
note" through real HTTP (the run's ZIP: test_bundle.py)."""

from decimal import Decimal

import pytest
from django.urls import reverse

from evse_payout.models import (
    CDR,
    AuditAction,
    AuditEvent,
    CDRStatus,
    Document,
    DocumentKind,
    Invoice,
    InvoiceStatus,
)
from evse_payout.services.documents import issue_statement_documents
from tests.documents.helpers import ISSUED_ON, add_lines, payee, statement

pytestmark = pytest.mark.django_db


@pytest.fixture
def final_statement():
    invoice = statement(payee("de_registered"), excl="20.00", fees="2.00")
    add_lines(invoice, 2, excl=lambda i: Decimal("10.0000"), fee=lambda i: Decimal("1.0000"))
    issue_statement_documents(invoice=invoice, actor=None, issued_on=ISSUED_ON)
    return invoice


def detail(invoice):
    return reverse("evse_payout:invoice_detail", args=[invoice.pk])


def test_statement_page_shows_both_documents_with_vat_in_words_and_downloads(
    viewer_client, final_statement
):
    page = viewer_client.get(detail(final_statement)).content.decode()
    assert "Self-billed invoice SB-2026-000001" in page
    assert "Fee invoice FE-2026-000001" in page
    assert "VAT: EU reverse charge: no VAT charged, the customer accounts for it." in page
    assert "Reverse charge: VAT to be accounted for by the customer" in page
    assert (
        "Self-billed invoice total less fee invoice total = <strong>18.00 EUR</strong>. "
        "Paid as one credit transfer." in page
    )
    for document in final_statement.documents.all():
        assert reverse("evse_payout:document_pdf", args=[document.pk]) in page
        assert reverse("evse_payout:document_ubl", args=[document.pk]) in page
    assert "Cancel with credit note" not in page  # viewers change nothing


def test_pdf_and_ubl_downloads(viewer_client, final_statement):
    self_billed = final_statement.documents.get(kind=DocumentKind.SELF_BILLED_INVOICE)
    pdf = viewer_client.get(reverse("evse_payout:document_pdf", args=[self_billed.pk]))
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"] == 'attachment; filename="SB-2026-000001.pdf"'
    assert pdf.content.startswith(b"%PDF-")
    ubl = viewer_client.get(reverse("evse_payout:document_ubl", args=[self_billed.pk]))
    assert ubl["Content-Disposition"] == 'attachment; filename="SB-2026-000001.xml"'
    assert b"<cbc:InvoiceTypeCode>389</cbc:InvoiceTypeCode>" in ubl.content


def test_run_sepa_09_download(finance_client, final_statement):
    response = finance_client.get(
        reverse("evse_payout:invoice_run_sepa", args=[final_statement.run_id])
    )
    assert response["Content-Type"] == "application/xml"
    assert b"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09" in response.content
    assert b'<InstdAmt Ccy="EUR">18.00</InstdAmt>' in response.content


def test_cancel_confirmation_shows_the_amounts_then_cancels(finance_client, final_statement):
    url = reverse("evse_payout:invoice_cancel", args=[final_statement.pk])
    page = finance_client.get(url).content.decode()
    assert "cannot be undone" in page
    assert "Self-billed invoice SB-2026-000001" in page and "-20.00 EUR" in page
    assert "Fee invoice FE-2026-000001" in page and "-2.00 EUR" in page
    assert '<button type="submit" class="button default">Confirm</button>' in page

    response = finance_client.post(url, {"reason": "wrong period"}, follow=True)
    assert (
        "Statement PS-2026-" in response.content.decode()
        and "is cancelled by credit notes SBC-2026-000001, FEC-2026-000001; 2 CDRs are rated again"
        in response.content.decode()
    )
    assert set(CDR.objects.values_list("status", flat=True)) == {CDRStatus.RATED}
    assert AuditEvent.objects.get(action=AuditAction.INVOICE_CANCEL).actor_label == "finance"
    page = response.content.decode()
    assert "Cancelled with credit notes" in page
    assert "Cancel with credit note…" not in page


def test_only_finance_cancels(viewer_client, manager_client, final_statement):
    url = reverse("evse_payout:invoice_cancel", args=[final_statement.pk])
    assert viewer_client.get(url).status_code == 403
    assert manager_client.post(url).status_code == 403
    assert not final_statement.documents.filter(corrects__isnull=False).exists()


def test_a_partial_page_of_lines_is_not_printed_under_the_totals(viewer_client):
    invoice = statement(payee("be_registered"), excl="30.00", fees="3.00")
    add_lines(invoice, 30, excl=lambda i: Decimal("1.0000"), fee=lambda i: Decimal("0.1000"))
    issue_statement_documents(invoice=invoice, actor=None, issued_on=ISSUED_ON)
    page = viewer_client.get(detail(invoice)).content.decode()
    assert 'class="module statement-lines partial"' in page
    assert "Lines 1–25 of 30 shown." in page
    assert "The 30 lines are not printed from this page: print the PDF" in page


def test_a_cancelled_statement_points_to_its_kept_lines(finance_client, final_statement):
    finance_client.post(reverse("evse_payout:invoice_cancel", args=[final_statement.pk]))
    page = finance_client.get(detail(final_statement)).content.decode()
    assert "This statement is cancelled: its CDRs are rated again for the next run." in page
    csv_text = b"".join(
        finance_client.get(reverse("evse_payout:invoice_csv", args=[final_statement.pk]))
    ).decode()
    assert csv_text.count("\n") == 3  # header and the two kept lines


def test_finalizing_without_agreement_or_address_is_refused_listing_what_is_missing(
    finance_client,
):
    ready = payee("nl_registered", name="Klaar BV")
    unready = payee("be_registered", name="Hotel Zonder Akkoord", street="", agreement_reference="")
    first = statement(ready, status=InvoiceStatus.DRAFT, number=None)
    second = statement(unready, status=InvoiceStatus.DRAFT, number=None)
    second.run = first.run
    second.save(update_fields=["run"])

    response = finance_client.post(
        reverse("evse_payout:invoice_run_finalize", args=[first.run_id]), follow=True
    )

    page = response.content.decode()
    assert (
        "Nothing was finalized: a self-billed invoice needs the Sub-CPO's master data (address, VAT"
        in page
    )
    link = reverse("admin:evse_payout_subcpo_change", args=[unready.pk])
    assert (
        f'<a href="{link}">Hotel Zonder Akkoord</a>: missing or invalid address: no street; '
        "self-billing agreement: no reference or no date signed" in page
    )
    assert "Klaar BV</a>" not in page
    assert not Document.objects.exists()
    assert set(Invoice.objects.values_list("status", flat=True)) == {InvoiceStatus.DRAFT}
