"""The "CDR overview", the CDR page and the bulk "Rerate CDRs" action (DESIGN §4, R5)."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from ..filters.cdrs import filter_cdrs
from ..forms.cdrs import CDRRerateForm
from ..forms.selection import resolve_selection
from ..models import CDR, CPO_OWN_LABEL, CDRStatus, JobKind
from ..selectors.cdrs import (
    cdr_credits,
    cdr_for_page,
    cdr_rating_history,
    current_assignment,
    fee_breakdown,
)
from ..services.jobs import JobError, start_job
from ..services.rating import rerate_cdrs
from ..tables.cdrs import CDRTable
from .listing import CappedCountPaginator, capped_count, paginate_table, render_listing

VIEW_PERM = "evse_payout.view_cdr"
RERATE_PERM = "evse_payout.change_cdr"
# The confirmation page previews (a dry run) selections up to this size; more than JOB_THRESHOLD
# CDRs are re-rated by a background job, whose page shows the progress.
PREVIEW_LIMIT = 20_000
JOB_THRESHOLD = 2_000
FILTER_KEYS = ("status", "reason", "evse_id", "account", "sub_cpo", "ended_after", "ended_before")


def _reverse_or_none(name, *args):
    try:
        return reverse(f"evse_payout:{name}", args=args)
    except NoReverseMatch:
        return None


def _overview_url(query: str) -> str:
    url = reverse("evse_payout:cdr_list")
    return f"{url}?{query}" if query else url


def _back_url(request, filter_query: str) -> str:
    """Where to return after the action: a safe local `next` (the CDR page), else the overview."""
    candidate = request.POST.get("next", "")
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return _overview_url(filter_query)


# The overview's quick-filter tabs: (status value, label); "" is every status.
STATUS_TABS = (
    ("", "All"),
    (CDRStatus.NOT_INVOICEABLE, "Not invoiceable"),
    (CDRStatus.RATED, "Rated"),
    (CDRStatus.INVOICED, "Invoiced"),
    (CDRStatus.NEW, "New"),
)


def _status_tabs(request) -> list[dict]:
    """One tab per status with its link (the other filters kept) and its (capped) count."""
    others = request.GET.copy()
    for key in ("status", "page"):
        others.pop(key, None)
    base = filter_cdrs(others)
    matching = base.qs if base.is_valid() else base.queryset.none()
    current = request.GET.get("status", "")
    tabs = []
    for status, label in STATUS_TABS:
        query = others.copy()
        if status:
            query["status"] = status
        count, exact = capped_count(matching.with_status(status) if status else matching)
        tabs.append(
            {
                "label": label,
                "url": _overview_url(query.urlencode()),
                "count": count,
                "exact": exact,
                "active": current == status,
            }
        )
    return tabs


@permission_required(VIEW_PERM, raise_exception=True)
def cdr_list(request):
    filterset = filter_cdrs(request.GET)
    can_rerate = request.user.has_perm(RERATE_PERM)
    table = CDRTable(filterset.qs, exclude=() if can_rerate else ("select",))
    paginate_table(request, table, paginator_class=CappedCountPaginator)
    filter_query = request.GET.copy()
    for key in ("page", "per_page", "sort"):
        filter_query.pop(key, None)
    context = {
        "title": "CDR overview",
        "filter": filterset,
        "table": table,
        "tabs": _status_tabs(request),
        "can_rerate": can_rerate,
        "filter_query": filter_query.urlencode(),
        "is_filtered": any(
            request.GET.get(key) for key in (*FILTER_KEYS, "run", "invoice", "assigned_to")
        ),
        "run_id": filterset.form.cleaned_data.get("run") if filterset.is_valid() else None,
        "invoice_id": filterset.form.cleaned_data.get("invoice") if filterset.is_valid() else None,
        "assigned_to": filterset.form.cleaned_data.get("assigned_to")
        if filterset.is_valid()
        else None,
    }
    return render_listing(request, "evse_payout/cdr_list.html", context)


@permission_required(RERATE_PERM, raise_exception=True)
@require_POST
def cdr_rerate(request):
    """Bulk "Rerate CDRs": confirmation (with a dry-run preview), then re-rate and go back."""
    form = CDRRerateForm(request.POST)
    if not form.is_valid():
        for error in form.errors.values():
            messages.error(request, " ".join(error))
        return redirect(_back_url(request, form.filter_query))
    back = _back_url(request, form.filter_query)
    cdrs = resolve_selection(
        form,
        checked_among=CDR.objects.all(),
        matching=filter_cdrs,
    )
    if cdrs is None:
        messages.error(request, "The filters are not valid any more; correct them and try again.")
        return redirect(back)
    count = cdrs.not_on_statement().count()
    if count == 0:
        messages.warning(
            request,
            "None of the selected CDRs can be re-rated: invoiced CDRs are never re-rated.",
        )
        return redirect(back)
    if "confirm" not in request.POST:
        preview = rerate_cdrs(cdrs=cdrs, dry_run=True) if count <= PREVIEW_LIMIT else None
        context = {
            "title": "Rerate CDRs",
            "form": form,
            "count": count,
            "as_job": count > JOB_THRESHOLD,
            "preview": preview,
            "after": [
                (CDRStatus(status).label, number)
                for status, number in sorted((preview.by_status if preview else {}).items())
            ],
            "back_url": back,
            "next_url": "" if back == _overview_url(form.filter_query) else back,
            "checked": len(form.cleaned_data["pk"]),
            "skipped": 0
            if form.cleaned_data["select_all"]
            else len(form.cleaned_data["pk"]) - count,
        }
        return render(request, "evse_payout/cdr_rerate_confirm.html", context)
    if count > JOB_THRESHOLD:
        return _start_rerate_job(request, form, back)
    summary = rerate_cdrs(cdrs=cdrs, actor=request.user)
    messages.success(request, summary.message())
    return redirect(back)


def _start_rerate_job(request, form, back: str):
    selection = {"pks": [] if form.cleaned_data["select_all"] else form.cleaned_data["pk"]}
    try:
        job = start_job(
            kind=JobKind.RERATE,
            actor=request.user,
            parameters={**selection, "filters": form.filter_query},
        )
    except JobError as exc:
        messages.error(request, str(exc))
        return redirect(back)
    messages.success(request, f"{job} started; this page follows it.")
    return redirect("evse_payout:job_detail", pk=job.pk)


@permission_required(VIEW_PERM, raise_exception=True)
def cdr_detail(request, pk):
    try:
        cdr = cdr_for_page(pk)
    except CDR.DoesNotExist:
        cdr = get_object_or_404(CDR, pk=pk)
    context = {
        "title": f"CDR {cdr.cdr_id}",
        "cdr": cdr,
        "breakdown": fee_breakdown(cdr),
        "history": list(cdr_rating_history(cdr)),
        "assigned_now": current_assignment(cdr)
        if cdr.status == CDRStatus.NOT_INVOICEABLE
        else None,
        "credits": list(cdr_credits(cdr)),
        "cpo_own_label": CPO_OWN_LABEL,
        "raw_json": json.dumps(cdr.raw, indent=2, ensure_ascii=False, sort_keys=False),
        "evse_url": _reverse_or_none("evse_detail", cdr.evse_id) if cdr.evse_id else None,
        "invoice_url": _reverse_or_none("invoice_detail", cdr.statement.pk)
        if cdr.statement
        else None,
        "can_rerate": request.user.has_perm(RERATE_PERM) and cdr.status != CDRStatus.INVOICED,
    }
    return render(request, "evse_payout/cdr_detail.html", context)


urlpatterns = [
    path("cdrs/", cdr_list, name="cdr_list"),
    path("cdrs/rerate/", cdr_rerate, name="cdr_rerate"),
    path("cdrs/<int:pk>/", cdr_detail, name="cdr_detail"),
]
