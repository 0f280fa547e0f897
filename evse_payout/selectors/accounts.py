"""Reads for the payout account pages and the EVSE page, each a fixed number of queries."""

import django_filters
from django import forms
from django.db.models import Count, Prefetch, Q, QuerySet

from ..models import (
    CDR,
    CPO_OWN_LABEL,
    EVSE,
    Assignment,
    AuditEvent,
    CDRStatus,
    Connector,
    PayoutAccount,
    SubCPO,
)

OWN = "own"
AUDIT_EVENTS_SHOWN = 50


def payout_accounts_with_evse_counts() -> QuerySet:
    """Every payout account with `evse_count`, its open assignments, in the same query."""
    return (
        PayoutAccount.objects.select_related("holder")
        .annotate(
            evse_count=Count("assignments", filter=Q(assignments__unassigned_at__isnull=True))
        )
        .order_by("name", "pk")
    )


def _holder_choices():
    holders = SubCPO.objects.filter(payout_accounts__isnull=False).distinct().order_by("name", "pk")
    return [
        (OWN, CPO_OWN_LABEL),
        *((str(pk), name) for pk, name in holders.values_list("pk", "name")),
    ]


class PayoutAccountFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        label="Status",
        choices=[("active", "Active"), ("inactive", "Inactive")],
        empty_label="All",
        method="filter_status",
    )
    holder = django_filters.ChoiceFilter(
        label="Holder", choices=_holder_choices, empty_label="All", method="filter_holder"
    )
    name = django_filters.CharFilter(
        label="Name",
        lookup_expr="icontains",
        widget=forms.TextInput(attrs={"type": "search"}),
    )

    class Meta:
        model = PayoutAccount
        fields = ["status", "holder", "name"]

    def filter_status(self, queryset, name, value):
        return queryset.filter(is_active=value == "active")

    def filter_holder(self, queryset, name, value):
        if value == OWN:
            return queryset.filter(holder__isnull=True)
        return queryset.filter(holder_id=value)


def account_audit_events(account: PayoutAccount) -> list[AuditEvent]:
    """The newest audit events of the account (R7)."""
    return list(AuditEvent.objects.filter(payout_account=account)[:AUDIT_EVENTS_SHOWN])


def evse_for_page(pk: int) -> EVSE:
    return (
        EVSE.objects.select_related("location__owner")
        .prefetch_related(
            Prefetch("connectors", queryset=Connector.objects.order_by("connector_id", "pk"))
        )
        .get(pk=pk)
    )


def evse_assignment_history(evse: EVSE) -> QuerySet:
    """Every assignment of the EVSE, newest first, with whom and which account."""
    return (
        Assignment.objects.filter(evse=evse)
        .select_related("payout_account", "assigned_by", "unassigned_by")
        .order_by("-assigned_at", "-pk")
    )


def evse_cdr_counts(evse: EVSE) -> list[tuple[str, str, int]]:
    """(status, label, count) for each CDR status of the EVSE's CDRs, in the statuses' order."""
    counts = dict(
        CDR.objects.filter(evse=evse)
        .order_by()
        .values("status")
        .annotate(count=Count("pk"))
        .values_list("status", "count")
    )
    return [(status, label, counts.get(status, 0)) for status, label in CDRStatus.choices]
