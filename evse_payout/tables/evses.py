"""The tables of the Payout EVSE assignment pages (django-tables2), and their paging rules."""

from functools import cache, cached_property
from urllib.parse import quote_plus

import django_tables2 as tables
from django.core.paginator import EmptyPage, Paginator
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from ..models import CDRReason, CDRStatus
from ..selectors.evses import attach_unassigned_cdr_totals
from ..validators import country_name
from .lean import DateTimeColumn, LeanTable

PER_PAGE_CHOICES = (25, 50, 100, 500)
# A page shows a handful of countries many times over; pycountry is asked once per country.
_country_name = cache(country_name)
CPO_OWN = "CPO (own)"


MAX_OFFSET = 2**31


def paginate_table(request, table, *, paginator_class=Paginator):
    """Sort and paginate `table` from the request: `sort`, `page` and `per_page` (one of the choices).

    Unlike django-tables2's RequestConfig this refuses page sizes outside `PER_PAGE_CHOICES`, so a
    hand-made URL cannot ask for a million rows. A page number out of range shows the last page.
    """
    table.request = request
    order_by = request.GET.getlist(table.prefixed_order_by_field)
    if order_by:
        table.order_by = order_by
    try:
        per_page = int(request.GET.get(table.prefixed_per_page_field, ""))
    except ValueError:
        per_page = PER_PAGE_CHOICES[0]
    if per_page not in PER_PAGE_CHOICES:
        per_page = PER_PAGE_CHOICES[0]
    table.per_page_choices = PER_PAGE_CHOICES
    try:
        page = int(request.GET.get(table.prefixed_page_field, 1))
    except ValueError:
        page = 1
    # Beyond MAX_OFFSET rows no table reaches; the cap keeps OFFSET inside a bigint.
    page = max(1, min(page, MAX_OFFSET // per_page + 1))
    try:
        table.paginate(paginator_class=paginator_class, per_page=per_page, page=page)
    except EmptyPage:
        # Out of range: the last page. A lazy paginator knows it only by counting, which only
        # a hand-made URL pays for.
        last = max(1, -(-len(table.data) // per_page))
        table.paginate(paginator_class=paginator_class, per_page=per_page, page=last)
    return table


def _evse_url(record, table):
    url = table.url_by_pk("evse_payout:evse_detail")
    return url(record.pk) if url else None


class UnassignedEVSETable(LeanTable):
    """Columns of DESIGN §4; only indexed columns sort, and every order ends with the primary key."""

    evse = tables.CheckBoxColumn(
        accessor="pk",
        attrs={
            "th__input": {"data-check-all": "evse", "aria-label": "Select all EVSEs on this page"},
            "td__input": {"aria-label": "Select EVSE"},
        },
    )
    evse_id = tables.Column(verbose_name="EVSE ID", order_by=("evse_id", "pk"), linkify=_evse_url)
    sub_cpo = tables.Column(
        verbose_name="Sub-CPO", accessor="location__owner__name", default=CPO_OWN, orderable=False
    )
    output = tables.Column(
        verbose_name="Output",
        accessor="output_kw",
        order_by=("output_kw", "pk"),
        attrs={"td": {"class": "num"}},
    )
    power_type = tables.Column(verbose_name="Power type", order_by=("power_type", "pk"))
    address = tables.Column(verbose_name="Address", accessor="location__address", orderable=False)
    postal_code = tables.Column(
        verbose_name="Postal code",
        accessor="location__postal_code",
        order_by=("location__postal_code", "pk"),
    )
    city = tables.Column(
        verbose_name="City", accessor="location__city", order_by=("location__city", "pk")
    )
    country = tables.Column(
        verbose_name="Country",
        accessor="location__country",
        order_by=("location__country", "pk"),
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

    def prepare_records(self, records):
        attach_unassigned_cdr_totals(records)

    def render_output(self, value):
        return f"{value:,.2f} kW"

    def render_country(self, value):
        return _country_name(value)

    def render_unassigned_cdr_count(self, value, record):
        if not value:
            return "0"
        return format_html(
            '<a href="{}{}">{}</a>',
            self.unassigned_cdrs_url,
            quote_plus(record.evse_id),
            f"{value:,}",
        )

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
        return f"{value:,.2f} {record.unassigned_cdr_currency}"


class AssignedEVSETable(UnassignedEVSETable):
    """The EVSEs of one payout account, with when and by whom they were assigned."""

    assigned_since = DateTimeColumn(
        verbose_name="Assigned since", format="Y-m-d H:i", orderable=False
    )
    assigned_by_name = tables.Column(verbose_name="Assigned by", orderable=False, default="—")

    class Meta(UnassignedEVSETable.Meta):
        sequence = ("evse", "evse_id", "...", "assigned_since", "assigned_by_name")
