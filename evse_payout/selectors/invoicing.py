"""Reads of the invoice run pages: runs with their statement counts, statements, lines, exclusions."""

from urllib.parse import urlencode

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.urls import reverse

from ..models import CDR, CDRReason, Invoice, InvoiceRun, InvoiceStatus
from ..money import format_money

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
    return run.invoices.select_related("payout_account").order_by("payout_account__name", "pk")


def invoice_lines(invoice: Invoice) -> QuerySet:
    return (
        CDR.objects.filter(invoice=invoice)
        .select_related("evse", "location")
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
