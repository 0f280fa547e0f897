"""The "Invoice runs" pages: runs, a new run (cutoff → preview → Confirm), a run, a statement,
and the CSV and SEPA downloads. Every change goes through evse_payout.services.invoicing."""

from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_http_methods

from ..forms.invoicing import InvoiceRunForm
from ..models import Invoice, InvoiceRun, InvoiceStatus, JobKind
from ..money import format_count, format_money
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
)
from ..services.jobs import JobError, start_job
from ..services.payout_files import document_label, iter_statement_csv
from ..tables.invoicing import (
    InvoiceLineTable,
    InvoiceRunTable,
    StatementTable,
    statement_label,
)
from .documents import master_data_refusal, statement_documents_context
from .listing import paginate_table

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


@permission_required(ADD_RUN, raise_exception=True)
@require_http_methods(["GET", "POST"])
def invoice_run_new(request):
    """Cutoff → a preview job (its page shows the figures and "Confirm") → the run as a job."""
    form = InvoiceRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        confirmed = request.POST.get("action") == "confirm"
        try:
            job = start_job(
                kind=JobKind.INVOICE_RUN if confirmed else JobKind.INVOICE_PREVIEW,
                actor=request.user,
                parameters={"cutoff": form.cleaned_data["cutoff"].isoformat()},
            )
        except JobError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{job} started; this page follows it.")
            return redirect("evse_payout:job_detail", pk=job.pk)
    context = {
        "title": "New invoice run",
        "form": form,
        "business_time_zone": settings.BUSINESS_TIME_ZONE,
    }
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
            # Final statements carry the documents the ZIP holds (the POST checks they exist).
            "has_final": any(s.status == InvoiceStatus.FINAL for s in statements),
            "non_euro": [
                s
                for s in statements
                if s.status == InvoiceStatus.FINAL and s.currency != SEPA_CURRENCY
            ],
        },
    )


def _draft_summary(invoices) -> dict:
    """What "Finalize" will do: the draft statements it numbers (their CDR count and net payout
    per currency) and the draft internal revenue reports it closes without a number."""
    drafts = [i for i in invoices if i.status == InvoiceStatus.DRAFT and not i.is_revenue_report]
    reports = [i for i in invoices if i.status == InvoiceStatus.DRAFT and i.is_revenue_report]
    payouts: dict[str, Decimal] = {}
    for statement in drafts:
        payouts[statement.currency] = (
            payouts.get(statement.currency, Decimal(0)) + statement.net_payout
        )
    return {
        "drafts": drafts,
        "reports": reports,
        "cdr_count": format_count(sum(s.cdr_count for s in drafts)),
        "payouts": [format_money(amount, currency) for currency, amount in sorted(payouts.items())],
    }


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
@require_http_methods(["GET", "POST"])
def invoice_run_finalize(request, pk):
    """GET: a confirmation page with what will be numbered; POST: finalize every draft."""
    run = get_object_or_404(InvoiceRun, pk=pk)
    if request.method == "GET":
        context = {"title": "Finalize all draft statements", "run": run}
        context |= _draft_summary(list(run.invoices.select_related("payout_account")))
        return render(request, "evse_payout/invoice_confirm_finalize.html", context)
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
@require_http_methods(["GET", "POST"])
def invoice_finalize(request, pk):
    """GET: a confirmation page with the statement's figures; POST: finalize it."""
    invoice = get_object_or_404(Invoice.objects.select_related("payout_account"), pk=pk)
    if request.method == "GET":
        context = {"title": "Finalize draft statement", "invoice": invoice, "run": invoice.run}
        context |= _draft_summary([invoice])
        return render(request, "evse_payout/invoice_confirm_finalize.html", context)
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
