"""A statement's lines as CSV (the SEPA file and the documents' files: evse_payout.renderers)."""

from collections.abc import Iterator
from datetime import UTC

from ..exports import safe_csv_writer
from ..models import (
    CDR,
    CancelledStatementLine,
    Invoice,
    StatementCancellation,
)
from .invoicing import line_amounts

CSV_CHUNK = 5000

CSV_HEADER = [
    "statement",
    "cdr_id",
    "start_utc",
    "end_utc",
    "evse_id",
    "location",
    "energy_kwh",
    "currency",
    "collected_excl_vat",
    "vat",
    "collected_incl_vat",
    "fee",
    "payout",
    "credit",
]


class _Line:
    """csv.writer writes into this and gets the line back, so rows can be streamed one by one."""

    def write(self, value: str) -> str:
        return value


LINE_FIELDS = (
    "cdr_id",
    "start_date_time",
    "end_date_time",
    "evse__evse_id",
    "evse_id_raw",
    "location__name",
    "location__city",
    "total_energy",
    "total_cost_excl_vat",
    "total_cost_incl_vat",
    "fee",
    "payout",
    "credit",
)


def statement_lines(invoice: Invoice):
    """The statement's lines as tuples of LINE_FIELDS, oldest first.

    A cancelled statement's CDRs went back to `rated`: its lines are the copies kept at cancel.
    """
    if StatementCancellation.objects.filter(invoice=invoice).exists():
        kept = {"fee", "payout"}
        return (
            CancelledStatementLine.objects.filter(invoice=invoice)
            .order_by("cdr__end_date_time", "cdr__pk")
            .values_list(*(name if name in kept else f"cdr__{name}" for name in LINE_FIELDS))
        )
    return (
        CDR.objects.filter(statement_line__invoice=invoice)
        .order_by("end_date_time", "pk")
        .values_list(*LINE_FIELDS)
    )


def document_label(invoice: Invoice) -> str:
    """How files name a run document: its number, else what it is (revenue reports have none)."""
    if invoice.number:
        return invoice.number
    if invoice.is_revenue_report:
        return f"revenue-report-{invoice.pk}"
    return f"draft-{invoice.pk}"


def iter_statement_csv(invoice: Invoice) -> Iterator[str]:
    """The statement's lines as CSV (header first): UTF-8 text, decimal point, amounts in cents."""
    writer = safe_csv_writer(_Line())
    label = document_label(invoice)
    yield writer.writerow(CSV_HEADER)
    for row in statement_lines(invoice).iterator(chunk_size=CSV_CHUNK):
        (cdr_id, started, ended, evse_id, evse_id_raw, location, city, energy, *money, credit) = row
        amounts = line_amounts(invoice.currency, *money)
        yield writer.writerow(
            [
                label,
                cdr_id,
                started.astimezone(UTC).isoformat(),
                ended.astimezone(UTC).isoformat(),
                evse_id or evse_id_raw,
                ", ".join(part for part in (location, city) if part),
                str(energy),
                invoice.currency,
                str(amounts["excl_vat"]),
                str(amounts["vat"]),
                str(amounts["incl_vat"]),
                str(amounts["fee"]),
                str(amounts["payout"]),
                "yes" if credit else "no",
            ]
        )
