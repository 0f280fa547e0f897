"""Template filters for the one way amounts and counts read (evse_payout.money)."""

from django import template

from ..money import format_count, format_money

register = template.Library()


@register.filter
def money(amount, currency):
    """`{{ cdr.fee|money:cdr.currency }}` → `1,234.50 EUR`."""
    return format_money(amount, currency)


@register.filter
def count(number):
    """`{{ total|count }}` → `7,880`; an unknown number stays empty, so `|default:"—"` applies."""
    return "" if number is None or number == "" else format_count(number)


@register.filter
def line_money(amount, currency):
    """`{{ cdr.fee|line_money:cdr.currency }}` → `1,234.5025 EUR`: a line keeps its 4 decimals."""
    return format_money(amount, currency, line=True)
