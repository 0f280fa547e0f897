"""CSV formula injection (issue 11 §3): a cell a spreadsheet would run is written as text."""

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest

import evse_payout
from evse_payout.exports import safe_cell, safe_csv_writer
from evse_payout.models import Invoice
from evse_payout.services.invoicing import run_invoicing
from evse_payout.services.payout_files import iter_statement_csv
from tests.factories import AssignmentFactory, EVSEFactory, LocationFactory
from tests.services.test_invoicing import CUTOFF, rated_cdr


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
    ],
    ids=["equals", "plus", "minus", "at", "tab", "carriage-return"],
)
def test_a_cell_starting_a_formula_is_neutralised(cell, written):
    assert safe_cell(cell) == written


@pytest.mark.parametrize("cell", ["-12.50", "-3", "12.50", "Hotel = Zee", "BE*BEC*E1", ""])
def test_numbers_and_plain_text_stay_as_they_are(cell):
    assert safe_cell(cell) == cell


def test_the_writer_neutralises_every_cell():
    out = io.StringIO()
    safe_csv_writer(out).writerow(["=1+1", "-1.00", "@x"])

    assert next(csv.reader(io.StringIO(out.getvalue()))) == ["'=1+1", "-1.00", "'@x"]


@pytest.mark.django_db
def test_statement_csv_neutralises_a_location_name_and_cdr_id_from_ocpi():
    location = LocationFactory(name='=HYPERLINK("http://evil","x")', city="@Gent")
    assignment = AssignmentFactory(evse=EVSEFactory(location=location))
    cdr = rated_cdr(assignment, excl=Decimal("10.00"), incl=Decimal("12.10"))
    cdr.cdr_id = "+SUM(A1:A9)"
    cdr.save(update_fields=["cdr_id"])
    rated_cdr(
        assignment, excl=Decimal("-2.00"), incl=Decimal("-2.42"), credit=True, credited_cdr=cdr
    )
    run_invoicing(cutoff=CUTOFF)

    rows = list(csv.reader(io.StringIO("".join(iter_statement_csv(Invoice.objects.get())))))

    cells = [cell for row in rows[1:] for cell in row]
    assert "'+SUM(A1:A9)" in cells
    assert '\'=HYPERLINK("http://evil","x"), @Gent' in cells
    assert not [cell for cell in cells if cell[:1] in "=+@\t\r"]
    credit = next(row for row in rows[1:] if row[-1] == "yes")
    assert credit[8] == "-2.0000"  # a line keeps its 4 decimals (plain number, not neutralised)


def test_every_csv_export_writes_through_the_safe_writer():
    root = Path(evse_payout.__file__).parent
    direct = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "csv.writer(" in path.read_text() and path.name != "exports.py"
    ]
    assert direct == []
