"""Filters of the CDR overview; `rerate_cdrs` and the bulk "Rerate CDRs" use the same ones.

The query parameter names are agreed with other pages, which link here with them: `status`,
`reason`, `evse_id`, `account`, `sub_cpo`, `ended_after`, `ended_before`, `run`, `invoice`,
`assigned_to`.
"""

from datetime import UTC, datetime, time

import django_filters
from django import forms

from ..models import (
    CPO_OWN_LABEL,
    EVSE,
    Assignment,
    CDRReason,
    CDRStatus,
    InvoiceRun,
    PayoutAccount,
    SubCPO,
)
from ..selectors.cdrs import cdr_overview_queryset
from ..services.invoicing import left_out_cdrs
from ..validators import EVSE_ID_PATTERN, normalize_evse_id

OWN = "own"


def sub_cpo_choices():
    return [(OWN, CPO_OWN_LABEL)] + [
        (str(pk), name)
        for pk, name in SubCPO.objects.order_by("name", "pk").values_list("pk", "name")
    ]


def _start_of(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


class CDRFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        label="Status",
        choices=CDRStatus.choices,
        empty_label="All",
        method="filter_status",
    )
    reason = django_filters.ChoiceFilter(
        label="Reason",
        choices=[choice for choice in CDRReason.choices if choice[0]],
        empty_label="All",
        method="filter_reason",
    )
    evse_id = django_filters.CharFilter(
        label="EVSE ID",
        method="filter_evse_id",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "BE*BEC*E041503003"}),
        help_text="A whole EVSE ID matches exactly; part of one matches every EVSE ID with it.",
    )
    account = django_filters.ModelChoiceFilter(
        label="Payout account",
        field_name="payout_account",
        queryset=PayoutAccount.objects.order_by("name", "pk"),
        empty_label="All",
    )
    sub_cpo = django_filters.ChoiceFilter(
        label="Sub-CPO",
        choices=sub_cpo_choices,
        method="filter_sub_cpo",
        empty_label="All",
    )
    ended_after = django_filters.DateFilter(
        label="Ended on or after",
        method="filter_ended_after",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    ended_before = django_filters.DateFilter(
        label="Ended before",
        method="filter_ended_before",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Dates in UTC; the period includes its first day and excludes its last.",
    )
    run = django_filters.NumberFilter(
        label="Left out by invoice run", method="filter_run", widget=forms.HiddenInput
    )
    invoice = django_filters.NumberFilter(
        label="On statement", field_name="statement_line__invoice", widget=forms.HiddenInput
    )
    assigned_to = django_filters.NumberFilter(
        label="EVSE now assigned to payout account",
        method="filter_assigned_to",
        widget=forms.HiddenInput,
    )

    def filter_status(self, queryset, name, value):
        return queryset.with_status(value)

    def filter_reason(self, queryset, name, value):
        if self.form.cleaned_data.get("run"):
            return queryset  # with `run`, the reason is the run's reason to leave the CDR out
        return queryset.filter(reason=value)

    def filter_evse_id(self, queryset, name, value):
        evse_id = normalize_evse_id(value)
        if not evse_id:
            return queryset
        if EVSE_ID_PATTERN.match(evse_id):
            # A whole ID: the CDRs of that EVSE, and those of an unknown EVSE sent with that ID.
            evses = EVSE.objects.filter(evse_id=evse_id).values("pk")
            return queryset.filter(evse_id__in=evses) | queryset.filter(evse_id_raw=evse_id)
        evses = EVSE.objects.filter(evse_id__contains=evse_id).values("pk")
        return queryset.filter(evse_id__in=evses)

    def filter_sub_cpo(self, queryset, name, value):
        if value == OWN:
            evses = EVSE.objects.filter(location__owner__isnull=True)
        else:
            evses = EVSE.objects.filter(location__owner_id=value)
        return queryset.filter(evse_id__in=evses.values("pk"))

    def filter_ended_after(self, queryset, name, value):
        return queryset.filter(end_date_time__gte=_start_of(value))

    def filter_ended_before(self, queryset, name, value):
        return queryset.filter(end_date_time__lt=_start_of(value))

    def filter_assigned_to(self, queryset, name, value):
        """CDRs whose EVSE is assigned to the account now: after assigning, those to re-rate."""
        evses = Assignment.objects.open().filter(payout_account_id=value).values("evse_id")
        return queryset.filter(evse_id__in=evses)

    def filter_run(self, queryset, name, value):
        """The CDRs the run left out (by the run's own rule), under the chosen reason."""
        run = InvoiceRun.objects.filter(pk=value).first()
        if run is None:
            return queryset.none()
        excluded = left_out_cdrs(run)
        reason = self.form.cleaned_data.get("reason")
        if reason:
            excluded = excluded.filter(left_out_reason=reason)
        return queryset.filter(pk__in=excluded.values("pk"))


def filter_cdrs(data) -> CDRFilterSet:
    """The overview's filters applied to every CDR (also what a bulk re-rate re-resolves)."""
    return CDRFilterSet(data if data is not None else {}, queryset=cdr_overview_queryset())
