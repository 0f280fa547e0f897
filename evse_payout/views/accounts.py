"""The "Payout accounts" pages: list, create, edit (with the account's audit trail),
deactivate and reactivate. Every change goes through a service."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST
from django_filters.views import FilterView
from django_tables2 import SingleTableMixin

from ..forms.accounts import PayoutAccountForm
from ..models import PayoutAccount, SubCPO
from ..money import format_money
from ..selectors.accounts import (
    PayoutAccountFilter,
    account_audit_events,
    payout_accounts_with_evse_counts,
)
from ..selectors.invoicing import open_balance, unsettled_cdrs
from ..services.accounts import PayoutAccountError, create_payout_account, update_payout_account
from ..services.assignments import (
    AssignmentError,
    deactivate_payout_account,
    open_assignment_count,
    reactivate_payout_account,
)
from ..services.invoicing import settle_account
from ..tables.accounts import PayoutAccountTable, grouped_iban

VIEW_PERM = "evse_payout.view_payoutaccount"
CHANGE_PERM = "evse_payout.change_payoutaccount"
RUN_PERM = "evse_payout.add_invoicerun"


def _require_change_permission(request):
    if not request.user.has_perm(CHANGE_PERM):
        raise PermissionDenied("Changing payout accounts needs the Finance role.")


def _safe_next(request) -> str:
    """The local URL to return to after the action (`?next=`), or "" when absent or unsafe."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


class AccountListView(PermissionRequiredMixin, SingleTableMixin, FilterView):
    permission_required = VIEW_PERM
    raise_exception = True
    table_class = PayoutAccountTable
    filterset_class = PayoutAccountFilter
    template_name = "evse_payout/account_list.html"
    paginate_by = 50

    def get_queryset(self):
        return payout_accounts_with_evse_counts()

    def get_table_kwargs(self):
        return {"can_change": self.request.user.has_perm(CHANGE_PERM)}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["title"] = "Payout accounts"
        context["can_change"] = self.request.user.has_perm(CHANGE_PERM)
        context["is_filtered"] = any(
            self.filterset.data.get(name) for name in self.filterset.filters
        )
        table = context["table"]
        context["has_accounts"] = table.page.paginator.count > 0 or PayoutAccount.objects.exists()
        return context


def _form_kwargs_data(form) -> dict:
    return {name: form.cleaned_data[name] for name in form.Meta.fields}


def _apply_service_error(form, exc) -> None:
    if isinstance(exc, ValidationError):
        form.add_error(None, exc)
    else:
        form.add_error(exc.field, exc.message)


@permission_required(CHANGE_PERM, raise_exception=True)
@require_http_methods(["GET", "POST"])
def account_create(request):
    next_url = _safe_next(request)
    if request.method == "POST":
        form = PayoutAccountForm(request.POST)
        if form.is_valid():
            try:
                account = create_payout_account(**_form_kwargs_data(form), actor=request.user)
            except (PayoutAccountError, ValidationError) as exc:
                _apply_service_error(form, exc)
            else:
                messages.success(request, f"Payout account “{account.name}” created.")
                return redirect(next_url or reverse("evse_payout:account_list"))
    else:
        holder = request.GET.get("holder", "")
        initial = {}
        if holder.isdigit():
            initial["holder"] = SubCPO.objects.filter(pk=holder, is_active=True).first()
            if initial["holder"] is not None:
                initial["account_holder_name"] = initial["holder"].name
                initial["vat_number"] = initial["holder"].vat_number
        form = PayoutAccountForm(initial=initial)
    return render(
        request,
        "evse_payout/account_form.html",
        {
            "title": "Create payout account",
            "form": form,
            "next_url": next_url,
            "cancel_url": next_url or reverse("evse_payout:account_list"),
            "can_change": True,
        },
    )


@permission_required(VIEW_PERM, raise_exception=True)
@require_http_methods(["GET", "POST"])
def account_edit(request, pk):
    """The account's page: its form (read-only without the Finance role) and its audit trail."""
    account = get_object_or_404(PayoutAccount.objects.select_related("holder"), pk=pk)
    can_change = request.user.has_perm(CHANGE_PERM)
    next_url = _safe_next(request)
    if request.method == "POST":
        _require_change_permission(request)
        form = PayoutAccountForm(request.POST, instance=PayoutAccount.objects.get(pk=pk))
        if form.is_valid():
            try:
                updated = update_payout_account(
                    account=account, **_form_kwargs_data(form), actor=request.user
                )
            except (PayoutAccountError, ValidationError) as exc:
                _apply_service_error(form, exc)
            else:
                messages.success(request, f"Payout account “{updated.name}” saved.")
                return redirect(next_url or reverse("evse_payout:account_list"))
    else:
        form = PayoutAccountForm(instance=account)
    if not can_change:
        for field in form.fields.values():
            field.disabled = True
    return render(
        request,
        "evse_payout/account_form.html",
        {
            "title": f"Payout account “{account.name}”",
            "account": account,
            "form": form,
            "next_url": next_url,
            "cancel_url": next_url or reverse("evse_payout:account_list"),
            "can_change": can_change,
            "iban_display": grouped_iban(account.iban),
            "evse_count": open_assignment_count(account),
            "audit_events": account_audit_events(account),
            "open_balance": _open_balance_context(account),
        },
    )


def _open_balance_context(account: PayoutAccount) -> dict | None:
    statement = open_balance(account)
    if statement is None:
        return None
    return {"statement": statement, "amount": format_money(statement.payable, account.currency)}


@permission_required(CHANGE_PERM, raise_exception=True)
@permission_required(RUN_PERM, raise_exception=True)
@require_POST
def account_settle(request, pk):
    """Settle before deactivating: an invoice run for this account alone, up to today."""
    account = get_object_or_404(PayoutAccount, pk=pk)
    summary = settle_account(account=account, actor=request.user)
    if not summary.statements:
        messages.info(request, f"“{account.name}” has no rated CDR to invoice; nothing was run.")
        return redirect("evse_payout:account_deactivate", pk=account.pk)
    messages.success(
        request,
        f"Invoice run {summary.run_id} drafted the statement of “{account.name}” with "
        f"{summary.cdr_count:,} CDRs. Finalize it, then deactivate the account.",
    )
    return redirect("evse_payout:invoice_run_detail", pk=summary.run_id)


@permission_required(CHANGE_PERM, raise_exception=True)
@require_http_methods(["GET", "POST"])
def account_deactivate(request, pk):
    account = get_object_or_404(PayoutAccount, pk=pk)
    if request.method == "POST":
        try:
            count = deactivate_payout_account(account=account, actor=request.user)
        except AssignmentError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                f"“{account.name}” deactivated; {count:,} EVSE{'s' if count != 1 else ''} "
                "unassigned.",
            )
        return redirect(_safe_next(request) or reverse("evse_payout:account_list"))
    if not account.is_active:
        messages.info(request, f"“{account.name}” is already inactive.")
        return redirect("evse_payout:account_list")
    return render(
        request,
        "evse_payout/account_confirm_deactivate.html",
        {
            "title": "Deactivate payout account",
            "account": account,
            "evse_count": open_assignment_count(account),
            "unsettled": unsettled_cdrs(account),
            "can_settle": request.user.has_perm(RUN_PERM),
            "next_url": _safe_next(request),
        },
    )


@permission_required(CHANGE_PERM, raise_exception=True)
@require_http_methods(["GET", "POST"])
def account_reactivate(request, pk):
    account = get_object_or_404(PayoutAccount, pk=pk)
    if request.method == "POST":
        try:
            reactivate_payout_account(account=account, actor=request.user)
        except AssignmentError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                f"“{account.name}” reactivated; it can receive new assignments again.",
            )
        return redirect(_safe_next(request) or reverse("evse_payout:account_list"))
    if account.is_active:
        messages.info(request, f"“{account.name}” is already active.")
        return redirect("evse_payout:account_list")
    return render(
        request,
        "evse_payout/account_confirm_reactivate.html",
        {
            "title": "Reactivate payout account",
            "account": account,
            "next_url": _safe_next(request),
        },
    )


urlpatterns = [
    path("accounts/", AccountListView.as_view(), name="account_list"),
    path("accounts/new/", account_create, name="account_create"),
    path("accounts/<int:pk>/", account_edit, name="account_edit"),
    path("accounts/<int:pk>/deactivate/", account_deactivate, name="account_deactivate"),
    path("accounts/<int:pk>/reactivate/", account_reactivate, name="account_reactivate"),
    path("accounts/<int:pk>/settle/", account_settle, name="account_settle"),
]
