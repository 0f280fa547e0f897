"""A document as PDF: the HTML template `evse_payout/documents/document.html` through WeasyPrint.

Every line of the statement is printed (lines at the CDR's precision, totals rounded once), with
the document's header repeated on each page and "Page X of Y" in the footer.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.formats import number_format

from ..models import Document, DocumentKind
from ..money import minor_unit
from ..services.payout_files import statement_lines

LINE_PLACES = 4  # CDR amounts are stored to 4 decimals; lines show them unrounded.
TITLES = {
    DocumentKind.SELF_BILLED_INVOICE: "Self-billed invoice",
    DocumentKind.FEE_INVOICE: "Invoice",
    DocumentKind.SELF_BILLED_CREDIT_NOTE: "Self-billed credit note",
    DocumentKind.FEE_CREDIT_NOTE: "Credit note",
}
LINE_AMOUNT_LABELS = {
    DocumentKind.SELF_BILLED_INVOICE: "Charging service excl. VAT",
    DocumentKind.FEE_INVOICE: "Fee excl. VAT",
    DocumentKind.SELF_BILLED_CREDIT_NOTE: "Credited charging service excl. VAT",
    DocumentKind.FEE_CREDIT_NOTE: "Credited fee excl. VAT",
}


@dataclass(frozen=True)
class PdfLine:
    number: int
    ended: datetime
    cdr_id: str
    evse_id: str
    energy: str
    amount: str


def document_lines(document: Document) -> list[PdfLine]:
    """The statement's lines with this document's amount per line (credit notes: negated)."""
    takes_fee = document.kind in (DocumentKind.FEE_INVOICE, DocumentKind.FEE_CREDIT_NOTE)
    sign = -1 if document.is_credit_note else 1
    lines = []
    rows = statement_lines(document.invoice).iterator(chunk_size=2000)
    for number, row in enumerate(rows, start=1):
        cdr_id, _, ended, evse_id, evse_id_raw, *_, energy, excl, _, fee, _, _ = row
        amount = sign * Decimal(fee if takes_fee else excl)
        lines.append(
            PdfLine(
                number=number,
                ended=timezone.localtime(ended),
                cdr_id=cdr_id,
                evse_id=evse_id or evse_id_raw,
                energy=number_format(energy, 3, force_grouping=True),
                amount=number_format(amount, LINE_PLACES, force_grouping=True),
            )
        )
    return lines


def _money(value: Decimal, currency: str) -> str:
    return f"{number_format(value, minor_unit(currency), force_grouping=True)} {currency}"


def document_context(document: Document) -> dict:
    """What the document template shows; the same for the PDF and the HTML print view."""
    kind = DocumentKind(document.kind)
    currency = document.currency
    siblings = {other.kind: other for other in document.invoice.documents.all()}
    self_billed = siblings.get(DocumentKind.SELF_BILLED_INVOICE)
    fee = siblings.get(DocumentKind.FEE_INVOICE)
    return {
        "document": document,
        "title": f"{TITLES[kind]} {document.number}",
        "seller": document.party("seller"),
        "buyer": document.party("buyer"),
        "statement": document.invoice,
        "net": _money(document.net, currency),
        "vat": _money(document.vat, currency),
        "total": _money(document.total, currency),
        "vat_rate": f"{document.vat_rate.normalize():f}",
        "line_amount_label": LINE_AMOUNT_LABELS[kind],
        "lines": document_lines(document),
        "time_zone": settings.TIME_ZONE,
        "to_pay": (
            _money(self_billed.total - fee.total, currency)
            if self_billed and fee and kind == DocumentKind.SELF_BILLED_INVOICE
            else None
        ),
        "fee_document": fee,
        "fee_total": _money(fee.total, currency) if fee else None,
    }


def render_document_html(document: Document) -> str:
    return render_to_string("evse_payout/documents/document.html", document_context(document))


def render_document_pdf(document: Document) -> bytes:
    # Imported here: WeasyPrint loads Pango at import, which only PDF downloads need.
    from weasyprint import HTML

    return HTML(string=render_document_html(document), base_url=str(settings.BASE_DIR)).write_pdf()


def pdf_filename(document: Document) -> str:
    return f"{document.number}.pdf"
