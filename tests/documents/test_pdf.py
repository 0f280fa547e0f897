"""Each document as PDF: every line of a 1,000-line statement, the totals, "Page X of Y"."""

import io
import re
from decimal import Decimal

import pytest
from pypdf import PdfReader

from evse_payout.renderers.pdf import render_document_pdf
from evse_payout.services.documents import credit_statement_documents, issue_statement_documents
from tests.documents.helpers import ISSUED_ON, add_lines, payee, statement

pytestmark = pytest.mark.django_db


def pdf_pages(content: bytes) -> list[str]:
    assert content.startswith(b"%PDF-")
    return [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]


@pytest.fixture(scope="module")
def thousand_line_pdfs(django_db_setup, django_db_blocker):
    """One 1,000-line statement of a Belgian registered payee, its documents rendered once."""
    with django_db_blocker.unblock():
        from django.db import transaction

        with transaction.atomic():
            # Line i: 10 + i/10,000 collected excl. VAT, fee 1.2345. Σ = 10,050.05 and 1,234.50.
            invoice = statement(payee("be_registered"), excl="10050.05", fees="1234.50")
            add_lines(
                invoice,
                1000,
                excl=lambda i: Decimal(10) + Decimal(i) / 10000,
                fee=lambda i: Decimal("1.2345"),
            )
            documents = issue_statement_documents(invoice=invoice, actor=None, issued_on=ISSUED_ON)
            rendered = {
                "self_billed": pdf_pages(render_document_pdf(documents.self_billed)),
                "fee": pdf_pages(render_document_pdf(documents.fee)),
            }
            transaction.set_rollback(True)
    return rendered


def test_self_billed_pdf_lists_every_line_of_a_1000_line_statement(thousand_line_pdfs):
    text = "\n".join(thousand_line_pdfs["self_billed"])
    cdr_ids = re.findall(r"STMT\d+-(\d{5})", text)
    assert sorted(int(number) for number in cdr_ids) == list(range(1, 1001))
    assert "10.0001" in text and "10.1000" in text  # first and last line, unrounded


def test_self_billed_pdf_shows_the_totals_and_the_amount_paid(thousand_line_pdfs):
    text = "\n".join(thousand_line_pdfs["self_billed"])
    assert "Self-billed invoice SB-2026-000001" in text
    assert "Self-billing." in text and "SBA-2025-017" in text
    assert "10,050.05 EUR" in text  # total excl. VAT
    assert "2,110.51 EUR" in text  # 21 % VAT of 10,050.05 = 2,110.5105
    assert "12,160.56 EUR" in text  # total incl. VAT
    assert "1,493.75 EUR" in text  # fee invoice: 1,234.50 + 259.25
    assert "10,666.81 EUR" in text  # paid: 12,160.56 − 1,493.75


def test_every_page_repeats_the_header_and_says_page_x_of_y(thousand_line_pdfs):
    pages = thousand_line_pdfs["self_billed"]
    assert len(pages) > 10
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page
        assert "Self-billed invoice SB-2026-000001" in page
        assert "CDR" in page and "EVSE ID" in page  # the lines' column header


def test_fee_invoice_pdf_lists_the_fee_of_every_line(thousand_line_pdfs):
    text = "\n".join(thousand_line_pdfs["fee"])
    assert "Invoice FE-2026-000001" in text
    assert text.count("1.2345") == 1000
    assert "1,234.50 EUR" in text and "259.25 EUR" in text and "1,493.75 EUR" in text


def test_credit_note_pdf_names_what_it_reverses():
    invoice = statement(payee("nl_registered"), excl="20.00", fees="2.45")
    add_lines(invoice, 1, excl=lambda i: Decimal("20.0000"), fee=lambda i: Decimal("2.4500"))
    issue_statement_documents(invoice=invoice, actor=None, issued_on=ISSUED_ON)
    note = credit_statement_documents(invoice=invoice, actor=None, issued_on=ISSUED_ON)[0]
    text = "\n".join(pdf_pages(render_document_pdf(note)))
    assert "Self-billed credit note SBC-2026-000001" in text
    assert "Reverses SB-2026-000001" in text
    assert "-20.00 EUR" in text and "-20.0000" in text
    assert "Reverse charge: VAT to be accounted for by the customer" in text
