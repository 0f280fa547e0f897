"""A lean body for django-tables2 tables: every cell of a page rendered in one Python pass.

django-tables2 renders each cell through a `BoundCell`: it inspects the signature of the
`render_<column>` method, builds the `<td>` attributes and, for template columns, compiles a
template — for every cell. At 100 rows × 11 columns that was most of a page's server time.
`LeanTable` keeps the declarative columns (headers, ordering, visibility, pagination and their
`render_<column>`/`linkify`/`default` rules) but works out once per column how to turn a record into
its cell, then renders the rows as HTML strings. The output is the same as the standard body:
`{{ cell }}` localisation and escaping, choice labels, `default` for empty values, even/odd rows.
"""

import functools
import html
import inspect
from collections.abc import Callable
from datetime import datetime

import django_tables2 as tables
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils import dateformat
from django.utils.encoding import force_str
from django.utils.formats import get_format, localize
from django.utils.hashable import make_hashable
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import get_current_timezone, is_aware, template_localtime
from django_tables2.columns.linkcolumn import BaseLinkColumn
from django_tables2.utils import AttributeDict, computed_values

# The arguments a `render_<column>` method may ask for (django-tables2 also offers `bound_row`,
# which a lean row does not have).
RENDER_ARGUMENTS = ("value", "record", "column", "bound_column", "table")
# Stands for the primary key while a `<int:pk>` URL is reversed once for a whole page.
PK_MARKER = 918273645


class DateTimeColumn(tables.DateTimeColumn):
    """django-tables2's DateTimeColumn that remembers its format, so a lean body needs no template."""

    def __init__(self, format=None, short=True, *args, **kwargs):
        # A missing time shows the default, as the template's `|default:default` does.
        kwargs.setdefault("empty_values", (None, ""))
        super().__init__(format, short, *args, **kwargs)
        self.format = format or ("SHORT_DATETIME_FORMAT" if short else "DATETIME_FORMAT")


def escape(content) -> str:
    """`conditional_escape` without its lazy-string wrapper (it runs for every cell): for the
    `render_<column>` methods of lean tables, which build their HTML with f-strings."""
    if hasattr(content, "__html__"):
        return content.__html__()
    return html.escape(content if isinstance(content, str) else str(content))


_escape = escape


def as_cell(value) -> str:
    """What `{{ value }}` prints in a template: local time, localised numbers, escaped."""
    if not isinstance(value, str):
        value = localize(template_localtime(value))
    return SafeString(_escape(value))


# The `date` format characters of our tables, formatted directly; others go to `dateformat`.
DATE_PARTS = {
    "Y": lambda moment: f"{moment.year:04d}",
    "m": lambda moment: f"{moment.month:02d}",
    "d": lambda moment: f"{moment.day:02d}",
    "H": lambda moment: f"{moment.hour:02d}",
    "i": lambda moment: f"{moment.minute:02d}",
    "s": lambda moment: f"{moment.second:02d}",
}


def _datetime_render(format_name: str):
    """The `date` filter with the format and the time zone looked up once, not per cell."""
    pattern = get_format(format_name)
    zone = get_current_timezone() if settings.USE_TZ else None
    parts = [DATE_PARTS.get(char, char) for char in pattern]
    direct = all(callable(part) or not (part.isalpha() or part == "\\") for part in parts)

    def render(value, record):
        if zone is not None and isinstance(value, datetime) and is_aware(value):
            value = value.astimezone(zone)
        if direct and isinstance(value, datetime):
            return "".join(part(value) if callable(part) else part for part in parts)
        return dateformat.format(value, pattern)

    return render


def _argument_names(function) -> tuple[str, ...] | None:
    """The render arguments `function` takes; None when it takes `**kwargs` (give it all)."""
    unbound = getattr(function, "__func__", None)
    if unbound is not None:  # a bound method is new for every table; its function is not
        return _method_argument_names(unbound)
    return _names_of(function, inspect.signature(function).parameters.values())


@functools.cache
def _method_argument_names(unbound) -> tuple[str, ...] | None:
    return _names_of(unbound, list(inspect.signature(unbound).parameters.values())[1:])


def _names_of(function, parameters) -> tuple[str, ...] | None:
    if any(parameter.kind is parameter.VAR_KEYWORD for parameter in parameters):
        return None
    names = tuple(parameter.name for parameter in parameters)
    unknown = set(names) - set(RENDER_ARGUMENTS)
    if unknown:
        raise ImproperlyConfigured(
            f"{function.__qualname__} asks for {unknown}; a lean table has no rows"
        )
    return names


def _value_getter(accessor, model):
    """A function record → value following django-tables2's `Accessor.resolve` and choice labels."""
    bits = accessor.bits
    field = accessor.get_field(model) if model is not None else None
    if field is not None and getattr(field, "choices", None) and bits:
        # The choice label, as `get_<field>_display()` gives it, from a mapping made once.
        *path, last = bits
        labels = dict(make_hashable(field.flatchoices))

        def display(owner):
            value = getattr(owner, field.attname)
            return force_str(labels.get(make_hashable(value), value), strings_only=True)

    else:
        path, display = bits, None

    def value_of(record):
        current = record
        for bit in path:
            current = current.get(bit) if isinstance(current, dict) else getattr(current, bit, None)
            if callable(current) and not getattr(current, "do_not_call_in_templates", False):
                current = current()
            if current is None:
                return None
        if display is not None:
            if isinstance(current, models.Model):
                return display(current)
            return current.get(last) if isinstance(current, dict) else getattr(current, last, None)
        return current

    return value_of


class LeanTable(tables.Table):
    """A django-tables2 table whose shared template prints `lean_body` instead of `BoundRow`s."""

    lean = True

    def url_by_pk(self, viewname: str) -> Callable[[int], str] | None:
        """`reverse(viewname, args=[pk])` for every row of a page, reversed once per table.

        For `<int:pk>` URLs only; None when the URL does not exist.
        """
        patterns = self.__dict__.setdefault("_url_patterns", {})
        if viewname not in patterns:
            try:
                head, tail = reverse(viewname, args=[PK_MARKER]).split(str(PK_MARKER))
            except NoReverseMatch:
                patterns[viewname] = None
            else:
                patterns[viewname] = lambda pk: f"{head}{int(pk)}{tail}"
        return patterns[viewname]

    def _data_model(self):
        """The model of the rows: the queryset's, or that of a list's records (for choice labels)."""
        model = getattr(self.data, "model", None)
        if model is None:
            records = getattr(self.data, "data", None)
            if isinstance(records, list) and records and isinstance(records[0], models.Model):
                model = type(records[0])
        return model

    def _bind(self, function, **fixed):
        """`function` as (value, record) → result, passing only the arguments it asks for."""
        names = _argument_names(function)
        if names == ("value",):
            return lambda value, record: function(value)
        if names == ("record",):
            return lambda value, record: function(record)
        if names == ("value", "record"):
            return lambda value, record: function(value, record)
        fixed["table"] = self

        def call(value, record):
            arguments = {"value": value, "record": record, **fixed}
            if names is None:
                return function(**arguments)
            return function(**{name: arguments[name] for name in names})

        return call

    def _render_call(self, bound_column):
        """A function (value, record) → rendered content, or None when the value shows as is."""
        column = bound_column.column
        render = getattr(self, f"render_{bound_column.name}", None)
        if render is None:
            if type(column).render is tables.Column.render:
                return None
            render = column.render
        return self._bind(render, column=column, bound_column=bound_column)

    def _link_call(self, bound_column):
        """A function (content, value, record) → content wrapped in its link, or None."""
        link = bound_column.link
        if not link:
            return None
        if callable(link.url):
            url_of = self._bind(link.url, column=bound_column.column, bound_column=bound_column)
        elif link.reverse_args.get("viewname"):

            def url_of(value, record):
                return link.call_reverse(record=record)

        else:
            url_of = None
        if link.attrs or url_of is None:

            def general(content, value, record):
                return link(
                    content, value=value, record=record, bound_column=bound_column, table=self
                )

            return general

        def linked(content, value, record):
            url = url_of(value, record)
            if url is None:
                return content
            return SafeString(f'<a href="{_escape(url)}">{_escape(content)}</a>')

        return linked

    def _cell_function(self, bound_column):
        """A function record → the cell's safe HTML, worked out once per column."""
        column = bound_column.column
        if isinstance(column, BaseLinkColumn) or column.localize is not None:
            raise ImproperlyConfigured(f"{type(column).__name__} is not supported in a lean table")
        value_of = _value_getter(bound_column.accessor, self._data_model())
        empty_values = column.empty_values
        default = as_cell(bound_column.default)
        if isinstance(column, DateTimeColumn):
            render = _datetime_render(column.format)
        elif isinstance(column, tables.CheckBoxColumn) and not hasattr(
            self, f"render_{bound_column.name}"
        ):
            render = self._checkbox_render(bound_column)
        else:
            render = self._render_call(bound_column)
        link = self._link_call(bound_column)

        def cell(record):
            value = value_of(record)
            if value in empty_values:
                return default
            content = value if render is None else render(value, record)
            if link is not None:
                return link(content, value, record)
            return as_cell(content)

        return cell

    def _checkbox_render(self, bound_column):
        """The checkbox input with the column's static attributes computed once."""
        column = bound_column.column
        extra = column.attrs.get("td__input") or column.attrs.get("input") or {}
        if column.checked is not None or any(callable(value) for value in extra.values()):
            return lambda value, record: column.render(value, bound_column, record)
        marker = "\x00value\x00"
        attrs = {"type": "checkbox", "name": bound_column.name, "value": marker, **extra}
        before, after = f"<input {AttributeDict(attrs).as_html()} />".split(marker)

        def render(value, record):
            return SafeString(f"{before}{_escape(value)}{after}")

        return render

    def prepare_records(self, records: list) -> None:
        """Hook: complete the records of the page being shown (one query for the page, say)."""

    def lean_body(self) -> SafeString:
        """The `<tr>` rows of the current page (or the empty-state row), as one safe string."""
        page = getattr(self, "page", None)
        rows = self.rows if page is None else page.object_list
        columns = list(self.columns)
        cells = []
        for bound_column in columns:
            td = bound_column.attrs["td"].as_html()
            cells.append((f"<td {td}>" if td else "<td>", self._cell_function(bound_column)))
        row_attrs = self.row_attrs
        records = [row.record for row in rows]
        self.prepare_records(records)
        parts = []
        for index, record in enumerate(records):
            parity = "odd" if index % 2 else "even"
            if row_attrs:
                attrs = computed_values(row_attrs, kwargs={"table": self, "record": record})
                attrs["class"] = f"{attrs['class']} {parity}" if attrs.get("class") else parity
                parts.append(f"<tr {AttributeDict(attrs).as_html()}>")
            else:
                parts.append(f'<tr class="{parity}">')
            parts.extend(f"{td}{cell(record)}</td>" for td, cell in cells)
            parts.append("</tr>")
        if not parts and self.empty_text:
            parts.append(
                format_html(
                    '<tr><td class="empty-state" colspan="{}">{}</td></tr>',
                    len(columns),
                    self.empty_text,
                )
            )
        return mark_safe("".join(parts))
