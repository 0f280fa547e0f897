"""The one money formatter (issue 15/10): minor units, half-up, thousands, the currency code."""

from decimal import Decimal

import pytest

from evse_payout.money import format_count, format_money


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (Decimal("50.0400"), "EUR", "50.04 EUR"),
        (Decimal("1234567.005"), "EUR", "1,234,567.01 EUR"),
        (Decimal("-90"), "EUR", "-90.00 EUR"),
        (Decimal("1200.5"), "JPY", "1,201 JPY"),
        (Decimal("1.2345"), "KWD", "1.235 KWD"),
        (0, "CHF", "0.00 CHF"),
        (None, "EUR", "—"),
    ],
)
def test_format_money(amount, currency, shown):
    assert format_money(amount, currency) == shown


def test_format_count_groups_thousands():
    assert (format_count(7880), format_count(0), format_count(None)) == ("7,880", "0", "0")


def test_count_filter_leaves_an_unknown_number_to_default():
    from django.template import Context, Template

    template = Template('{% load display %}{{ known|count }} {{ unknown|count|default:"—" }}')

    assert template.render(Context({"known": 12345, "unknown": None})) == "12,345 —"
