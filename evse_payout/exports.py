"""Cells for files staff open in a spreadsheet: the one guard against CSV formula injection.

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula (and a leading tab
or carriage return can hide such a start), so text from OCPI peers or staff — a location name,
a CDR id — could run `=HYPERLINK(…)` or worse on a colleague's machine. Such cells get a leading
`'` (OWASP). A plain number we wrote ourselves (`-12.50`, a credit) stays a number.
"""

import csv
import re
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?\Z")


def safe_cell(value: object) -> str:
    """`value` as text a spreadsheet shows as text, never runs."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def safe_row(values: Iterable[object]) -> list[str]:
    """Every cell of a CSV row through `safe_cell`; use it in every CSV writer."""
    return [safe_cell(value) for value in values]


class _SafeWriter:
    def __init__(self, writer):
        self._writer = writer

    def writerow(self, row: Iterable[object]):
        return self._writer.writerow(safe_row(row))


def safe_csv_writer(file, **options) -> _SafeWriter:
    """`csv.writer(file, **options)` whose rows pass through `safe_row`: every CSV export uses
    this instead of `csv.writer`."""
    return _SafeWriter(csv.writer(file, **options))
