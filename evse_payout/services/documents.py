"""Issue the tax documents of a Sub-CPO statement, and cancel a statement with credit notes.

`issue_statement_documents` writes the self-billed invoice and the CPO's fee invoice of a statement;
`credit_statement_documents` writes the credit notes that reverse them exactly. Each document takes
the next number of its own series and year (`SB-2026-000001`, `FE-…`, `SBC-…`, `FEC-…`) under a
row lock on that series, so numbers are gapless also when two statements are finalized at once.
Callers run them inside their own transaction (finalize, cancel), which also writes the audit row.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import BigIntegerField, Value
from django.utils import timezone

from ..models import (
    CREDIT_NOTE_OF,
    AuditAction,
    CancelledStatementLine,
    Document,
    DocumentKind,
    DocumentNumberSequence,
    Invoice,
    InvoiceStatus,
    StatementCancellation,
    StatementLine,
    SubCPO,
    VatStatus,
)
from ..models.documents import NUMBER_PREFIXES
from ..money import round_money
from .audit import actor_label, record_audit_event
from .bulk_sql import insert_select
from .vat import VatError, VatTreatment, fee_vat, self_billed_vat

NUMBER_FORMAT = "{prefix}-{year}-{number:06d}"
SELF_BILLING_MENTION = "Self-billing"


class DocumentError(Exception):
    """The documents cannot be issued; `problems` lists what to fix, nothing was written."""

    def __init__(self, message: str, *, problems: list[str], sub_cpo: SubCPO | None = None):
        super().__init__(message)
        self.problems = problems
        self.sub_cpo = sub_cpo


@dataclass(frozen=True)
class Party:
    name: str
    street: str
    building_number: str
    postal_code: str
    city: str
    country: str  # ISO 3166-1 alpha-2
    vat_number: str

    def as_fields(self, role: str) -> dict[str, str]:
        return {f"{role}_{name}": value for name, value in self.__dict__.items()}


def cpo_party() -> Party:
    """The CPO as the settings describe it (CPO_NAME, CPO_STREET, …, CPO_VAT_NUMBER)."""
    return Party(
        name=settings.CPO_NAME,
        street=settings.CPO_STREET,
        building_number=settings.CPO_BUILDING_NUMBER,
        postal_code=settings.CPO_POSTAL_CODE,
        city=settings.CPO_CITY,
        country=settings.CPO_COUNTRY,
        vat_number=settings.CPO_VAT_NUMBER,
    )


def sub_cpo_party(sub_cpo: SubCPO) -> Party:
    return Party(
        name=sub_cpo.name,
        street=sub_cpo.street,
        building_number=sub_cpo.building_number,
        postal_code=sub_cpo.postal_code,
        city=sub_cpo.city,
        country=sub_cpo.country_alpha2,
        vat_number=sub_cpo.vat_number,
    )


@dataclass(frozen=True)
class StatementVat:
    self_billed: VatTreatment
    fee: VatTreatment


def statement_vat(*, sub_cpo: SubCPO, on: date) -> StatementVat:
    """The VAT treatment of both documents of a statement for this payee, on that day."""
    payee = {"payee_country": sub_cpo.country_alpha2, "payee_vat_status": sub_cpo.vat_status}
    return StatementVat(self_billed=self_billed_vat(**payee, on=on), fee=fee_vat(**payee, on=on))


def self_billing_problems(*, sub_cpo: SubCPO, on: date) -> list[str]:
    """What keeps the CPO from self-billing for this Sub-CPO on that day (empty: nothing)."""
    problems = []
    missing = [
        label
        for label, value in (
            ("street", sub_cpo.street),
            ("postal code", sub_cpo.postal_code),
            ("city", sub_cpo.city),
        )
        if not value.strip()
    ]
    if missing:
        problems.append(f"address: no {', no '.join(missing)}")
    if sub_cpo.vat_status != VatStatus.NOT_REGISTERED and not sub_cpo.vat_number:
        problems.append(f"VAT number (required when {sub_cpo.get_vat_status_display().lower()})")
    if not (sub_cpo.agreement_reference and sub_cpo.agreement_signed_on):
        problems.append("self-billing agreement: no reference or no date signed")
    elif sub_cpo.agreement_signed_on > on:
        problems.append(
            f"self-billing agreement: signed on {sub_cpo.agreement_signed_on.isoformat()}, "
            f"after {on.isoformat()}"
        )
    elif sub_cpo.agreement_valid_until and sub_cpo.agreement_valid_until < on:
        problems.append(
            f"self-billing agreement: expired on {sub_cpo.agreement_valid_until.isoformat()}"
        )
    try:
        statement_vat(sub_cpo=sub_cpo, on=on)
    except VatError as exc:
        problems.append(f"VAT: {exc}")
    return problems


@dataclass(frozen=True)
class MissingMasterData:
    sub_cpo: SubCPO
    problems: list[str]


def master_data_problems(*, invoices, on: date) -> list[MissingMasterData]:
    """Each Sub-CPO among the statements' payees that cannot be self-billed on that day, once."""
    missing: dict[int, MissingMasterData] = {}
    for invoice in invoices:
        sub_cpo = invoice.payout_account.holder
        if sub_cpo is None or sub_cpo.pk in missing:
            continue  # the CPO's own account is not self-billed
        problems = self_billing_problems(sub_cpo=sub_cpo, on=on)
        if problems:
            missing[sub_cpo.pk] = MissingMasterData(sub_cpo=sub_cpo, problems=problems)
    return list(missing.values())


def master_data_message(missing: list[MissingMasterData]) -> str:
    return (
        "Nothing was finalized: a self-billed invoice needs the Sub-CPO's master data. "
        + " ".join(
            f"“{entry.sub_cpo}”: missing or invalid {'; '.join(entry.problems)}."
            for entry in missing
        )
    )


def _next_number(kind: str, year: int) -> str:
    prefix = NUMBER_PREFIXES[DocumentKind(kind)]
    sequence, _ = DocumentNumberSequence.objects.select_for_update().get_or_create(
        series=prefix, year=year
    )
    sequence.last_number += 1
    sequence.save(update_fields=["last_number"])
    return NUMBER_FORMAT.format(prefix=prefix, year=year, number=sequence.last_number)


def _amounts(net: Decimal, treatment: VatTreatment, currency: str) -> dict[str, Decimal]:
    """Net, VAT and total of one document, each rounded once to the currency's minor unit."""
    net = round_money(net, currency)
    vat = round_money(net * treatment.rate / 100, currency)
    return {"net": net, "vat_rate": treatment.rate, "vat": vat, "total": net + vat}


def _supply_period(invoice: Invoice, issued_on: date) -> dict[str, date]:
    start = timezone.localdate(invoice.period_start) if invoice.period_start else issued_on
    end = timezone.localdate(invoice.period_end) if invoice.period_end else issued_on
    return {"period_start": start, "period_end": end}


def _agreement(sub_cpo: SubCPO) -> dict:
    return {
        "agreement_reference": sub_cpo.agreement_reference,
        "agreement_signed_on": sub_cpo.agreement_signed_on,
        "agreement_valid_until": sub_cpo.agreement_valid_until,
    }


@dataclass(frozen=True)
class StatementDocuments:
    self_billed: Document
    fee: Document

    @property
    def amount_to_pay(self) -> Decimal:
        """What the CPO transfers: the self-billed total minus the fee invoice total."""
        return self.self_billed.total - self.fee.total


def issue_statement_documents(
    *, invoice: Invoice, actor, issued_on: date | None = None
) -> StatementDocuments:
    """The self-billed invoice and the fee invoice of a Sub-CPO statement, numbered and frozen.

    Refused (DocumentError, nothing written) when the payee's address, VAT data or self-billing
    agreement is missing or not valid on the issue day; the error lists every problem.
    """
    sub_cpo = invoice.payout_account.holder
    if sub_cpo is None:
        raise DocumentError(
            f"“{invoice.payout_account}” is the CPO's own account: it gets no self-billed invoice.",
            problems=["the CPO's own account"],
        )
    issued_on = issued_on or timezone.localdate()
    problems = self_billing_problems(sub_cpo=sub_cpo, on=issued_on)
    if problems:
        raise DocumentError(
            f"Sub-CPO “{sub_cpo}” cannot be self-billed yet. Missing or invalid: "
            + "; ".join(problems)
            + ".",
            problems=problems,
            sub_cpo=sub_cpo,
        )
    vat = statement_vat(sub_cpo=sub_cpo, on=issued_on)
    payee, cpo = sub_cpo_party(sub_cpo), cpo_party()
    common = {
        "invoice": invoice,
        "issue_date": issued_on,
        "currency": invoice.currency,
        "created_at": timezone.now(),
        "created_by": actor,
        **_supply_period(invoice, issued_on),
    }
    with transaction.atomic():
        self_billed = Document.objects.create(
            kind=DocumentKind.SELF_BILLED_INVOICE,
            number=_next_number(DocumentKind.SELF_BILLED_INVOICE, issued_on.year),
            **common,
            **_amounts(invoice.total_excl_vat, vat.self_billed, invoice.currency),
            **_treatment_fields(vat.self_billed),
            **payee.as_fields("seller"),
            **cpo.as_fields("buyer"),
            **_agreement(sub_cpo),
        )
        fee = Document.objects.create(
            kind=DocumentKind.FEE_INVOICE,
            number=_next_number(DocumentKind.FEE_INVOICE, issued_on.year),
            **common,
            **_amounts(invoice.total_fees, vat.fee, invoice.currency),
            **_treatment_fields(vat.fee),
            **cpo.as_fields("seller"),
            **payee.as_fields("buyer"),
        )
    return StatementDocuments(self_billed=self_billed, fee=fee)


def _treatment_fields(treatment: VatTreatment) -> dict[str, str]:
    return {
        "vat_category": treatment.category,
        "vat_treatment": treatment.label,
        "vat_mention": treatment.mention,
        "vat_exemption_code": treatment.exemption_code,
    }


def credit_statement_documents(
    *, invoice: Invoice, actor, issued_on: date | None = None
) -> list[Document]:
    """A numbered credit note for each document of the statement, reversing it exactly."""
    issued_on = issued_on or timezone.localdate()
    with transaction.atomic():
        originals = Document.objects.select_for_update(of=("self",)).filter(
            invoice=invoice, kind__in=list(CREDIT_NOTE_OF), credit_note__isnull=True
        )
        return [
            _credit_note(original, actor=actor, issued_on=issued_on)
            for original in originals.order_by("pk")
        ]


# The fields a credit note copies from the document it reverses.
_COPIED = (
    "invoice",
    "currency",
    "period_start",
    "period_end",
    "vat_rate",
    "vat_category",
    "vat_treatment",
    "vat_mention",
    "vat_exemption_code",
    "agreement_reference",
    "agreement_signed_on",
    "agreement_valid_until",
)


def _credit_note(original: Document, *, actor, issued_on: date) -> Document:
    kind = CREDIT_NOTE_OF[DocumentKind(original.kind)]
    return Document.objects.create(
        kind=kind,
        number=_next_number(kind, issued_on.year),
        issue_date=issued_on,
        corrects=original,
        net=-original.net,
        vat=-original.vat,
        total=-original.total,
        created_at=timezone.now(),
        created_by=actor,
        **{name: getattr(original, name) for name in _COPIED},
        **{f"seller_{name}": value for name, value in original.party("seller").items()},
        **{f"buyer_{name}": value for name, value in original.party("buyer").items()},
    )


class CancelError(Exception):
    """The statement cannot be cancelled; the message says why. Nothing was changed."""


@dataclass(frozen=True)
class CancelPreview:
    """What cancelling a statement would do: the credit notes' amounts and the CDRs released."""

    invoice: Invoice
    documents: list[Document]
    cdr_count: int


def _cancel_problem(invoice: Invoice) -> str | None:
    if invoice.status != InvoiceStatus.FINAL:
        return f"{invoice} is {invoice.get_status_display().lower()}: only a final statement is cancelled with credit notes."
    if StatementCancellation.objects.filter(invoice=invoice).exists():
        return f"{invoice} is already cancelled."
    if not invoice.documents.filter(kind=DocumentKind.SELF_BILLED_INVOICE).exists():
        return f"{invoice} has no self-billed invoice to credit."
    # A carried-forward balance links two statements; cancelling one would leave the other wrong.
    if invoice.balance_brought_forward:
        return (
            f"{invoice} includes the balance of {invoice.brought_forward_from}: it cannot be "
            "cancelled on its own."
        )
    carried_into = Invoice.objects.filter(brought_forward_from=invoice).exclude(
        status=InvoiceStatus.DISCARDED
    )
    if carried_into.exists():
        return (
            f"{invoice}'s balance is carried into {carried_into.first()}: it cannot be "
            "cancelled on its own."
        )
    return None


def cancel_preview(*, invoice: Invoice) -> CancelPreview:
    """The amounts a cancellation would credit, for its confirmation page; raises CancelError."""
    problem = _cancel_problem(invoice)
    if problem:
        raise CancelError(problem)
    documents = list(invoice.documents.filter(kind__in=list(CREDIT_NOTE_OF)).order_by("pk"))
    return CancelPreview(
        invoice=invoice,
        documents=documents,
        cdr_count=StatementLine.objects.filter(invoice=invoice).count(),
    )


def cancel_statement(*, invoice: Invoice, actor, reason: str = "") -> StatementCancellation:
    """Cancel a final statement: credit notes reverse its documents exactly, its lines are kept
    as they were, and its CDRs return to `rated` for the next run. Audited."""
    with transaction.atomic():
        locked = (
            Invoice.objects.select_for_update().select_related("payout_account").get(pk=invoice.pk)
        )
        problem = _cancel_problem(locked)
        if problem:
            raise CancelError(problem + " Nothing was changed.")
        now = timezone.now()
        lines = StatementLine.objects.filter(invoice=locked)
        insert_select(
            CancelledStatementLine,
            ["invoice", "cdr", "fee", "payout"],
            lines.order_by().values_list(
                Value(locked.pk, output_field=BigIntegerField()), "cdr", "cdr__fee", "cdr__payout"
            ),
        )
        released, _ = lines.delete()
        credit_notes = credit_statement_documents(
            invoice=locked, actor=actor, issued_on=timezone.localdate(now)
        )
        cancellation = StatementCancellation.objects.create(
            invoice=locked,
            at=now,
            by=actor,
            by_label=actor_label(actor),
            reason=reason,
            cdr_count=released,
        )
        numbers = [note.number for note in credit_notes]
        record_audit_event(
            action=AuditAction.INVOICE_CANCEL,
            actor=actor,
            payout_account=locked.payout_account,
            object_count=released,
            summary=(
                f"Cancelled payout statement {locked.number} of “{locked.payout_account}” with "
                f"credit notes {', '.join(numbers)}; {released:,} CDRs rated again"
            ),
            details={"invoice": locked.pk, "number": locked.number, "credit_notes": numbers},
        )
    return cancellation
