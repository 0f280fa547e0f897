"""SEPA pain.001.001.09: one transfer per payable statement, validated against sepaxml's XSD."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sepaxml
from django.utils import timezone
from lxml import etree

from evse_payout.models import Invoice, InvoiceRun, InvoiceStatus
from evse_payout.renderers.sepa import SepaError, render_run_sepa
from evse_payout.services.documents import cancel_statement
from evse_payout.services.invoicing import finalize_invoice
from tests.documents.helpers import payee, statement

pytestmark = pytest.mark.django_db

XSD = Path(sepaxml.__file__).parent / "schemas" / "pain.001.001.09.xsd"
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}


def in_run(run: InvoiceRun, invoice: Invoice) -> Invoice:
    invoice.run = run
    invoice.save(update_fields=["run"])
    return invoice


def issued_statement(run, case, **totals) -> Invoice:
    """A draft statement of the run, finalized: numbered, payee frozen, documents issued."""
    draft = statement(payee(case), status=InvoiceStatus.DRAFT, number=None, **totals)
    return finalize_invoice(invoice=in_run(run, draft), actor=None)


YEAR = timezone.localdate().year


def texts(xml: bytes, path: str) -> list[str]:
    return [element.text for element in etree.fromstring(xml).xpath(path, namespaces=NS)]


@pytest.fixture
def run():
    return statement(None).run


def test_sepa_file_validates_against_the_pain_001_001_09_xsd_and_pays_each_statement(run):
    be = issued_statement(run, "be_registered")  # 1,493.82 − 149.39 = 1,344.43
    nl = issued_statement(run, "nl_registered")  # 1,234.56 − 123.46 = 1,111.10
    content, batch = render_run_sepa(run=run, execution_date=date(2026, 12, 3))

    document = etree.fromstring(content)
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    assert schema.validate(document), schema.error_log
    assert texts(content, "//p:CdtTrfTxInf/p:Amt/p:InstdAmt") == ["1344.43", "1111.10"]
    assert texts(content, "//p:GrpHdr/p:CtrlSum") == ["2455.53"]
    assert texts(content, "//p:PmtInf/p:CtrlSum") == ["2455.53"]
    assert texts(content, "//p:GrpHdr/p:NbOfTxs") == ["2"]
    assert texts(content, "//p:CdtTrfTxInf/p:PmtId/p:EndToEndId") == [be.number, nl.number]
    assert texts(content, "//p:CdtTrfTxInf/p:CdtrAcct/p:Id/p:IBAN") == [
        be.payout_account.iban,
        nl.payout_account.iban,
    ]
    assert texts(content, "//p:CdtTrfTxInf/p:RmtInf/p:Ustrd") == [
        f"Payout {be.number}: self-billed invoice SB-{YEAR}-000001 less fee invoice FE-{YEAR}-000001",
        f"Payout {nl.number}: self-billed invoice SB-{YEAR}-000002 less fee invoice FE-{YEAR}-000002",
    ]
    assert texts(content, "//p:ReqdExctnDt/p:Dt") == ["2026-12-03"]
    assert batch.control_sum == Decimal("2455.53")


def test_debtor_and_creditor_addresses_are_structured(run):
    issued_statement(run, "de_registered")
    content, _ = render_run_sepa(run=run)
    assert texts(content, "//p:Dbtr/p:PstlAdr/*") == [
        "Rue de la Loi",
        "16",
        "1000",
        "Brussels",
        "BE",
    ]
    assert texts(content, "//p:Cdtr/p:PstlAdr/*") == ["Havenlaan", "86C", "1000", "Brussel", "DE"]
    assert texts(content, "//p:Cdtr/p:Nm") == ["Payee de_registered"]
    assert texts(content, "//p:AdrLine") == []


def test_non_euro_nothing_to_pay_and_cancelled_statements_are_listed_not_paid(run):
    issued_statement(run, "be_registered")
    chf = issued_statement(run, "nl_registered", currency="CHF")
    negative = issued_statement(run, "de_registered", excl="-20.00", fees="-2.45")
    cancelled = issued_statement(run, "be_exempt")
    cancel_statement(invoice=cancelled, actor=None)
    content, batch = render_run_sepa(run=run)
    assert texts(content, "//p:CdtTrfTxInf/p:Amt/p:InstdAmt") == ["1344.43"]
    assert [(s.statement_number, s.currency, s.amount, s.reason) for s in batch.left_out] == [
        (chf.number, "CHF", Decimal("1111.10"), "in CHF: a SEPA file pays EUR only"),
        (negative.number, "EUR", Decimal("-17.55"), "nothing to pay now (carried forward)"),
        (cancelled.number, "EUR", Decimal("1085.17"), "cancelled with a credit note"),
    ]


def test_the_cpos_own_account_is_never_paid(run):
    own = in_run(run, statement(None))
    assert own.payout_account.holder is None
    with pytest.raises(SepaError, match="nothing to pay"):
        render_run_sepa(run=run)


def test_invalid_bank_data_is_named_and_no_file_is_built(run, settings):
    issued_statement(run, "be_registered")
    settings.CPO_IBAN = "BE00000000000000"
    with pytest.raises(SepaError, match=r"the CPO \(debtor, settings CPO_IBAN/CPO_BIC\)"):
        render_run_sepa(run=run)
