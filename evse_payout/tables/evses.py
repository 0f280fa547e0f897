"""The tables of the Payout EVSE assignment pages (django-tables2)."""

from functools import cache, cached_property
from urllib.parse import quote_plus

import django_tables2 as tables
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from ..models import CPO_OWN_LABEL, CDRReason, CDRStatus
from ..money import format_count, format_money
from ..validators import country_name
from .lean import DateTimeColumn, LeanTable, escape

# A page shows a handful of countries many times over; pycountry is asked once per country.
_country_name = cache(country_name)


def _evse_url(record, table):
    url = table.url_by_pk("evse_payout:evse_detail")
    return url(record.pk) if url else None


class UnassignedEVSETable(LeanTable):
    """Columns of DESIGN §4; only indexed columns sort; ties go by EVSE ID, then the primary key."""

    evse = tables.CheckBoxColumn(
        accessor="pk",
        attrs={
            "th__input": {"data-check-all": "evse", "aria-label": "Select all EVSEs on this page"},
        },
    )
    # Sorted on the narrow table's copy of the EVSE ID and its index (the same order).
    evse_id = tables.Column(
        verbose_name="EVSE ID",
        order_by=("unassigned_entry__evse_code", "pk"),
        linkify=_evse_url,
    )
    sub_cpo = tables.Column(
        verbose_name="Sub-CPO",
        accessor="location__owner__name",
        default=CPO_OWN_LABEL,
        order_by=("location__owner__name", "evse_id", "pk"),
    )
    output = tables.Column(
        verbose_name="Output",
        accessor="output_kw",
        order_by=("output_kw", "evse_id", "pk"),
        attrs={"td": {"class": "num"}},
    )
    power_type = tables.Column(verbose_name="Power type", order_by=("power_type", "evse_id", "pk"))
    address = tables.Column(verbose_name="Address", accessor="location__address", orderable=False)
    postal_code = tables.Column(
        verbose_name="Postal code",
        accessor="location__postal_code",
        order_by=("location__postal_code", "evse_id", "pk"),
    )
    city = tables.Column(
        verbose_name="City", accessor="location__city", order_by=("location__city", "evse_id", "pk")
    )
    country = tables.Column(
        verbose_name="Country",
        accessor="location__country",
        order_by=("location__country", "evse_id", "pk"),
    )
    unassigned_cdr_count = tables.Column(
        verbose_name="Unassigned CDRs", orderable=False, attrs={"td": {"class": "num"}}
    )
    unassigned_cdr_amount = tables.Column(
        verbose_name="Unassigned CDR amount", orderable=False, attrs={"td": {"class": "num"}}
    )

    class Meta:
        order_by = ("evse_id",)
        attrs = {"id": "result_list", "class": "evse-table"}
        empty_text = "No EVSEs."
        fields = ()

    def __init__(self, *args, prepare_records=None, **kwargs):
        # The view passes the selector that completes a page's records (the CDR totals), so the
        # table layer does not reach into selectors.
        super().__init__(*args, **kwargs)
        self._prepare = prepare_records

    def prepare_records(self, records):
        if self._prepare is not None:
            self._prepare(records)

    def render_evse(self, value, record):
        """The row's checkbox, named by its EVSE ID and carrying its owner for the owner check."""
        owner = record.location.owner
        return SafeString(
            f'<input type="checkbox" name="evse" value="{escape(value)}"'
            f' aria-label="Select {escape(record.evse_id)}"'
            f' data-owner="{escape(owner.pk) if owner else "own"}"'
            f' data-owner-name="{escape(owner.name if owner else CPO_OWN_LABEL)}" />'
        )

    def render_output(self, value):
        return f"{value:,.2f} kW"

    def render_country(self, value):
        return _country_name(value)

    def render_unassigned_cdr_count(self, value, record):
        if not value:
            return "0"
        url = f"{self.unassigned_cdrs_url}{quote_plus(record.evse_id)}"
        return SafeString(f'<a href="{escape(url)}">{format_count(value)}</a>')

    @cached_property
    def unassigned_cdrs_url(self) -> str:
        """The CDR overview filtered to the unassigned-EVSE CDRs, to end with an EVSE ID."""
        query = urlencode(
            {"status": CDRStatus.NOT_INVOICEABLE, "reason": CDRReason.EVSE_UNASSIGNED}
        )
        return f"{reverse('evse_payout:cdr_list')}?{query}&evse_id="

    def render_unassigned_cdr_amount(self, value, record):
        if not record.unassigned_cdr_count:
            return "—"
        if record.unassigned_cdr_currencies > 1:
            return "mixed currencies"
        return format_money(value, record.unassigned_cdr_currency)


class AssignedEVSETable(UnassignedEVSETable):
    """The EVSEs of one payout account, with when and by whom they were assigned."""

    evse_id = tables.Column(verbose_name="EVSE ID", order_by=("evse_id", "pk"), linkify=_evse_url)
    assigned_since = DateTimeColumn(verbose_name="Assigned since", orderable=False)
    assigned_by_name = tables.Column(verbose_name="Assigned by", orderable=False, default="—")

    class Meta(UnassignedEVSETable.Meta):
        sequence = ("evse", "evse_id", "...", "assigned_since", "assigned_by_name")
