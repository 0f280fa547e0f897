"""Filters of the Payout EVSE assignment tables: GET parameters, bookmarkable, labelled fields."""

import re

import django_filters
from django import forms

from ..models import CPO_OWN_LABEL, EVSE, Location, PowerType, SubCPO, UnassignedEVSE
from ..validators import country_name, normalize_evse_id

OWN_EVSES = "own"
EVSE_ID_LIST_SEPARATORS = re.compile(r"[\s,;]+")


def sub_cpo_choices():
    return [(OWN_EVSES, CPO_OWN_LABEL)] + [
        (str(pk), name)
        for pk, name in SubCPO.objects.order_by("name", "pk").values_list("pk", "name")
    ]


def country_choices():
    """The countries that have locations (a handful), shown by name."""
    codes = Location.objects.order_by().values_list("country", flat=True).distinct()
    return sorted(((code, country_name(code)) for code in codes), key=lambda choice: choice[1])


def parse_evse_id_list(value: str) -> list[str]:
    """A pasted list of EVSE IDs (separated by commas, spaces or new lines), upper-cased."""
    return [normalize_evse_id(item) for item in EVSE_ID_LIST_SEPARATORS.split(value) if item]


class OutputRangeWidget(django_filters.widgets.RangeWidget):
    """Two number inputs (min and max kW), each with its own accessible name."""

    def __init__(self, attrs=None):
        super().__init__({"type": "number", "step": "any", "min": "0"} | (attrs or {}))
        for widget, bound in zip(self.widgets, ("from", "to"), strict=True):
            widget.attrs |= {"aria-label": f"Output {bound} (kW)", "placeholder": f"{bound} kW"}


class EVSEFilterSet(django_filters.FilterSet):
    """The filters of the "Unassigned EVSEs" table."""

    evse_id = django_filters.CharFilter(
        label="EVSE ID",
        method="filter_evse_id",
        widget=forms.TextInput(attrs={"placeholder": "part of an ID, or a pasted list"}),
        help_text="Part of an EVSE ID, or a list of IDs separated by commas, spaces or new lines.",
    )
    sub_cpo = django_filters.ChoiceFilter(
        label="Sub-CPO",
        choices=sub_cpo_choices,
        method="filter_sub_cpo",
        empty_label="All",
    )
    output = django_filters.RangeFilter(
        label="Output",
        field_name="output_kw",
        widget=OutputRangeWidget,
        help_text="From – to, in kW.",
    )
    power_type = django_filters.MultipleChoiceFilter(
        label="Power type",
        choices=PowerType.choices,
        distinct=False,  # a column of the row itself: no join can repeat a row
        widget=forms.CheckboxSelectMultiple,
    )
    country = django_filters.ChoiceFilter(
        label="Country",
        field_name="location__country",
        choices=country_choices,
        empty_label="All",
    )
    city = django_filters.CharFilter(
        label="City", field_name="location__city", lookup_expr="istartswith"
    )
    postal_code = django_filters.CharFilter(
        label="Postal code", field_name="location__postal_code", lookup_expr="startswith"
    )

    class Meta:
        model = EVSE
        fields = ()

    # Where the filters look, so the same filters serve other rows than EVSEs: the EVSE's own
    # fields (output, power type) under `evse_path`, its EVSE ID in `evse_id_field`, and the
    # location filters (Sub-CPO, country, city, postal code) under `location_path`.
    evse_path = ""
    evse_id_field = "evse_id"
    location_path = "location"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        evse_fields = {field.name for field in EVSE._meta.concrete_fields} - {"location"}
        for filter_ in self.filters.values():  # a copy per instance
            name = filter_.field_name
            if name.startswith("location__"):
                filter_.field_name = self.location_path + name[len("location") :]
            elif name.split("__")[0] in evse_fields:
                filter_.field_name = self.evse_path + name

    def filter_evse_id(self, queryset, name, value):
        ids = parse_evse_id_list(value)
        if len(ids) >= 2:
            return queryset.filter(**{f"{self.evse_id_field}__in": ids})
        if not ids:
            return queryset
        return queryset.filter(**{f"{self.evse_id_field}__icontains": ids[0]})

    def filter_sub_cpo(self, queryset, name, value):
        if value == OWN_EVSES:
            return queryset.filter(**{f"{self.location_path}__owner__isnull": True})
        return queryset.filter(**{f"{self.location_path}__owner_id": value})


class UnassignedEVSEFilterSet(EVSEFilterSet):
    """The filters of the "Unassigned EVSEs" table, on `unassigned_evses()`.

    The location filters look at the location copied into the narrow table of unassigned EVSEs
    (the same location): PostgreSQL then goes from the matching locations to their unassigned
    EVSEs on that table's index, not through every EVSE of those locations.
    """

    location_path = "unassigned_entry__location"


class UnassignedEntryFilterSet(EVSEFilterSet):
    """The same filters over the narrow table of unassigned EVSEs (`unassigned_entries()`).

    It counts the matching EVSEs and finds a page's keys without reading the EVSE rows unless a
    filter or the sort needs them; the page's EVSEs are then loaded by key.
    """

    evse_path = "evse__"
    evse_id_field = "evse_code"

    class Meta(EVSEFilterSet.Meta):
        model = UnassignedEVSE

    def matching(self, cleaned_data: dict):
        """The rows matching filters another filterset has validated (no second validation,
        which would read the Sub-CPO and country choices again)."""
        queryset = self.queryset.all()
        for name, value in cleaned_data.items():
            queryset = self.filters[name].filter(queryset, value)
        return queryset


class AssignedEVSEFilterSet(EVSEFilterSet):
    """The same filters plus when and by whom the open assignment was made."""

    assigned_since = django_filters.DateFilter(
        label="Assigned since",
        field_name="open_assignment__assigned_at",
        lookup_expr="date__gte",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    assigned_by = django_filters.CharFilter(
        label="Assigned by",
        field_name="open_assignment__assigned_by__username",
        lookup_expr="iexact",
        help_text="User name.",
    )
