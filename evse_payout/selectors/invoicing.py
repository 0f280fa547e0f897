"""Reads of the invoice run pages: runs with their statement counts, statements, lines, exclusions."""

from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.urls import reverse

from ..models import (
    CDR,
    CDRReason,
    CDRStatus,
    Document,
    Invoice,
    InvoiceKind,
    InvoiceRun,
    InvoiceStatus,
    PayoutAccount,
)
from ..money import format_money, minor_unit

LIVE = ~Q(invoices__status=InvoiceStatus.DISCARDED)


def invoice_runs() -> QuerySet:
    """Every run with its statements counted per status and its live (not discarded) payout."""
    return (
        InvoiceRun.objects.select_related("created_by")
        .annotate(
            draft_count=Count("invoices", filter=Q(invoices__status=InvoiceStatus.DRAFT)),
            final_count=Count("invoices", filter=Q(invoices__status=InvoiceStatus.FINAL)),
            discarded_count=Count("invoices", filter=Q(invoices__status=InvoiceStatus.DISCARDED)),
            live_cdr_count=Sum("invoices__cdr_count", filter=LIVE),
            live_payout=Sum("invoices__net_payout", filter=LIVE),
            currency_count=Count("invoices__currency", filter=LIVE, distinct=True),
            currency=Max("invoices__currency", filter=LIVE),
        )
        .order_by("-created_at", "-pk")
    )


def run_statements(run: InvoiceRun) -> QuerySet:
    """The run's self-billing statements (the CPO's revenue report is listed apart)."""
    return (
        run.invoices.filter(kind=InvoiceKind.STATEMENT)
        .select_related("payout_account", "brought_forward_from")
        .order_by("payout_account__name", "pk")
    )


def run_documents(run: InvoiceRun) -> QuerySet:
    """The tax documents of the run's final statements (credit notes included), by statement."""
    return (
        Document.objects.filter(invoice__run=run, invoice__status=InvoiceStatus.FINAL)
        .select_related("invoice__payout_account", "corrects")
        .order_by("invoice__number", "invoice__pk", "pk")
    )


def run_revenue_reports(run: InvoiceRun) -> QuerySet:
    """The CPO's own accounts' internal revenue reports of the run (not discarded)."""
    return (
        run.invoices.filter(kind=InvoiceKind.REVENUE_REPORT)
        .exclude(status=InvoiceStatus.DISCARDED)
        .select_related("payout_account")
        .order_by("payout_account__name", "pk")
    )


def run_carried_forward(run: InvoiceRun) -> QuerySet:
    """The run's final statements carried forward (payable ≤ 0 or below the minimum payout)."""
    return (
        run.invoices.filter(status=InvoiceStatus.FINAL, carried_forward=True)
        .select_related("payout_account")
        .order_by("payout_account__name", "pk")
    )


@dataclass(frozen=True)
class Payee:
    """Who a statement pays: the frozen copy once final, the account's current data before."""

    name: str
    account_holder_name: str
    iban: str
    bic: str
    vat_number: str
    commission_percent: Decimal
    fee_per_kwh: Decimal
    fee_per_session: Decimal
    frozen: bool


def statement_payee(invoice: Invoice) -> Payee:
    if invoice.status == InvoiceStatus.FINAL:
        return Payee(
            name=invoice.payee_name,
            account_holder_name=invoice.payee_account_holder_name,
            iban=invoice.payee_iban,
            bic=invoice.payee_bic,
            vat_number=invoice.payee_vat_number,
            commission_percent=invoice.terms_commission_percent,
            fee_per_kwh=invoice.terms_fee_per_kwh,
            fee_per_session=invoice.terms_fee_per_session,
            frozen=True,
        )
    account = invoice.payout_account
    holder = account.holder
    return Payee(
        name=holder.name if holder else account.name,
        account_holder_name=account.account_holder_name,
        iban=account.iban,
        bic=account.bic,
        vat_number=account.vat_number or (holder.vat_number if holder else ""),
        commission_percent=account.commission_percent,
        fee_per_kwh=account.fee_per_kwh,
        fee_per_session=account.fee_per_session,
        frozen=False,
    )


def rounding_note(currency: str) -> str:
    places = minor_unit(currency)
    return (
        "Lines keep 4 decimals; each total is the exact sum of the lines, rounded once half-up "
        f"to {places} decimal{'s' if places != 1 else ''} ({currency})."
    )


def open_balance(account: PayoutAccount) -> Invoice | None:
    """The account's carried-forward statement not yet brought into a later statement."""
    return (
        Invoice.objects.filter(
            payout_account=account,
            status=InvoiceStatus.FINAL,
            carried_forward=True,
            brought_forward_into__isnull=True,
        )
        .order_by("finalized_at", "pk")
        .first()
    )


def invoice_lines(invoice: Invoice) -> QuerySet:
    return (
        CDR.objects.filter(statement_line__invoice=invoice)
        .select_related("evse", "location", "credited_cdr__statement_line__invoice")
        .only(
            "cdr_id",
            "start_date_time",
            "end_date_time",
            "evse_id_raw",
            "evse__evse_id",
            "location__name",
            "location__city",
            "total_energy",
            "currency",
            "total_cost_excl_vat",
            "total_cost_incl_vat",
            "fee",
            "payout",
            "credit",
            "credited_cdr__cdr_id",
            "credited_cdr__statement_line__invoice__number",
        )
        .order_by("end_date_time", "pk")
    )


def run_exclusions(run: InvoiceRun) -> list[dict]:
    """The run's exclusions per reason (from the run row), each with its link to those CDRs."""
    cdr_list = reverse("evse_payout:cdr_list")
    labels = dict(CDRReason.choices)
    return [
        {
            "reason": reason,
            "label": labels.get(reason, reason),
            "count": figures["count"],
            "amount": "; ".join(
                format_money(amount, currency)
                for currency, amount in sorted(figures["amounts"].items())
            ),
            "url": f"{cdr_list}?{urlencode({'run': run.pk, 'reason': reason})}",
        }
        for reason, figures in sorted(run.exclusions.items())
    ]


@dataclass(frozen=True)
class Unsettled:
    """An account's rated CDRs that no statement holds yet."""

    count: int
    payout: Decimal
    currency: str

    @property
    def payout_label(self) -> str:
        return format_money(self.payout, self.currency)


def unsettled_cdrs(account: PayoutAccount) -> Unsettled:
    """Count and payout of the account's rated, not yet invoiced CDRs (one query)."""
    figures = (
        CDR.objects.with_status(CDRStatus.RATED)
        .filter(payout_account=account)
        .aggregate(count=Count("pk"), payout=Sum("payout", default=Decimal(0)))
    )
    return Unsettled(figures["count"], figures["payout"], account.currency)
