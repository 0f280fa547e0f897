"""Files that leave the back office: a statement's lines as CSV, a run's payouts as SEPA pain.001."""

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from sepaxml import SepaTransfer

from ..models import (
    CDR,
    CancelledStatementLine,
    Invoice,
    InvoiceRun,
    InvoiceStatus,
    StatementCancellation,
)
from ..validators import validate_bic, validate_iban
from .invoicing import line_amounts

SEPA_SCHEMA = "pain.001.001.03"
SEPA_CURRENCY = "EUR"
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


class PayoutFileError(Exception):
    """The file cannot be built; the message says what to fix. No file was produced."""


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
        CDR.objects.filter(invoice=invoice)
        .order_by("end_date_time", "pk")
        .values_list(*LINE_FIELDS)
    )


def iter_statement_csv(invoice: Invoice) -> Iterator[str]:
    """The statement's lines as CSV (header first): UTF-8 text, decimal point, amounts in cents."""
    writer = csv.writer(_Line())
    label = invoice.number or f"draft-{invoice.pk}"
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


@dataclass(frozen=True)
class SepaFile:
    content: bytes
    filename: str
    transfers: list[Invoice]
    control_sum: int  # cents
    left_out_currency: list[Invoice]
    left_out_nothing_to_pay: list[Invoice]


def _bank_data_problem(iban: str, bic: str) -> str | None:
    try:
        validate_iban(iban)
        if bic:
            validate_bic(bic)
    except ValidationError as exc:
        return " ".join(exc.messages)
    return None


def sepa_file_problems(run: InvoiceRun) -> list[str]:
    """Why the run's SEPA file cannot be built (empty when it can)."""
    statements = run.invoices.exclude(status=InvoiceStatus.DISCARDED)
    if statements.filter(status=InvoiceStatus.DRAFT).exists():
        return ["Finalize or discard every draft statement of this run first."]
    if not statements.exists():
        return ["This run has no statements."]
    return []


def build_sepa_transfer(*, run: InvoiceRun, execution_date: date | None = None) -> SepaFile:
    """One SEPA credit transfer per final EUR statement with a positive net payout.

    Refuses (PayoutFileError) while drafts remain, or when the CPO's or any payee's bank data is
    invalid — naming every account concerned — before any file is built.
    """
    problems = sepa_file_problems(run)
    if problems:
        raise PayoutFileError(" ".join(problems))
    statements = list(
        run.invoices.filter(status=InvoiceStatus.FINAL)
        .select_related("payout_account")
        .order_by("number", "pk")
    )
    left_out_currency = [s for s in statements if s.currency != SEPA_CURRENCY]
    euro = [s for s in statements if s.currency == SEPA_CURRENCY]
    nothing_to_pay = [s for s in euro if s.net_payout <= 0]
    transfers = [s for s in euro if s.net_payout > 0]
    if not transfers:
        raise PayoutFileError("No final EUR statement of this run has a payout to transfer.")

    invalid = []
    problem = _bank_data_problem(settings.CPO_IBAN, settings.CPO_BIC)
    if problem:
        invalid.append(f"the CPO (debtor, settings CPO_IBAN/CPO_BIC): {problem}")
    for statement in transfers:
        account = statement.payout_account
        problem = _bank_data_problem(account.iban, account.bic)
        if problem:
            invalid.append(f"“{account.name}”: {problem}")
    if invalid:
        raise PayoutFileError(
            "Invalid bank data, no file was built. Correct it first: " + "; ".join(invalid)
        )

    sepa = SepaTransfer(
        {
            "name": settings.CPO_NAME,
            "IBAN": settings.CPO_IBAN,
            "BIC": settings.CPO_BIC,
            "batch": True,
            "currency": SEPA_CURRENCY,
        },
        schema=SEPA_SCHEMA,
    )
    execution_date = execution_date or timezone.localdate()
    control_sum = 0
    for statement in transfers:
        account = statement.payout_account
        cents = int(statement.net_payout.scaleb(2))
        control_sum += cents
        payment = {
            "name": account.account_holder_name,
            "IBAN": account.iban,
            "amount": cents,
            "execution_date": execution_date,
            "description": f"{statement.number} self-billing payout statement",
            "endtoend_id": statement.number,
        }
        if account.bic:
            payment["BIC"] = account.bic
        sepa.add_payment(payment)
    return SepaFile(
        content=sepa.export(validate=True),
        filename=f"payouts-run-{run.pk}-{SEPA_SCHEMA}.xml",
        transfers=transfers,
        control_sum=control_sum,
        left_out_currency=left_out_currency,
        left_out_nothing_to_pay=nothing_to_pay,
    )
