"""Tables of the invoice run pages: runs, a run's statements, a statement's lines."""

import django_tables2 as tables
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.html import format_html

from ..models import InvoiceStatus
from ..money import format_count, format_money
from ..services.invoicing import line_amounts

NUM = {"td": {"class": "num"}, "th": {"class": "num"}}


def statement_label(invoice) -> str:
    return invoice.number or "Draft"


class InvoiceRunTable(tables.Table):
    run = tables.Column(verbose_name="Run", accessor="pk", orderable=False)
    cutoff = tables.DateColumn(verbose_name="Cutoff", orderable=False, format="Y-m-d")
    created_at = tables.DateTimeColumn(verbose_name="Started", orderable=False)
    created_by_label = tables.Column(verbose_name="By", orderable=False)
    statements = tables.Column(verbose_name="Statements", accessor="pk", orderable=False, attrs=NUM)
    live_cdr_count = tables.Column(verbose_name="CDRs", orderable=False, attrs=NUM, empty_values=())
    live_payout = tables.Column(
        verbose_name="Net payout", orderable=False, attrs=NUM, empty_values=()
    )
    status = tables.Column(verbose_name="Status", accessor="pk", orderable=False)

    class Meta:
        attrs = {"id": "result_list"}
        empty_text = "No invoice runs yet — start a new invoice run."

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        zone = timezone.get_current_timezone_name()
        self.columns["created_at"].column.verbose_name = f"Started ({zone})"

    def render_run(self, record):
        url = reverse("evse_payout:invoice_run_detail", args=[record.pk])
        return format_html('<a href="{}">Run {}</a>', url, record.pk)

    def render_statements(self, record):
        return format_count(record.draft_count + record.final_count)

    def render_live_cdr_count(self, value):
        return format_count(value)

    def render_live_payout(self, value, record):
        if not record.currency:
            return "—"
        if record.currency_count > 1:
            return "several currencies"
        return format_money(value, record.currency)

    def render_status(self, record):
        parts = [
            f"{count:,} {label}"
            for count, label in (
                (record.draft_count, "draft"),
                (record.final_count, "final"),
                (record.discarded_count, "discarded"),
            )
            if count
        ]
        return ", ".join(parts) or "No statements"


class StatementTable(tables.Table):
    statement = tables.Column(verbose_name="Statement", accessor="pk", orderable=False)
    account = tables.Column(
        verbose_name="Payout account", accessor="payout_account__name", orderable=False
    )
    status = tables.Column(verbose_name="Status", orderable=False)
    cdr_count = tables.Column(verbose_name="CDRs", orderable=False, attrs=NUM)
    total_excl_vat = tables.Column(verbose_name="Collected excl. VAT", orderable=False, attrs=NUM)
    total_fees = tables.Column(verbose_name="Fees", orderable=False, attrs=NUM)
    net_payout = tables.Column(verbose_name="Net payout", orderable=False, attrs=NUM)
    links = tables.Column(verbose_name="Downloads", accessor="pk", orderable=False)

    class Meta:
        attrs = {"id": "result_list"}
        empty_text = "This run found no CDR to invoice."
        row_attrs = {"class": lambda record: f"statement-{record.status}"}

    def render_statement(self, record):
        url = reverse("evse_payout:invoice_detail", args=[record.pk])
        # Named by the account too: a run's drafts all read "Draft" otherwise.
        return format_html(
            '<a href="{}">{} — {}</a>', url, statement_label(record), record.payout_account.name
        )

    def render_status(self, record):
        return record.get_status_display()

    def render_cdr_count(self, value):
        return format_count(value)

    def render_total_excl_vat(self, value, record):
        return format_money(value, record.currency)

    def render_total_fees(self, value, record):
        return format_money(value, record.currency)

    def render_net_payout(self, value, record):
        return format_money(value, record.currency)

    def render_links(self, record):
        if record.status == InvoiceStatus.DISCARDED:
            return ""
        return format_html(
            '<a href="{}">Download CSV</a>', reverse("evse_payout:invoice_csv", args=[record.pk])
        )


class InvoiceLineTable(tables.Table):
    """A statement's lines at their own 4 decimals (the totals round once), credits negative."""

    date = tables.Column(accessor="end_date_time", orderable=False)
    cdr_id = tables.Column(verbose_name="CDR", orderable=False)
    evse = tables.Column(verbose_name="EVSE ID", accessor="evse_id_raw", orderable=False)
    location = tables.Column(
        verbose_name="Location", accessor="location", orderable=False, empty_values=()
    )
    total_energy = tables.Column(verbose_name="kWh", orderable=False, attrs=NUM)
    excl_vat = tables.Column(
        verbose_name="Collected excl. VAT", accessor="pk", orderable=False, attrs=NUM
    )
    incl_vat = tables.Column(
        verbose_name="Collected incl. VAT", accessor="pk", orderable=False, attrs=NUM
    )
    fee = tables.Column(verbose_name="Fee", accessor="pk", orderable=False, attrs=NUM)
    payout = tables.Column(verbose_name="Payout", accessor="pk", orderable=False, attrs=NUM)

    class Meta:
        attrs = {"id": "result_list", "class": "statement-lines"}
        empty_text = "This statement has no lines."
        row_attrs = {"class": lambda record: "credit" if record.credit else ""}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The page names the zone of its times once, in the column header.
        self.columns["date"].column.verbose_name = f"Ended ({timezone.get_current_timezone_name()})"

    def _amounts(self, record) -> dict:
        return line_amounts(
            record.currency,
            record.total_cost_excl_vat,
            record.total_cost_incl_vat,
            record.fee,
            record.payout,
        )

    def render_date(self, value):
        return date_format(timezone.localtime(value), "Y-m-d H:i")

    def render_evse(self, record):
        return record.evse.evse_id if record.evse_id else record.evse_id_raw

    def render_location(self, record):
        if record.location_id is None:
            return "—"
        location = record.location
        return ", ".join(part for part in (location.name, location.city) if part)

    def render_cdr_id(self, value, record):
        if not record.credit:
            return value
        original = record.credited_cdr
        if original is None:
            return format_html("{} (credit)", value)
        statement = original.statement
        if statement is not None and statement.number:
            # A credit of an original on an earlier, final statement names that statement.
            return format_html("{} (credit of {} on {})", value, original.cdr_id, statement.number)
        return format_html("{} (credit of {})", value, original.cdr_id)

    def render_total_energy(self, value):
        return number_format(value, 3, force_grouping=True)

    def render_excl_vat(self, record):
        return format_money(self._amounts(record)["excl_vat"], record.currency, line=True)

    def render_incl_vat(self, record):
        return format_money(self._amounts(record)["incl_vat"], record.currency, line=True)

    def render_fee(self, record):
        return format_money(self._amounts(record)["fee"], record.currency, line=True)

    def render_payout(self, record):
        return format_money(self._amounts(record)["payout"], record.currency, line=True)
