"""The "Payout EVSE assignment" pages: the two tables and the bulk assign/unassign flows.

A bulk action follows the Django admin's pattern: the table posts the selection, a page asks what
is needed (the payout account), a confirmation page shows what will happen, "Confirm" calls one
service, a message reports the result, and the browser goes back to the table with its filters.
"""

from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpResponseRedirect, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods, require_POST

from ..filters.cdrs import filter_cdrs
from ..filters.evses import (
    AssignedEVSEFilterSet,
    UnassignedEntryFilterSet,
    UnassignedEVSEFilterSet,
)
from ..forms.assignments import EVSESelectionForm, PayoutAccountChoiceForm
from ..forms.selection import resolve_selection
from ..models import (
    CPO_OWN_LABEL,
    EVSE,
    CDRReason,
    CDRStatus,
    PayoutAccount,
)
from ..money import format_count
from ..selectors.evses import (
    assigned_evses,
    assignment_tabs,
    attach_unassigned_cdr_totals,
    compatible_accounts,
    open_assignment_total,
    selection_owners,
    unassigned_entries,
    unassigned_entry_order,
    unassigned_evses,
)
from ..services.assignments import AssignmentError, assign_evses, unassign_evses
from ..tables.evses import AssignedEVSETable, UnassignedEVSETable
from .listing import (
    DeferredJoinPaginator,
    KeyedPaginator,
    capped_count,
    paginate_table,
    render_listing,
)

VIEW_PERMISSION = "evse_payout.view_evse"
ASSIGN_PERMISSION = "evse_payout.add_assignment"
CONFIRMATION_SAMPLE = 50
PAGE_PARAMETERS = ("sort", "page", "per_page", "account")
TITLE = "Payout EVSE assignment"


def _url_or_none(name, *args):
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _has_filters(data: QueryDict) -> bool:
    return any(value for key, value in data.items() if key not in PAGE_PARAMETERS)


def _evse_count(count: int) -> str:
    return f"{count:,} EVSE" if count == 1 else f"{count:,} EVSEs"


def _empty_text(*, mode, valid, has_filters):
    if not valid:
        return "Correct the filters above to see EVSEs."
    if has_filters:
        return "No EVSE matches these filters. Change them or clear the filters."
    if mode == "unassigned":
        return "Every EVSE is assigned to a payout account: nothing to do here."
    return "No EVSEs are assigned to this account. Assign some from the Unassigned EVSEs table."


def _table_tab_counts(tabs: list[PayoutAccount] | None = None) -> dict:
    """The counts on the "Unassigned EVSEs" and "Assigned EVSEs" tabs (capped at scale).

    Open assignments are counted per account by the database: their sum is exact and cheap (on
    the assigned page, the account tabs have read those counts already).
    """
    unassigned, unassigned_exact = capped_count(unassigned_entries())
    assigned = open_assignment_total() if tabs is None else sum(tab.open_count for tab in tabs)
    return {
        "unassigned_tab": {"count": unassigned, "exact": unassigned_exact},
        "assigned_tab": {"count": assigned, "exact": True},
    }


def _listing(request, *, filterset, table_class, context, paginator_class=DeferredJoinPaginator):
    """Filter, sort and paginate one table; invalid filters show their errors and no rows."""
    valid = filterset.is_valid()
    evses = filterset.qs if valid else filterset.queryset.none()
    can_change = request.user.has_perm(ASSIGN_PERMISSION)
    table = table_class(
        evses,
        exclude=() if can_change else ("evse",),
        prepare_records=attach_unassigned_cdr_totals,
    )
    has_filters = _has_filters(request.GET)
    filters = request.GET.copy()
    if context.get("account"):
        filters["account"] = context["account"].pk
    table.empty_text = _empty_text(mode=context["mode"], valid=valid, has_filters=has_filters)
    paginate_table(request, table, paginator_class=paginator_class)
    context |= {
        "title": TITLE,
        "filterset": filterset,
        "filters_valid": valid,
        "has_filters": has_filters,
        "table": table,
        "total": table.paginator.count,
        "can_change": can_change,
        "filters": filters.urlencode(),
    } | _table_tab_counts(context.get("tabs"))
    return render_listing(request, "evse_payout/assignment_evses.html", context)


@permission_required(VIEW_PERMISSION, raise_exception=True)
def evses_unassigned(request):
    filterset = UnassignedEVSEFilterSet(request.GET, queryset=unassigned_evses())
    # Counted and paged on the narrow table of unassigned EVSEs; the page's EVSEs loaded by key.
    entries = UnassignedEntryFilterSet(queryset=unassigned_entries())
    keys = (
        entries.matching(filterset.form.cleaned_data)
        if filterset.is_valid()
        else entries.queryset.none()
    )

    return _listing(
        request,
        filterset=filterset,
        table_class=UnassignedEVSETable,
        context={"mode": "unassigned", "list_url": reverse("evse_payout:evses_unassigned")},
        paginator_class=partial(KeyedPaginator, keys=keys, key_order=unassigned_entry_order),
    )


@permission_required(VIEW_PERMISSION, raise_exception=True)
def evses_assigned(request):
    tabs = assignment_tabs()
    account = next((tab for tab in tabs if str(tab.pk) == request.GET.get("account")), None)
    account = account or (tabs[0] if tabs else None)
    context = {
        "mode": "assigned",
        "tabs": tabs,
        "account": account,
        "list_url": reverse("evse_payout:evses_assigned"),
        "account_create_url": _url_or_none("evse_payout:account_create"),
    }
    if account is None:
        context |= {"title": TITLE, "table": None} | _table_tab_counts(tabs)
        return render(request, "evse_payout/assignment_evses.html", context)
    filterset = AssignedEVSEFilterSet(request.GET, queryset=assigned_evses(account_id=account.pk))
    return _listing(request, filterset=filterset, table_class=AssignedEVSETable, context=context)


def _back(list_name: str, selection: EVSESelectionForm) -> HttpResponseRedirect:
    """Back to the table with the filters (and page) it was posted from."""
    filters = selection.cleaned_data.get("filters", "") if selection.is_bound else ""
    query = QueryDict(filters or "").urlencode()
    return redirect(reverse(f"evse_payout:{list_name}") + (f"?{query}" if query else ""))


def _selected_evses(selection: EVSESelectionForm, *, checked_among, matching):
    """The selected EVSEs in EVSE ID order; None when a re-posted filter is no longer valid."""
    evses = resolve_selection(selection, checked_among=checked_among, matching=matching)
    return None if evses is None else evses.order_by("evse_id", "pk")


def _read_selection(request, *, list_name, data=None):
    """Validate the posted selection; on a problem, a message and the redirect to return."""
    selection = EVSESelectionForm(request.POST if data is None else data)
    if not selection.is_valid():
        messages.error(
            request, " ".join(error for errors in selection.errors.values() for error in errors)
        )
        return selection, _back(list_name, selection)
    return selection, None


def _confirmation_context(selection, evses, *, list_name, expected_count=None):
    sample = list(evses.select_related("location", "location__owner")[:CONFIRMATION_SAMPLE])
    count = len(sample) if len(sample) < CONFIRMATION_SAMPLE else evses.count()
    return {
        "selection": selection,
        "sample": sample,
        "count": count,
        "more": count - len(sample),
        "select_across": selection.cleaned_data["select_across"],
        "expected_count": count if selection.cleaned_data["select_across"] else expected_count,
        "evse_ids": selection.cleaned_data["evse"],
        "filters": selection.cleaned_data["filters"],
        "back_url": _back(list_name, selection).url,
    }


def _picker_url(selection: EVSESelectionForm) -> str:
    """The account picker for this same selection as a GET URL (to come back after creating)."""
    data = selection.cleaned_data
    query = QueryDict(mutable=True)
    query.setlist("evse", [str(pk) for pk in data["evse"]])
    if data["select_across"]:
        query["select_across"] = "1"
    query["filters"] = data["filters"] or ""
    return f"{reverse('evse_payout:evses_assign')}?{query.urlencode()}"


def _account_create_url(selection, owner_id) -> str | None:
    """ "Create payout account" for this owner, coming back to the picker with the selection."""
    url = _url_or_none("evse_payout:account_create")
    if url is None:
        return None
    query = QueryDict(mutable=True)
    if owner_id:
        query["holder"] = str(owner_id)
    query["next"] = _picker_url(selection)
    return f"{url}?{query.urlencode()}"


def _assign_confirmed(request, selection, evses):
    """ "Confirm" on the confirmation page: one service call, a message with the next step."""
    try:
        result = assign_evses(
            evses=evses,
            account_id=_posted_int(request.POST.get("account")),
            actor=request.user,
            expected_count=selection.cleaned_data["expected_count"]
            if selection.cleaned_data["select_across"]
            else None,
        )
    except AssignmentError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{_evse_count(result.count)} assigned to {result.account.name}")
        _next_step_message(request, account_id=result.account.pk)
    return _back("evses_unassigned", selection)


def _next_step_message(request, *, account_id: int) -> None:
    """After assigning: how many CDRs of the account's EVSEs wait for a re-rate, and the link."""
    query = QueryDict(mutable=True)
    query.update(
        {
            "status": CDRStatus.NOT_INVOICEABLE,
            "reason": CDRReason.EVSE_UNASSIGNED,
            "assigned_to": str(account_id),
        }
    )
    waiting = filter_cdrs(query).qs.count()
    if not waiting:
        return
    url = f"{reverse('evse_payout:cdr_list')}?{query.urlencode()}"
    messages.info(
        request,
        format_html(
            '{} of their CDRs cannot be invoiced until re-rated. <a href="{}">Re-rate them in '
            "the CDR overview</a>.",
            format_count(waiting),
            url,
        ),
    )


def _single_owner(request, selection, evses):
    """(owner_id, owner_name) of the selection, or a redirect with the reason it has none."""
    owners = selection_owners(evses)
    if not owners:
        messages.error(request, "None of the selected EVSEs exists any more. Nothing was assigned.")
        return None, _back("evses_unassigned", selection)
    if len(owners) > 1:
        names = sorted(name or CPO_OWN_LABEL for _, name in owners)
        messages.error(
            request,
            f"The selected EVSEs belong to different owners ({', '.join(names)}). "
            "Select EVSEs of one owner at a time.",
        )
        return None, _back("evses_unassigned", selection)
    return owners[0], None


def _account_form(data, accounts) -> PayoutAccountChoiceForm:
    """The picker; the only compatible account comes preselected."""
    if "account" in data:
        return PayoutAccountChoiceForm(data, accounts=accounts)
    only = list(accounts[:2])
    initial = {"account": only[0]} if len(only) == 1 else None
    return PayoutAccountChoiceForm(initial=initial, accounts=accounts)


@permission_required(ASSIGN_PERMISSION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def evses_assign(request):
    """Assign EVSEs: the table posts here, then the account picker, then the confirmation.

    The picker also answers GET (the same selection in the query string), so "Create payout
    account" can bring the user back to it; only a POST with "confirm" changes anything.
    """
    data = request.POST if request.method == "POST" else request.GET
    selection, problem = _read_selection(request, list_name="evses_unassigned", data=data)
    if problem:
        return problem
    # Checked rows are looked up among all EVSEs, so one assigned meanwhile is named as the blocker.
    evses = _selected_evses(
        selection,
        checked_among=EVSE.objects.all(),
        matching=lambda filters: UnassignedEVSEFilterSet(filters, queryset=unassigned_evses()),
    )
    if evses is None:
        messages.error(request, "The filters are not valid any more; correct them and try again.")
        return _back("evses_unassigned", selection)
    if request.method == "POST" and request.POST.get("confirm"):
        return _assign_confirmed(request, selection, evses)

    owner, problem = _single_owner(request, selection, evses)
    if problem:
        return problem
    owner_id, owner_name = owner
    accounts = compatible_accounts(owner_id=owner_id)
    account_form = _account_form(data, accounts)
    context = _confirmation_context(selection, evses, list_name="evses_unassigned") | {
        "title": "Select a payout account",
        "has_accounts": accounts.exists(),
        "owner_name": owner_name or CPO_OWN_LABEL,
        "owner_id": owner_id,
        "account_form": account_form,
        "list_url": reverse("evse_payout:evses_unassigned"),
        "account_create_url": _account_create_url(selection, owner_id),
    }
    if account_form.is_bound and account_form.is_valid():
        context |= {
            "title": "Confirm assignment",
            "action": "assign",
            "account": account_form.cleaned_data["account"],
            "action_url": reverse("evse_payout:evses_assign"),
        }
        return render(request, "evse_payout/assignment_confirm.html", context)
    return render(request, "evse_payout/assignment_pick_account.html", context)


@permission_required(ASSIGN_PERMISSION, raise_exception=True)
@require_POST
def evses_unassign(request):
    """Unassign EVSEs from the account of the current tab: confirmation, then "Confirm"."""
    selection, problem = _read_selection(request, list_name="evses_assigned")
    if problem:
        return problem
    account = get_object_or_404(PayoutAccount, pk=_posted_int(request.POST.get("account")))
    evses = _selected_evses(
        selection,
        checked_among=assigned_evses(account_id=account.pk),
        matching=lambda data: AssignedEVSEFilterSet(
            data, queryset=assigned_evses(account_id=account.pk)
        ),
    )
    if evses is None:
        messages.error(request, "The filters are not valid any more; correct them and try again.")
        return _back("evses_assigned", selection)

    if request.POST.get("confirm"):
        try:
            count = unassign_evses(evses=evses, actor=request.user, account_id=account.pk)
        except AssignmentError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"{_evse_count(count)} unassigned from {account.name}")
        return _back("evses_assigned", selection)

    context = _confirmation_context(selection, evses, list_name="evses_assigned") | {
        "title": "Confirm unassignment",
        "action": "unassign",
        "account": account,
        "action_url": reverse("evse_payout:evses_unassign"),
        "list_url": reverse("evse_payout:evses_assigned") + f"?account={account.pk}",
    }
    if not context["count"]:
        messages.error(request, "None of the selected EVSEs is assigned to this account any more.")
        return _back("evses_assigned", selection)
    return render(request, "evse_payout/assignment_confirm.html", context)


def _posted_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


urlpatterns = [
    path("assignment/", evses_unassigned, name="evses_unassigned"),
    path("assignment/assigned/", evses_assigned, name="evses_assigned"),
    path("assignment/assign/", evses_assign, name="evses_assign"),
    path("assignment/unassign/", evses_unassign, name="evses_unassign"),
]
