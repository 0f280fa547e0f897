"""A statement's tax documents: PDF and UBL downloads, the run's ZIP of them (built by a
background job, downloaded from its page), and "Cancel with credit note". Every change goes
through evse_payout.services.documents."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ..models import Document, Invoice, InvoiceRun, InvoiceStatus, Job, JobKind, JobState
from ..money import round_money
from ..renderers.pdf import pdf_filename, render_document_pdf
from ..renderers.ubl import render_ubl, ubl_filename
from ..selectors.invoicing import run_documents
from ..services.documents import (
    CancelError,
    MissingMasterData,
    cancel_preview,
    cancel_statement,
)
from ..services.jobs import JobError, start_documents_bundle
from ..tables.invoicing import format_money

VIEW_INVOICE = "evse_payout.view_invoice"
VIEW_RUN = "evse_payout.view_invoicerun"
CHANGE_INVOICE = "evse_payout.change_invoice"
BUILD_BUTTON = "Build documents ZIP"


def _download(content: bytes, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _document(pk) -> Document:
    return get_object_or_404(
        Document.objects.select_related("invoice__payout_account", "corrects"), pk=pk
    )


@permission_required(VIEW_INVOICE, raise_exception=True)
@require_GET
def document_pdf(request, pk):
    document = _document(pk)
    return _download(render_document_pdf(document), pdf_filename(document), "application/pdf")


@permission_required(VIEW_INVOICE, raise_exception=True)
@require_GET
def document_ubl(request, pk):
    document = _document(pk)
    return _download(render_ubl(document), ubl_filename(document), "application/xml")


@permission_required(VIEW_RUN, raise_exception=True)
@require_GET
def run_documents_zip(request, pk):
    """The old download address, kept for bookmarks: the ZIP is built by a background job now."""
    run = get_object_or_404(InvoiceRun, pk=pk)
    messages.info(
        request,
        f"The ZIP of invoice run {run.pk}'s documents is now built in the background: press "
        f"“{BUILD_BUTTON}” below; its job page links the download when it is ready.",
    )
    return redirect("evse_payout:invoice_run_detail", pk=run.pk)


@permission_required(VIEW_RUN, raise_exception=True)
@require_POST
def run_documents_bundle(request, pk):
    """Start the job that builds the run's ZIP (or follow the one already building it)."""
    run = get_object_or_404(InvoiceRun, pk=pk)
    if not run_documents(run).exists():
        messages.error(request, f"Invoice run {run.pk} has no documents yet: finalize it first.")
        return redirect("evse_payout:invoice_run_detail", pk=run.pk)
    try:
        job, started = start_documents_bundle(
            run_id=run.pk, actor=request.user, include_sepa=request.user.has_perm(CHANGE_INVOICE)
        )
    except JobError as exc:
        messages.error(request, str(exc))
        return redirect("evse_payout:invoice_run_detail", pk=run.pk)
    if started:
        messages.success(
            request,
            f"{job} started: it builds the ZIP of invoice run {run.pk}. This page follows it "
            "and links the download when it is done.",
        )
    else:
        messages.info(
            request,
            f"The ZIP of invoice run {run.pk} is already being built by {job} "
            f"({job.get_state_display().lower()}); this page follows it instead of starting "
            "another.",
        )
    return redirect("evse_payout:job_detail", pk=job.pk)


@permission_required(VIEW_RUN, raise_exception=True)
@require_GET
def job_bundle(request, pk):
    """The ZIP a documents bundle job built, streamed from the default storage."""
    job = get_object_or_404(Job, pk=pk, kind=JobKind.DOCUMENTS_BUNDLE)
    run_id = job.parameters["run"]
    if job.state != JobState.DONE:
        messages.info(
            request, f"{job} is {job.get_state_display().lower()}: it has no ZIP to download."
        )
        return redirect("evse_payout:job_detail", pk=job.pk)
    if job.result.get("sepa_file") and not request.user.has_perm(CHANGE_INVOICE):
        raise PermissionDenied("This ZIP holds the run's SEPA file, which needs the Finance role.")
    name = job.result.get("file", "")
    if not name or not default_storage.exists(name):
        return render(
            request,
            "evse_payout/documents/bundle_missing.html",
            {"title": f"The ZIP of {job} is no longer stored", "job": job, "run_id": run_id},
            status=404,
        )
    return FileResponse(
        default_storage.open(name, "rb"),
        as_attachment=True,
        filename=f"documents-run-{run_id}.zip",
        content_type="application/zip",
    )


@permission_required(CHANGE_INVOICE, raise_exception=True)
@require_http_methods(["GET", "POST"])
def statement_cancel(request, pk):
    """Confirmation page with the amounts the credit notes reverse; POST cancels."""
    invoice = get_object_or_404(Invoice.objects.select_related("payout_account"), pk=pk)
    try:
        preview = cancel_preview(invoice=invoice)
    except CancelError as exc:
        messages.error(request, str(exc))
        return redirect("evse_payout:invoice_detail", pk=invoice.pk)
    if request.method == "GET":
        return render(
            request,
            "evse_payout/documents/cancel_confirm.html",
            {
                "title": f"Cancel statement {invoice.number} with credit notes",
                "invoice": invoice,
                "documents": [_document_row(d) for d in preview.documents],
                "cdr_count": preview.cdr_count,
            },
        )
    try:
        cancellation = cancel_statement(
            invoice=invoice, actor=request.user, reason=request.POST.get("reason", "")[:500]
        )
    except CancelError as exc:
        messages.error(request, str(exc))
        return redirect("evse_payout:invoice_detail", pk=invoice.pk)
    numbers = ", ".join(
        invoice.documents.filter(corrects__isnull=False).values_list("number", flat=True)
    )
    messages.success(
        request,
        f"Statement {invoice.number} is cancelled by credit notes {numbers}; "
        f"{cancellation.cdr_count:,} CDRs are rated again and the next run will take them.",
    )
    return redirect("evse_payout:invoice_detail", pk=invoice.pk)


def master_data_refusal(missing: list[MissingMasterData]) -> str:
    """The refusal of a finalize as HTML: each Sub-CPO, linked to where its data is edited."""
    items = format_html_join(
        "",
        '<li><a href="{}">{}</a>: missing or invalid {}</li>',
        (
            (
                reverse("admin:evse_payout_subcpo_change", args=[entry.sub_cpo.pk]),
                entry.sub_cpo.name,
                "; ".join(entry.problems),
            )
            for entry in missing
        ),
    )
    return format_html(
        "Nothing was finalized: a self-billed invoice needs the Sub-CPO's master data "
        "(address, VAT, self-billing agreement).<ul>{}</ul>",
        items,
    )


def _document_row(document: Document) -> dict:
    currency = document.currency
    return {
        "document": document,
        "net": format_money(document.net, currency),
        "vat": format_money(document.vat, currency),
        "total": format_money(document.total, currency),
        "credit": format_money(-document.total, currency),
    }


def statement_documents_context(invoice: Invoice, user) -> dict:
    """The documents panel of the statement page (included by invoice_detail.html)."""
    documents = list(invoice.documents.select_related("corrects").order_by("pk"))
    originals = [d for d in documents if not d.is_credit_note]
    by_kind = {d.kind: d for d in documents}
    self_billed, fee = by_kind.get("self_billed_invoice"), by_kind.get("fee_invoice")
    cancelled = any(d.is_credit_note for d in documents)
    to_pay = (
        format_money(round_money(self_billed.total - fee.total, invoice.currency), invoice.currency)
        if self_billed and fee
        else None
    )
    balance = invoice.balance_brought_forward
    return {
        "statement": invoice,
        "balance": format_money(balance, invoice.currency) if balance and to_pay else None,
        "payable": format_money(invoice.payable, invoice.currency),
        "documents": [_document_row(d) for d in originals],
        "credit_notes": [_document_row(d) for d in documents if d.is_credit_note],
        "to_pay": to_pay,
        "cancelled": cancelled,
        "can_cancel": bool(originals)
        and not cancelled
        and invoice.status == InvoiceStatus.FINAL
        and user.has_perm(CHANGE_INVOICE),
    }


urlpatterns = [
    path("documents/<int:pk>/pdf/", document_pdf, name="document_pdf"),
    path("documents/<int:pk>/ubl/", document_ubl, name="document_ubl"),
    path("invoice-runs/<int:pk>/documents.zip", run_documents_zip, name="invoice_run_documents"),
    path("invoice-runs/<int:pk>/bundle/", run_documents_bundle, name="invoice_run_bundle"),
    path("jobs/<int:pk>/documents.zip", job_bundle, name="job_bundle"),
    path("statements/<int:pk>/cancel/", statement_cancel, name="invoice_cancel"),
]
