"""The one list-page pattern: sort, cap the page size, paginate with a count, htmx partials.

Every list page (EVSE tables, CDR overview, invoice runs, statement lines) goes through
`paginate_table`; pages with an htmx-refreshed listing render through `render_listing`, which
sends `Vary: HX-Request` so a cache never serves the partial as the whole page.
"""

from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db.models import Count, F, QuerySet, Value, Window
from django.db.models.functions import Least, RowNumber
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.functional import cached_property

PER_PAGE_CHOICES = (25, 50, 100, 500)
# Counting beyond this many rows costs more than the page itself at full scale; past it a page
# says "more than 10,000" and the pager offers the pages it can vouch for.
COUNT_CAP = 10_000
# No list has this many rows; an offset beyond it would overflow a database integer.
MAX_OFFSET = 2**53


def capped_count(queryset, cap: int | None = None) -> tuple[int, bool]:
    """(count, exact): the number of rows, or (cap, False) when there are more than `cap`."""
    cap = COUNT_CAP if cap is None else cap
    counted = queryset.order_by()[: cap + 1].count()
    return (counted, True) if counted <= cap else (cap, False)


class CappedCountPaginator(Paginator):
    """A paginator whose count is `capped_count`: exact up to the cap, else the cap itself.

    Past the cap, the last page offered is the cap's last page; "Next" still works beyond it
    because a page past the count is simply not offered as a number.
    """

    def __init__(self, *args, cap: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.cap = cap

    @cached_property
    def capped(self) -> tuple[int, bool]:
        return capped_count(self.object_list.data.data, self.cap)

    @cached_property
    def count(self) -> int:
        return self.capped[0]

    @property
    def count_is_exact(self) -> bool:
        return self.capped[1]


def _rows_by_key(rows, keys: list):
    """django-tables2's rows (BoundRows over a queryset) narrowed to `keys`, in the same order."""
    return type(rows)(
        data=rows.data.data.filter(pk__in=keys), table=rows.table, pinned_data=rows.pinned_data
    )


class DeferredJoinPaginator(Paginator):
    """A paginator that finds a deep page by its keys first, then loads those rows alone.

    With OFFSET, the database builds every skipped row in full (joins to location and owner,
    annotations) only to throw it away: page 39 of 100 rows built 3,900. Here a first query
    sorts and skips keys only (the filters' joins, no others), and the page's rows are then
    read by primary key, with the same filters and order. The first page needs no such detour.
    """

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        rows = self.object_list  # django-tables2's BoundRows over its TableQuerysetData
        queryset = getattr(getattr(rows, "data", None), "data", None)
        if bottom == 0 or not isinstance(queryset, QuerySet):
            return self._get_page(rows[bottom:top], number, self)
        keys = list(queryset.values_list("pk", flat=True)[bottom:top])
        return self._get_page(_rows_by_key(rows, keys), number, self)


class KeyedPaginator(Paginator):
    """Counts and pages over `keys`, a narrower queryset of the same rows' primary keys (say the
    narrow table of unassigned EVSEs), then loads the page's rows by key.

    `key_order` turns each ordering term of the rows' queryset (as the table sorted it) into the
    same term on `keys`, so both sort alike. Past the first page the keys query also counts (a
    window `COUNT(*) OVER ()`): it sorts every matching row anyway, so the count costs nothing
    more, and a page past the end gets the last page's keys from the same query. The first page
    stops after its rows on an index instead, and is counted apart.
    """

    def __init__(self, *args, keys: QuerySet, key_order, **kwargs):
        super().__init__(*args, **kwargs)
        self.keys = keys
        self.key_order = key_order
        self._page_keys = None  # (bottom, keys) read together with the count

    @cached_property
    def count(self) -> int:
        return self.keys.count()

    def _key_ordering(self) -> list[str]:
        rows = self.object_list.data.data  # BoundRows → TableQuerysetData → QuerySet
        return [self.key_order(term) for term in rows.query.order_by]

    def _count_with_keys(self, number) -> None:
        """Past page 1, one query: the count, and the keys of the page asked for, or of the last
        page when it is past the end (which `paginate_table` then shows without asking again)."""
        try:
            # A page far past any end (a hand-made URL) reads as the last page, not an overflow.
            bottom = min((int(number) - 1) * self.per_page, MAX_OFFSET)
        except (TypeError, ValueError):
            return  # validate_number says what is wrong with it
        if bottom <= 0 or "count" in self.__dict__:
            return
        order = self._key_ordering()
        last_page_start = (F("total") - 1) / self.per_page * self.per_page
        rows = list(
            self.keys.annotate(
                total=Window(Count("pk")), position=Window(RowNumber(), order_by=order)
            )
            .filter(position__gt=Least(Value(bottom), last_page_start))
            .order_by("position")
            .values_list("pk", "total", "position")[: self.per_page]
        )
        if rows:
            self.__dict__["count"] = rows[0][1]
            self._page_keys = (rows[0][2] - 1, [pk for pk, _total, _position in rows])
        else:
            self.__dict__["count"] = 0

    def page(self, number):
        self._count_with_keys(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        if self._page_keys and self._page_keys[0] == bottom:
            keys = self._page_keys[1][: top - bottom]
        else:
            ordered = self.keys.order_by(*self._key_ordering())
            keys = list(ordered.values_list("pk", flat=True)[bottom:top])
        return self._get_page(_rows_by_key(self.object_list, keys), number, self)


def _per_page(request, table) -> int:
    try:
        per_page = int(request.GET.get(table.prefixed_per_page_field, ""))
    except ValueError:
        return PER_PAGE_CHOICES[0]
    return per_page if per_page in PER_PAGE_CHOICES else PER_PAGE_CHOICES[0]


def paginate_table(request, table, *, paginator_class=Paginator):
    """Sort and paginate `table` from the request: `sort`, `page` and `per_page` (one of the choices).

    Unlike django-tables2's RequestConfig this refuses page sizes outside `PER_PAGE_CHOICES`, so a
    hand-made URL cannot ask for a million rows. A page number out of range shows the last page.
    """
    table.request = request
    order_by = request.GET.getlist(table.prefixed_order_by_field)
    if order_by:
        table.order_by = order_by
    table.per_page_choices = PER_PAGE_CHOICES
    try:
        table.paginate(
            paginator_class=paginator_class,
            per_page=_per_page(request, table),
            page=request.GET.get(table.prefixed_page_field, 1),
        )
    except PageNotAnInteger:
        table.page = table.paginator.page(1)
    except EmptyPage:
        table.page = table.paginator.page(table.paginator.num_pages)
    return table


def render_listing(request, template: str, context: dict, *, partial: str = "listing"):
    """Render a list page, or only its `partial` for an htmx request; vary on HX-Request."""
    if getattr(request, "htmx", False):
        template = f"{template}#{partial}"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response
