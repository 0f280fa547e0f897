"""The CDR overview table: newest first, only the indexed end time sorts, ends with the pk."""

import django_tables2 as tables
from django.utils.html import format_html

from ..models import CDRStatus
from ..money import format_money
from .lean import DateTimeColumn, LeanTable

EMPTY_TEXT = (
    "No CDRs match these filters. Clear or widen the filters; new CDRs arrive over OCPI or with "
    "the import_cdrs command."
)


class CDRTable(LeanTable):
    select = tables.CheckBoxColumn(
        accessor="pk",
        attrs={
            "th__input": {"data-check-all": "pk", "aria-label": "Select all CDRs on this page"},
        },
    )
    end = DateTimeColumn(
        verbose_name="End",
        accessor="end_date_time",
        order_by=("end_date_time", "pk"),
    )
    cdr_id = tables.Column(
        verbose_name="CDR id",
        orderable=False,
        linkify=lambda record, table: table.url_by_pk("evse_payout:cdr_detail")(record.pk),
    )
    evse_id = tables.Column(verbose_name="EVSE ID", accessor="evse_id_raw", orderable=False)
    city = tables.Column(verbose_name="Location / City", accessor="location", orderable=False)
    energy = tables.Column(
        verbose_name="kWh",
        accessor="total_energy",
        orderable=False,
        attrs={"td": {"class": "num"}, "th": {"class": "num"}},
    )
    total = tables.Column(
        verbose_name="Total excl. VAT",
        accessor="total_cost_excl_vat",
        order_by=("total_cost_excl_vat", "-end_date_time", "-pk"),
        attrs={"td": {"class": "num"}, "th": {"class": "num"}},
    )
    status = tables.Column(verbose_name="Status", orderable=False)
    reason = tables.Column(verbose_name="Reason", orderable=False, empty_values=())
    account = tables.Column(
        verbose_name="Payout account", accessor="payout_account", orderable=False, default="—"
    )
    fee = tables.Column(
        verbose_name="Fee",
        orderable=False,
        empty_values=(),
        attrs={"td": {"class": "num"}, "th": {"class": "num"}},
    )
    payout = tables.Column(
        verbose_name="Payout",
        orderable=False,
        empty_values=(),
        attrs={"td": {"class": "num"}, "th": {"class": "num"}},
    )

    class Meta:
        order_by = ("-end",)
        attrs = {"id": "result_list", "class": "cdr-table"}
        empty_text = EMPTY_TEXT
        fields = ()

    def render_select(self, value, record):
        return format_html(
            '<input type="checkbox" name="pk" value="{}" aria-label="Select CDR {}" />',
            value,
            record.cdr_id,
        )

    def render_evse_id(self, value, record):
        if record.evse_id is None:
            return format_html('{} <span class="quiet">(unknown EVSE)</span>', value or "—")
        return format_html(
            '<a href="{}">{}</a>',
            self.url_by_pk("evse_payout:evse_detail")(record.evse_id),
            record.evse.evse_id,
        )

    def render_city(self, value, record):
        return format_html("{} / {}", value.name or value.location_id, value.city)

    def render_energy(self, value):
        return f"{value:,.3f}"

    def render_total(self, value, record):
        return format_money(value, record.currency)

    def render_status(self, value, record):
        label = record.get_status_display()
        if record.credit:
            return format_html('{} <span class="quiet">(credit)</span>', label)
        return label

    def render_reason(self, value, record):
        if record.status != CDRStatus.NOT_INVOICEABLE or not value:
            return "—"
        return format_html(
            '<span title="{}">{}</span>', record.reason_detail, record.get_reason_display()
        )

    def render_fee(self, value, record):
        return format_money(value, record.currency)

    def render_payout(self, value, record):
        return format_money(value, record.currency)
