"""The "Invoice runs" pages: runs, a new run (cutoff → preview → Confirm), a run, a statement,
and the CSV and SEPA downloads. Every change goes through evse_payout.services.invoicing."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ..forms.invoicing import InvoiceRunForm
from ..models import Invoice, InvoiceRun, InvoiceStatus
from ..money import format_money
from ..renderers.sepa import CURRENCY as SEPA_CURRENCY
from ..renderers.sepa import SepaError, render_run_sepa, sepa_filename
from ..selectors.invoicing import (
    invoice_lines,
    invoice_runs,
    rounding_note,
    run_carried_forward,
    run_exclusions,
    run_revenue_reports,
    run_statements,
    statement_payee,
)
from ..services.invoicing import (
    InvoicingError,
    MasterDataMissing,
    discard_invoice,
    finalize_invoice,
    finalize_run,
    run_invoicing,
)
from ..services.payout_files import document_label, iter_statement_csv
from ..tables.evses import paginate_table
from ..tables.invoicing import (
    InvoiceLineTable,
    InvoiceRunTable,
    StatementTable,
    format_count,
    statement_label,
)
from .documents import master_data_refusal, statement_documents_context

VIEW_RUN = "evse_payout.view_invoicerun"
VIEW_INVOICE = "evse_payout.view_invoice"
ADD_RUN = "evse_payout.add_invoicerun"
CHANGE_INVOICE = "evse_payout.change_invoice"


@permission_required(VIEW_RUN, raise_exception=True)
@require_GET
def invoice_run_list(request):
    table = paginate_table(request, InvoiceRunTable(invoice_runs()))
    return render(
        request,
        "evse_payout/invoice_run_list.html",
        {
            "title": "Invoice runs",
            "table": table,
            "has_runs": table.paginator.count > 0,
            "can_run": request.user.has_perm(ADD_RUN),
        },
    )


def _preview_context(summary) -> dict:
    return {
        "statements": [
            {
                "account": s.account_name
                + (" (internal revenue report)" if s.is_revenue_report else ""),
                "cdr_count": format_count(s.cdr_count),
                "excl_vat": format_money(s.total_excl_vat, s.currency),
                "fees": format_money(s.total_fees, s.currency),
                "net_payout": format_money(s.net_payout, s.currency),
            }
            for s in summary.statements
        ],
        "totals": [
            {
                "currency": currency,
                "excl_vat": format_money(totals["total_excl_vat"], currency),
                "fees": format_money(totals["total_fees"], currency),
                "net_payout": format_money(totals["net_payout"], currency),
            }
            for currency, totals in sorted(summary.totals_by_currency().items())
        ],
        "exclusions": [
            {
                "label": e.label,
                "count": format_count(e.count),
                "amount": "; ".join(
                    format_money(amount, currency) for currency, amount in sorted(e.amounts.items())
                ),
            }
            for e in summary.exclusions
        ],
        "cdr_count": format_count(summary.cdr_count),
    }


@permission_required(ADD_RUN, raise_exception=True)
@require_http_methods(["GET", "POST"])
def invoice_run_new(request):
    context = {"title": "New invoice run", "business_time_zone": settings.BUSINESS_TIME_ZONE}
    if request.method == "POST":
        form = InvoiceRunForm(request.POST)
        if form.is_valid():
            cutoff = form.cleaned_data["cutoff"]
            if request.POST.get("action") == "confirm":
                summary = run_invoicing(cutoff=cutoff, actor=request.user)
                messages.success(
                    request,
                    f"Invoice run {summary.run_id} drafted {len(summary.statements):,} "
                    f"statements with {summary.cdr_count:,} CDRs; {summary.excluded_count:,} "
                    "CDRs were left out. Review the drafts, then finalize them.",
                )
                return redirect("evse_payout:invoice_run_detail", pk=summary.run_id)
            summary = run_invoicing(cutoff=cutoff, actor=request.user, dry_run=True)
            context.update(preview=_preview_context(summary), cutoff=cutoff)
    else:
        form = InvoiceRunForm()
    context["form"] = form
    return render(request, "evse_payout/invoice_run_new.html", context)


@permission_required(VIEW_RUN, raise_exception=True)
@require_GET
def invoice_run_detail(request, pk):
    run = get_object_or_404(
        InvoiceRun.objects.select_related("created_by", "payout_account"), pk=pk
    )
    statements = list(run_statements(run))
    can_change = request.user.has_perm(CHANGE_INVOICE)
    reports = list(run_revenue_reports(run))
    has_drafts = any(s.status == InvoiceStatus.DRAFT for s in [*statements, *reports])
    sepa_ready = not has_drafts and any(s.status == InvoiceStatus.FINAL for s in statements)
    return render(
        request,
        "evse_payout/invoice_run_detail.html",
        {
            "title": f"Invoice run {run.pk}",
            "run": run,
            "table": StatementTable(statements),
            "revenue_reports": [
                {
                    "report": report,
                    "excl_vat": format_money(report.total_excl_vat, report.currency),
                    "fees": format_money(report.total_fees, report.currency),
                    "net": format_money(report.net_payout, report.currency),
                }
                for report in reports
            ],
            "carried_forward": [
                (statement, format_money(statement.payable, statement.currency))
                for statement in run_carried_forward(run)
            ],
            "exclusions": run_exclusions(run),
            "can_change": can_change,
            "has_drafts": has_drafts,
            "sepa_ready": sepa_ready,
            "non_euro": [
                s
                for s in statements
                if s.status == InvoiceStatus.FINAL and s.currency != SEPA_CURRENCY
            ],
        },
    )


def _refusal(exc: InvoicingError) -> str:
    """Why finalize was refused; missing master data links to each Sub-CPO concerned."""
    return master_data_refusal(exc.missing) if isinstance(exc, MasterDataMissing) else str(exc)


def _finalized_message(finalized: list[Invoice]) -> str:
    numbers = [invoice.number for invoice in finalized if invoice.number]
    text = f"Finalized {len(numbers):,} statements"
    text += f": {numbers[0]} to {numbers[-1]}." if numbers else "."
    reports = len(finalized) - len(numbers)
    if reports:
        text += f" {reports:,} internal revenue report{'s' if reports > 1 else ''} finalized."
    carried = sum(invoice.carried_forward for invoice in finalized)
    if carried:
        text += f" {carried:,} carried forward (nothing to pay out now)."
    return text


@permission_required(CHANGE_INVOICE, raise_exception=True)
@require_POST
def invoice_run_finalize(request, pk):
    run = get_object_or_404(InvoiceRun, pk=pk)
    try:
        finalized = finalize_run(run=run, actor=request.user)
    except InvoicingError as exc:
        messages.error(request, _refusal(exc))
    else:
        messages.success(request, _finalized_message(finalized))
    return redirect("evse_payout:invoice_run_detail", pk=run.pk)


@permission_required(CHANGE_INVOICE, raise_exception=True)
@require_GET
def invoice_run_sepa(request, pk):
    run = get_object_or_404(InvoiceRun, pk=pk)
    try:
        content, _ = render_run_sepa(run=run)
    except SepaError as exc:
        messages.error(request, f"No SEPA file was built. {exc}")
        return redirect("evse_payout:invoice_run_detail", pk=run.pk)
    response = HttpResponse(content, content_type="application/xml")
    response["Content-Disposition"] = f'attachment; filename="{sepa_filename(run)}"'
    return response


def _statement_totals(invoice: Invoice) -> list[tuple[str, str]]:
    rows = [
        ("Collected excl. VAT", invoice.total_excl_vat),
        # The drivers' VAT on the sessions, not the VAT of the documents (shown with them).
        ("VAT paid by drivers", invoice.total_vat),
        ("Collected incl. VAT", invoice.total_incl_vat),
        ("Fees", -invoice.total_fees),
        ("Net payout", invoice.net_payout),
    ]
    if invoice.brought_forward_from_id:
        source = invoice.brought_forward_from
        rows.append(
            (f"Balance carried forward from {source.number}", invoice.balance_brought_forward)
        )
    if not invoice.is_revenue_report:
        rows.append(("Payable", invoice.payable))
    return [(label, format_money(value, invoice.currency)) for label, value in rows]


@permission_required(VIEW_INVOICE, raise_exception=True)
@require_GET
def invoice_detail(request, pk):
    invoice = get_object_or_404(
        Invoice.objects.select_related(
            "payout_account__holder", "run", "finalized_by", "brought_forward_from"
        ),
        pk=pk,
    )
    table = paginate_table(request, InvoiceLineTable(invoice_lines(invoice)))
    return render(
        request,
        "evse_payout/invoice_detail.html",
        {
            "title": f"Payout statement {statement_label(invoice)}",
            "invoice": invoice,
            "account": invoice.payout_account,
            "payee": statement_payee(invoice),
            "rounding_note": rounding_note(invoice.currency),
            "table": table,
            "totals": _statement_totals(invoice),
            "credits": format_money(invoice.total_credits, invoice.currency),
            "cdr_count": format_count(invoice.cdr_count),
            "cpo": {
                "name": settings.CPO_NAME,
                "address": settings.CPO_ADDRESS,
                "vat_number": settings.CPO_VAT_NUMBER,
            },
            "can_change": request.user.has_perm(CHANGE_INVOICE)
            and invoice.status == InvoiceStatus.DRAFT,
            **statement_documents_context(invoice, request.user),
        },
    )


@permission_required(VIEW_INVOICE, raise_exception=True)
@require_GET
def invoice_csv(request, pk):
    invoice = get_object_or_404(Invoice, pk=pk)
    response = StreamingHttpResponse(
        (line.encode("utf-8") for line in iter_statement_csv(invoice)),
        content_type="text/csv; charset=utf-8",
    )
    name = invoice.number or (
        document_label(invoice) if invoice.is_revenue_report else f"draft-statement-{invoice.pk}"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


@permission_required(CHANGE_INVOICE, raise_exception=True)
@require_POST
def invoice_finalize(request, pk):
    invoice = get_object_or_404(Invoice, pk=pk)
    try:
        finalized = finalize_invoice(invoice=invoice, actor=request.user)
    except InvoicingError as exc:
        messages.error(request, _refusal(exc))
    else:
        if finalized.is_revenue_report:
            text = "Internal revenue report finalized (it has no number: nothing is paid out)."
        else:
            text = f"Statement finalized as {finalized.number}. It can no longer be changed."
        if finalized.carried_forward:
            text += " Its payable amount is carried forward to the account's next statement."
        messages.success(request, text)
    return redirect("evse_payout:invoice_detail", pk=invoice.pk)


@permission_required(CHANGE_INVOICE, raise_exception=True)
@require_http_methods(["GET", "POST"])
def invoice_discard(request, pk):
    invoice = get_object_or_404(Invoice.objects.select_related("payout_account"), pk=pk)
    if request.method == "GET":
        return render(
            request,
            "evse_payout/invoice_confirm_discard.html",
            {"title": "Discard draft statement", "invoice": invoice},
        )
    try:
        released = discard_invoice(invoice=invoice, actor=request.user)
    except InvoicingError as exc:
        messages.error(request, str(exc))
        return redirect("evse_payout:invoice_detail", pk=invoice.pk)
    messages.success(
        request,
        f"Draft statement of “{invoice.payout_account}” discarded; {released:,} CDRs are rated "
        "again and a later run will take them.",
    )
    return redirect(reverse("evse_payout:invoice_run_detail", args=[invoice.run_id]))


urlpatterns = [
    path("invoice-runs/", invoice_run_list, name="invoice_run_list"),
    path("invoice-runs/new/", invoice_run_new, name="invoice_run_new"),
    path("invoice-runs/<int:pk>/", invoice_run_detail, name="invoice_run_detail"),
    path("invoice-runs/<int:pk>/finalize/", invoice_run_finalize, name="invoice_run_finalize"),
    path("invoice-runs/<int:pk>/sepa/", invoice_run_sepa, name="invoice_run_sepa"),
    path("statements/<int:pk>/", invoice_detail, name="invoice_detail"),
    path("statements/<int:pk>/csv/", invoice_csv, name="invoice_csv"),
    path("statements/<int:pk>/finalize/", invoice_finalize, name="invoice_finalize"),
    path("statements/<int:pk>/discard/", invoice_discard, name="invoice_discard"),
]
