"""The payout account tabs of the "Assigned EVSEs" table, written in one Python pass.

At 200 accounts the template loop (a link, a count and two conditions per tab) cost more than
the page's query; this writes the same list items.
"""

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

from ..money import format_count

register = template.Library()


@register.simple_tag
def account_tabs(tabs, current):
    """`<li>` items: each account's name and open assignment count, the current one marked."""
    items = []
    for tab in tabs:
        is_current = tab == current
        label = f"{escape(tab.name)} ({format_count(tab.open_count)})"
        if not tab.is_active:
            label += " — inactive"
        item_class = ' class="active"' if is_current else ""
        aria = ' aria-current="page"' if is_current else ""
        items.append(f'<li{item_class}><a href="?account={int(tab.pk)}"{aria}>{label}</a></li>')
    return mark_safe("\n      ".join(items))
