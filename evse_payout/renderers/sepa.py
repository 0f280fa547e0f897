"""A run's payouts as a SEPA credit-transfer file, ISO 20022 `pain.001.001.09` (2019).

One transfer per payable Sub-CPO statement: its payable amount (the self-billed invoice total less
the fee invoice total, plus a balance brought forward) to the payee as frozen at finalize (bank
data on the statement, structured address on its self-billed invoice), with the statement's and
documents' numbers as remittance information. Structured addresses for debtor
and creditor: the SEPA schemes no longer accept unstructured ones from November 2026.

Not in the file, and listed instead: statements in another currency than EUR (SEPA is EUR only),
statements with nothing to pay now (carried forward) and cancelled statements. The CPO's own
revenue report is never in it. The XML is built with lxml and checked against the pain.001.001.09 XSD that the
sepaxml package ships before it is returned.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

import sepaxml
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from lxml import etree

from ..models import DocumentKind, InvoiceKind, InvoiceRun, InvoiceStatus
from ..money import round_money
from ..services.documents import Party, cpo_party
from ..validators import validate_bic, validate_iban

SCHEMA = "pain.001.001.09"
NAMESPACE = f"urn:iso:std:iso:20022:tech:xsd:{SCHEMA}"
CURRENCY = "EUR"
XSD_PATH = Path(sepaxml.__file__).parent / "schemas" / f"{SCHEMA}.xsd"


class SepaError(Exception):
    """No file can be built; the message says what to fix."""


@dataclass(frozen=True)
class SepaParty:
    name: str
    street: str
    building_number: str
    postal_code: str
    city: str
    country: str  # ISO 3166-1 alpha-2
    iban: str
    bic: str


@dataclass(frozen=True)
class SepaPayment:
    statement_number: str
    account: str  # the payout account's name, to name it when its data is wrong
    creditor: SepaParty
    amount: Decimal
    currency: str
    remittance: str


@dataclass(frozen=True)
class SepaLeftOut:
    statement_number: str
    payee: str
    currency: str
    amount: Decimal
    reason: str


@dataclass(frozen=True)
class SepaBatch:
    payments: list[SepaPayment]
    left_out: list[SepaLeftOut]

    @property
    def control_sum(self) -> Decimal:
        return sum((payment.amount for payment in self.payments), Decimal(0))


def _sepa_party(party: Party, *, name: str, iban: str, bic: str) -> SepaParty:
    return SepaParty(
        name=name,
        street=party.street,
        building_number=party.building_number,
        postal_code=party.postal_code,
        city=party.city,
        country=party.country,
        iban=iban,
        bic=bic,
    )


def cpo_debtor() -> SepaParty:
    return _sepa_party(
        cpo_party(), name=settings.CPO_NAME, iban=settings.CPO_IBAN, bic=settings.CPO_BIC
    )


def _payee(statement, self_billed) -> SepaParty:
    """The payee as frozen at finalize: bank data on the statement, address on its self-billed
    invoice (the seller)."""
    return _sepa_party(
        Party(**self_billed.party("seller")),
        name=statement.payee_account_holder_name or statement.payee_name,
        iban=statement.payee_iban,
        bic=statement.payee_bic,
    )


def run_payments(run: InvoiceRun) -> SepaBatch:
    """What the run's SEPA file pays, and which final statements it leaves out and why."""
    payments, left_out = [], []
    statements = (
        run.invoices.filter(status=InvoiceStatus.FINAL, kind=InvoiceKind.STATEMENT)
        .select_related("payout_account", "brought_forward_from")
        .prefetch_related("documents")
        .order_by("number", "pk")
    )
    for statement in statements:
        documents = {document.kind: document for document in statement.documents.all()}
        amount = round_money(statement.payable, statement.currency)
        reason = _left_out_reason(statement, documents, amount)
        if reason:
            left_out.append(
                SepaLeftOut(
                    statement.number, statement.payee_name, statement.currency, amount, reason
                )
            )
            continue
        self_billed = documents[DocumentKind.SELF_BILLED_INVOICE]
        fee = documents[DocumentKind.FEE_INVOICE]
        remittance = f"Payout {statement.number}: self-billed invoice {self_billed.number} less fee invoice {fee.number}"
        if statement.brought_forward_from_id:
            remittance += f", balance of {statement.brought_forward_from.number}"
        payments.append(
            SepaPayment(
                statement_number=statement.number,
                account=statement.payout_account.name,
                creditor=_payee(statement, self_billed),
                amount=amount,
                currency=statement.currency,
                remittance=remittance,
            )
        )
    return SepaBatch(payments=payments, left_out=left_out)


def _left_out_reason(statement, documents, amount: Decimal) -> str:
    if DocumentKind.SELF_BILLED_INVOICE not in documents:
        return "no self-billed invoice (finalized before documents were issued)"
    if DocumentKind.SELF_BILLED_CREDIT_NOTE in documents:
        return "cancelled with a credit note"
    if statement.currency != CURRENCY:
        return f"in {statement.currency}: a SEPA file pays EUR only"
    if statement.carried_forward or amount <= 0:
        return "nothing to pay now (carried forward)"
    return ""


def _text(parent, name: str, value) -> etree._Element:
    element = etree.SubElement(parent, f"{{{NAMESPACE}}}{name}")
    element.text = str(value)
    return element


def _node(parent, name: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{NAMESPACE}}}{name}")


def _address(parent, party: SepaParty) -> None:
    address = _node(parent, "PstlAdr")
    for name, value in (
        ("StrtNm", party.street),
        ("BldgNb", party.building_number),
        ("PstCd", party.postal_code),
        ("TwnNm", party.city),
        ("Ctry", party.country),
    ):
        if value:
            _text(address, name, value[:70] if name != "BldgNb" else value[:16])


def _agent(parent, name: str, bic: str) -> None:
    institution = _node(_node(parent, name), "FinInstnId")
    if bic:
        _text(institution, "BICFI", bic)
    else:
        _text(_node(institution, "Othr"), "Id", "NOTPROVIDED")


def _amount(value: Decimal) -> str:
    return f"{value:.2f}"


def _transaction(parent, payment: SepaPayment) -> None:
    transfer = _node(parent, "CdtTrfTxInf")
    _text(_node(transfer, "PmtId"), "EndToEndId", payment.statement_number[:35])
    amount = _text(_node(transfer, "Amt"), "InstdAmt", _amount(payment.amount))
    amount.set("Ccy", payment.currency)
    if payment.creditor.bic:
        _agent(transfer, "CdtrAgt", payment.creditor.bic)
    creditor = _node(transfer, "Cdtr")
    _text(creditor, "Nm", payment.creditor.name[:140])
    _address(creditor, payment.creditor)
    _text(_node(_node(transfer, "CdtrAcct"), "Id"), "IBAN", payment.creditor.iban)
    _text(_node(transfer, "RmtInf"), "Ustrd", payment.remittance[:140])


def _payment_information(parent, *, message_id, debtor, payments, execution_date, control) -> None:
    information = _node(parent, "PmtInf")
    _text(information, "PmtInfId", f"{message_id}-1"[:35])
    _text(information, "PmtMtd", "TRF")
    _text(information, "BtchBookg", "true")
    _text(information, "NbOfTxs", len(payments))
    _text(information, "CtrlSum", control)
    _text(_node(_node(information, "PmtTpInf"), "SvcLvl"), "Cd", "SEPA")
    _text(_node(information, "ReqdExctnDt"), "Dt", execution_date.isoformat())
    debtor_node = _node(information, "Dbtr")
    _text(debtor_node, "Nm", debtor.name[:140])
    _address(debtor_node, debtor)
    _text(_node(_node(information, "DbtrAcct"), "Id"), "IBAN", debtor.iban)
    _agent(information, "DbtrAgt", debtor.bic)
    _text(information, "ChrgBr", "SLEV")
    for payment in payments:
        _transaction(information, payment)


def render_pain_001_001_09(
    *,
    debtor: SepaParty,
    payments: list[SepaPayment],
    message_id: str,
    execution_date: date,
    created_at: datetime | None = None,
) -> bytes:
    """The payments as one pain.001.001.09 batch; refuses (SepaError) an empty or invalid file."""
    if not payments:
        raise SepaError("There is nothing to pay: no payable EUR statement.")
    control = _amount(sum((payment.amount for payment in payments), Decimal(0)))
    created_at = timezone.localtime(created_at or timezone.now()).replace(microsecond=0)
    document = etree.Element(f"{{{NAMESPACE}}}Document", nsmap={None: NAMESPACE})
    initiation = _node(document, "CstmrCdtTrfInitn")
    header = _node(initiation, "GrpHdr")
    _text(header, "MsgId", message_id[:35])
    _text(header, "CreDtTm", created_at.isoformat())
    _text(header, "NbOfTxs", len(payments))
    _text(header, "CtrlSum", control)
    _text(_node(header, "InitgPty"), "Nm", debtor.name[:140])
    _payment_information(
        initiation,
        message_id=message_id,
        debtor=debtor,
        payments=payments,
        execution_date=execution_date,
        control=control,
    )
    _validate(document)
    return etree.tostring(document, xml_declaration=True, encoding="UTF-8", pretty_print=True)


@cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_PATH)))


def _validate(document: etree._Element) -> None:
    schema = _schema()
    if not schema.validate(document):
        errors = "; ".join(f"line {e.line}: {e.message}" for e in schema.error_log)
        raise SepaError(f"The SEPA file does not match {SCHEMA}: {errors}")


def render_run_sepa(
    *, run: InvoiceRun, execution_date: date | None = None
) -> tuple[bytes, SepaBatch]:
    """The run's SEPA file and what it pays and leaves out."""
    if run.invoices.filter(status=InvoiceStatus.DRAFT).exists():
        raise SepaError("Finalize or discard every draft statement of this run first.")
    batch = run_payments(run)
    _check_bank_data(cpo_debtor(), batch.payments)
    content = render_pain_001_001_09(
        debtor=cpo_debtor(),
        payments=batch.payments,
        message_id=f"RUN{run.pk}-{timezone.now():%Y%m%d%H%M%S}",
        execution_date=execution_date or timezone.localdate(),
    )
    return content, batch


def _bank_data_problem(party: SepaParty) -> str | None:
    try:
        validate_iban(party.iban)
        if party.bic:
            validate_bic(party.bic)
    except ValidationError as exc:
        return " ".join(exc.messages)
    return None


def _check_bank_data(debtor: SepaParty, payments: list[SepaPayment]) -> None:
    """Every IBAN and BIC valid, or a SepaError naming each party concerned."""
    invalid = []
    problem = _bank_data_problem(debtor)
    if problem:
        invalid.append(f"the CPO (debtor, settings CPO_IBAN/CPO_BIC): {problem}")
    for payment in payments:
        problem = _bank_data_problem(payment.creditor)
        if problem:
            invalid.append(
                f"“{payment.account}” (statement {payment.statement_number}, frozen at "
                f"finalize): {problem}"
            )
    if invalid:
        raise SepaError(
            "Invalid bank data, no file was built. Correct it first: " + "; ".join(invalid)
        )


def sepa_filename(run: InvoiceRun) -> str:
    return f"payouts-run-{run.pk}-{SCHEMA}.xml"
