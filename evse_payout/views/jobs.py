"""The jobs pages: recent jobs, one job with its live progress (htmx polls the status part every
second while it runs; without JavaScript a refresh shows the same), and cancelling a job."""

from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods

from ..models import Job, JobKind, JobState
from ..selectors.jobs import format_duration, job_progress, recent_jobs
from ..services.jobs import JobError, mark_interrupted_jobs, request_cancel, unit_of
from ..tables.invoicing import format_count, format_money

VIEW_JOB = "evse_payout.view_job"
CHANGE_JOB = "evse_payout.change_job"


@permission_required(VIEW_JOB, raise_exception=True)
@require_GET
def job_list(request):
    mark_interrupted_jobs()
    return render(
        request, "evse_payout/job_list.html", {"title": "Recent jobs", "jobs": recent_jobs()}
    )


def _preview(figures: dict | None) -> dict | None:
    """The invoice run preview's figures (exact decimal strings) in the page's money format."""
    if not figures:
        return None

    def money(value, currency):
        return format_money(Decimal(value), currency)

    return {
        "cutoff": figures["cutoff"],
        "cdr_count": format_count(figures["cdr_count"]),
        "statements": [
            {
                "account": s["account"],
                "cdr_count": format_count(s["cdr_count"]),
                "excl_vat": money(s["excl_vat"], s["currency"]),
                "fees": money(s["fees"], s["currency"]),
                "net_payout": money(s["net_payout"], s["currency"]),
            }
            for s in figures["statements"]
        ],
        "totals": [
            {
                "currency": currency,
                "excl_vat": money(t["total_excl_vat"], currency),
                "fees": money(t["total_fees"], currency),
                "net_payout": money(t["net_payout"], currency),
            }
            for currency, t in figures["totals"].items()
        ],
        "exclusions": [
            {
                "label": e["label"],
                "count": format_count(e["count"]),
                "amount": "; ".join(
                    money(amount, currency) for currency, amount in sorted(e["amounts"].items())
                ),
            }
            for e in figures["exclusions"]
        ],
    }


def _job_context(request, job: Job) -> dict:
    progress = job_progress(job, timezone.now())
    return {
        "title": f"{job.get_kind_display()} — job {job.pk}",
        "job": job,
        "progress": progress,
        "unit": unit_of(job),
        "elapsed": format_duration(progress.elapsed),
        "remaining": format_duration(progress.remaining),
        "preview": _preview(job.result.get("preview")) if job.state == JobState.DONE else None,
        "can_cancel": request.user.has_perm(CHANGE_JOB) and not job.is_finished,
        "can_confirm_run": job.kind == JobKind.INVOICE_PREVIEW
        and request.user.has_perm("evse_payout.add_invoicerun"),
    }


@permission_required(VIEW_JOB, raise_exception=True)
@require_GET
def job_detail(request, pk):
    job = get_object_or_404(Job.objects.select_related("created_by"), pk=pk)
    if job.state == JobState.RUNNING and mark_interrupted_jobs():
        job.refresh_from_db()
    template = "evse_payout/job_detail.html"
    if request.htmx:
        template += "#status"
    response = render(request, template, _job_context(request, job))
    patch_vary_headers(response, ["HX-Request"])
    return response


@permission_required(CHANGE_JOB, raise_exception=True)
@require_http_methods(["GET", "POST"])
def job_cancel(request, pk):
    job = get_object_or_404(Job, pk=pk)
    if request.method == "GET":
        return render(
            request,
            "evse_payout/job_confirm_cancel.html",
            {"title": f"Cancel job {job.pk}", "job": job},
        )
    try:
        job = request_cancel(job=job, actor=request.user)
    except JobError as exc:
        messages.error(request, str(exc))
    else:
        if job.state == JobState.CANCELLED:
            messages.success(request, f"{job} was cancelled before it started.")
        elif job.is_batched:
            messages.success(
                request, f"{job} stops after its current batch; the page says how far it got."
            )
        elif job.kind == JobKind.DOCUMENTS_BUNDLE:
            messages.success(request, f"{job} stops after its current statement; no ZIP is kept.")
        else:
            messages.success(request, f"{job} is being cancelled; the invoice run is rolled back.")
    return redirect("evse_payout:job_detail", pk=job.pk)


urlpatterns = [
    path("jobs/", job_list, name="job_list"),
    path("jobs/<int:pk>/", job_detail, name="job_detail"),
    path("jobs/<int:pk>/cancel/", job_cancel, name="job_cancel"),
]
