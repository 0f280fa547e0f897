"""The "Payout accounts" table."""

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from ..models import PayoutAccount

EVSE_COUNT_TEMPLATE = """{% load humanize %}{% url 'evse_payout:evses_assigned' as assigned_url %}
{% if assigned_url %}<a href="{{ assigned_url }}?account={{ record.pk }}"
  title="Assigned EVSEs of “{{ record.name }}”">{{ value|intcomma }}</a>{% else %}{{ value|intcomma }}{% endif %}"""


def grouped_iban(iban: str) -> str:
    """The IBAN in groups of four characters, as printed on paper (BE68 5390 0754 7034)."""
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def fee_terms(account: PayoutAccount) -> str:
    return (
        f"{account.commission_percent:.2f} % + {account.fee_per_kwh} {account.currency}/kWh"
        f" + {account.fee_per_session:.2f} {account.currency}/session"
    )


class PayoutAccountTable(tables.Table):
    name = tables.Column(
        verbose_name="Name", linkify=("evse_payout:account_edit", {"pk": tables.A("pk")})
    )
    holder = tables.Column(
        verbose_name="Holder", accessor="holder_label", orderable=False, empty_values=()
    )
    account_holder_name = tables.Column(verbose_name="Account holder name", orderable=False)
    iban = tables.Column(verbose_name="IBAN", orderable=False, attrs={"td": {"class": "nowrap"}})
    currency = tables.Column(verbose_name="Currency", orderable=False)
    fee_terms = tables.Column(
        verbose_name="Fee terms", accessor="pk", orderable=False, empty_values=()
    )
    is_active = tables.Column(verbose_name="Status", orderable=False)
    evse_count = tables.TemplateColumn(
        EVSE_COUNT_TEMPLATE,
        verbose_name="Assigned EVSEs",
        orderable=False,
        attrs={"td": {"class": "num"}, "th": {"class": "num"}},
    )
    actions = tables.Column(verbose_name="Actions", accessor="pk", orderable=False, empty_values=())

    class Meta:
        model = PayoutAccount
        attrs = {"id": "result_list"}
        fields = ()
        sequence = (
            "name",
            "holder",
            "account_holder_name",
            "iban",
            "currency",
            "fee_terms",
            "is_active",
            "evse_count",
            "actions",
        )
        order_by = ("name",)
        empty_text = "No payout account matches these filters."

    def __init__(self, *args, can_change: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.can_change = can_change
        if not can_change:
            self.columns.hide("actions")

    def order_name(self, queryset, is_descending):
        # Names are unique, but the order still ends with the primary key.
        prefix = "-" if is_descending else ""
        return queryset.order_by(f"{prefix}name", f"{prefix}pk"), True

    def render_iban(self, value):
        return grouped_iban(value)

    def render_fee_terms(self, record):
        return fee_terms(record)

    def render_is_active(self, value):
        return "Active" if value else "Inactive"

    def render_actions(self, record):
        edit = reverse("evse_payout:account_edit", args=[record.pk])
        if record.is_active:
            toggle_url = reverse("evse_payout:account_deactivate", args=[record.pk])
            toggle_label = "Deactivate"
        else:
            toggle_url = reverse("evse_payout:account_reactivate", args=[record.pk])
            toggle_label = "Reactivate"
        return format_html(
            '<a href="{}">Edit</a> · <a href="{}">{}</a>', edit, toggle_url, toggle_label
        )
