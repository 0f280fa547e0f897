"""Payout files: a statement's lines as CSV, a run's payouts as a SEPA pain.001.001.09 file."""

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
import sepaxml
from lxml import etree

from evse_payout.models import Invoice, InvoiceRun, PayoutAccount
from evse_payout.renderers.sepa import SepaError, render_run_sepa
from evse_payout.services.invoicing import finalize_run, run_invoicing
from evse_payout.services.payout_files import CSV_HEADER, iter_statement_csv
from tests.factories import AssignmentFactory as CPOAssignmentFactory
from tests.factories import (
    EVSEFactory,
    LocationFactory,
    UserFactory,
)
from tests.factories import PartnerAccountFactory as PayoutAccountFactory
from tests.factories import PartnerAssignmentFactory as AssignmentFactory
from tests.services.test_invoicing import CUTOFF, rated_cdr

pytestmark = pytest.mark.django_db

XSD = Path(sepaxml.__file__).parent / "schemas" / "pain.001.001.09.xsd"
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}


def finalized_run(*assignments_and_amounts) -> InvoiceRun:
    for assignment, amounts in assignments_and_amounts:
        original = None
        for excl in amounts:
            if excl < 0:
                rated_cdr(assignment, excl=excl, credit=True, credited_cdr=original)
            else:
                original = rated_cdr(assignment, excl=excl)
    summary = run_invoicing(cutoff=CUTOFF)
    run = InvoiceRun.objects.get(pk=summary.run_id)
    finalize_run(run=run, actor=UserFactory())
    return run


# --- CSV -----------------------------------------------------------------------------------------


def test_statement_csv_has_a_header_and_one_row_per_line_at_line_precision():
    location = LocationFactory(name='Hotel "Zee", Annex', city="Oostende")
    assignment = AssignmentFactory(evse=EVSEFactory(location=location))
    original = rated_cdr(assignment, excl=Decimal("12.3456"), incl=Decimal("14.9382"))
    rated_cdr(
        assignment,
        excl=Decimal("-2.00"),
        incl=Decimal("-2.42"),
        credit=True,
        credited_cdr=original,
    )
    run_invoicing(cutoff=CUTOFF)
    statement = Invoice.objects.get()

    text = "".join(iter_statement_csv(statement))

    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == CSV_HEADER
    assert len(rows) == 3
    line = dict(zip(CSV_HEADER, rows[1], strict=True))
    assert line["statement"] == f"draft-{statement.pk}"
    assert line["evse_id"] == assignment.evse.evse_id
    assert line["location"] == 'Hotel "Zee", Annex, Oostende'
    assert (line["collected_excl_vat"], line["vat"], line["collected_incl_vat"]) == (
        "12.3456",
        "2.5926",
        "14.9382",
    )
    assert (line["fee"], line["payout"], line["credit"]) == ("1.2346", "11.1110", "no")
    credit = dict(zip(CSV_HEADER, rows[2], strict=True))
    assert (credit["collected_excl_vat"], credit["payout"], credit["credit"]) == (
        "-2.0000",
        "-1.8000",
        "yes",
    )
    assert '"Hotel ""Zee"", Annex, Oostende"' in text
    # 11.1110 − 1.8000 = 9.3110, rounded once on the statement
    assert statement.net_payout == Decimal("9.31")


# --- SEPA ----------------------------------------------------------------------------------------


# Payees are Belgian VAT-registered Sub-CPOs (the factory's) and the CPO is Belgian: both documents
# carry 21 % VAT, so a statement pays (collected + 21 %) − (fees + 21 %), each total rounded once.
# Every VAT case is in tests/documents/.


def test_sepa_file_validates_against_the_pain_001_001_09_schema_and_sums_the_statements():
    first, second = AssignmentFactory(), AssignmentFactory()
    run = finalized_run(
        (first, [Decimal("10.00"), Decimal("33.3333")]),
        (second, [Decimal("100.00"), Decimal("-20.00")]),
    )

    content, batch = render_run_sepa(run=run)

    schema = etree.XMLSchema(etree.parse(str(XSD)))
    document = etree.fromstring(content)
    schema.assertValid(document)
    # First: 43.33 + 9.10 VAT − (4.33 + 0.91) = 47.19; second: 80.00 + 16.80 − (8.00 + 1.68) = 87.12.
    amounts = sorted(document.xpath(".//p:InstdAmt/text()", namespaces=NS))
    assert amounts == ["47.19", "87.12"]
    assert document.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=NS) == "134.31"
    assert document.findtext(".//p:GrpHdr/p:NbOfTxs", namespaces=NS) == "2"
    assert batch.control_sum == Decimal("134.31")
    statements = list(Invoice.objects.filter(run=run).order_by("number"))
    assert sorted(document.xpath(".//p:EndToEndId/text()", namespaces=NS)) == [
        statement.number for statement in statements
    ]
    assert sorted(Decimal(a) for a in amounts) == sorted(s.payable for s in statements)
    assert document.findtext(".//p:Dbtr/p:Nm", namespaces=NS)
    assert document.findtext(".//p:DbtrAcct/p:Id/p:IBAN", namespaces=NS) == "BE68539007547034"


def test_sepa_file_leaves_out_non_euro_statements_and_lists_them():
    euro = AssignmentFactory()
    danish = AssignmentFactory(payout_account=PayoutAccountFactory(currency="DKK"))
    run = finalized_run((euro, [Decimal("10.00")]), (danish, [Decimal("75.00")]))

    content, batch = render_run_sepa(run=run)

    assert [(s.currency, s.reason) for s in batch.left_out] == [
        ("DKK", "in DKK: a SEPA file pays EUR only")
    ]
    assert [p.creditor.iban for p in batch.payments] == [euro.payout_account.iban]
    assert b"DKK" not in content


def test_sepa_file_is_refused_naming_the_accounts_with_invalid_bank_data():
    good, bad = AssignmentFactory(), AssignmentFactory()
    PayoutAccount.objects.filter(pk=bad.payout_account.pk).update(iban="BE00539000000001")
    run = finalized_run((good, [Decimal("10.00")]), (bad, [Decimal("10.00")]))

    with pytest.raises(SepaError) as refused:
        render_run_sepa(run=run)

    message = str(refused.value)
    assert f"“{bad.payout_account.name}”" in message
    assert good.payout_account.name not in message


def test_sepa_file_of_a_final_run_keeps_the_iban_frozen_at_finalize():
    """Issue 12 (7): Finance changes an account's IBAN after the run was finalized."""
    assignment = AssignmentFactory()
    frozen_iban = assignment.payout_account.iban
    run = finalized_run((assignment, [Decimal("10.00")]))
    account = assignment.payout_account
    account.iban = "BE71096123456769"
    account.account_holder_name = "Someone Else BV"
    account.save()

    content, _ = render_run_sepa(run=run)

    assert frozen_iban.encode() in content
    assert b"BE71096123456769" not in content
    assert b"Someone Else BV" not in content


def test_sepa_file_never_holds_a_zero_or_negative_transfer():
    paid, owing = AssignmentFactory(), AssignmentFactory()
    run = finalized_run(
        (paid, [Decimal("10.00")]),
        (owing, [Decimal("5.00"), Decimal("-5.00")]),
    )

    _, batch = render_run_sepa(run=run)

    assert [p.creditor.iban for p in batch.payments] == [paid.payout_account.iban]
    assert [s.reason for s in batch.left_out] == ["nothing to pay now (carried forward)"]
    assert batch.control_sum == Decimal("10.89")  # 12.10 − 1.21


def test_the_cpo_own_revenue_report_is_never_in_the_sepa_file():
    partner = AssignmentFactory()
    own = CPOAssignmentFactory()
    run = finalized_run((partner, [Decimal("10.00")]), (own, [Decimal("90.00")]))

    content, batch = render_run_sepa(run=run)

    assert [p.creditor.iban for p in batch.payments] == [partner.payout_account.iban]
    assert own.payout_account.iban.encode() not in content


def test_sepa_file_is_refused_while_a_statement_is_a_draft():
    rated_cdr()
    summary = run_invoicing(cutoff=CUTOFF)

    with pytest.raises(SepaError, match="Finalize or discard every draft"):
        render_run_sepa(run=InvoiceRun.objects.get(pk=summary.run_id))


def test_revenue_report_csv_names_itself_without_a_number():
    own = CPOAssignmentFactory()
    rated_cdr(own, excl=Decimal("90.00"))
    finalize_run(run=InvoiceRun.objects.get(pk=run_invoicing(cutoff=CUTOFF).run_id), actor=None)
    report = Invoice.objects.get()

    rows = list(csv.reader(io.StringIO("".join(iter_statement_csv(report)))))

    assert rows[1][0] == f"revenue-report-{report.pk}"
    assert rows[1][2].endswith("+00:00")  # ISO 8601 with its offset
