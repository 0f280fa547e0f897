"""UBL 2.1 of each document, validated offline against the official EN 16931 rules per VAT case."""

from datetime import date

import pytest
from lxml import etree

from evse_payout.renderers.ubl import render_ubl
from evse_payout.services.documents import credit_statement_documents, issue_statement_documents
from tests.documents.einvoice import fatal
from tests.documents.helpers import ISSUED_ON, PAYEES, payee, statement

pytestmark = pytest.mark.django_db

NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}


def text(xml: bytes, path: str) -> list[str]:
    return [element.text for element in etree.fromstring(xml).xpath(path, namespaces=NS)]


def issued(case: str, **totals):
    return issue_statement_documents(
        invoice=statement(payee(case), **totals), actor=None, issued_on=ISSUED_ON
    )


@pytest.mark.parametrize("case", PAYEES)
def test_self_billed_and_fee_invoices_pass_en16931_for_each_vat_case(case):
    documents = issued(case)
    for document in (documents.self_billed, documents.fee):
        assert fatal(render_ubl(document)) == [], document.number


@pytest.mark.parametrize("case", PAYEES)
def test_credit_notes_pass_en16931_for_each_vat_case(case):
    documents = issued(case)
    for note in credit_statement_documents(
        invoice=documents.self_billed.invoice, actor=None, issued_on=date(2026, 12, 2)
    ):
        assert fatal(render_ubl(note)) == [], note.number


def test_a_statement_with_more_credits_than_sales_passes_en16931():
    documents = issued("be_registered", excl="-20.00", fees="-2.45")
    assert fatal(render_ubl(documents.self_billed)) == []
    assert fatal(render_ubl(documents.fee)) == []


def test_self_billed_invoice_carries_the_peppol_self_billing_identifiers_and_parties():
    xml = render_ubl(issued("nl_registered").self_billed)
    assert text(xml, "cbc:CustomizationID") == [
        "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:selfbilling:3.0"
    ]
    assert text(xml, "cbc:ProfileID") == ["urn:fdc:peppol.eu:2017:poacc:selfbilling:01:1.0"]
    assert text(xml, "cbc:InvoiceTypeCode") == ["389"]
    assert text(xml, "cbc:ID") == ["SB-2026-000001"]
    assert text(xml, "cac:AccountingSupplierParty//cbc:RegistrationName") == ["Payee nl_registered"]
    assert text(xml, "cac:AccountingSupplierParty//cbc:CompanyID") == ["NL812345605B01"]
    assert text(xml, "cac:AccountingCustomerParty//cbc:RegistrationName") == [
        "Demo Charge Point Operator NV"
    ]
    assert text(xml, "cac:AccountingCustomerParty//cbc:StreetName") == ["Rue de la Loi 16"]
    assert text(xml, "cac:ContractDocumentReference/cbc:ID") == ["SBA-2025-017"]
    assert text(xml, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID") == ["AE"]
    assert text(xml, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReason") == [
        "Reverse charge: VAT to be accounted for by the customer "
        "(Article 196, Directive 2006/112/EC)."
    ]
    assert text(xml, "cac:LegalMonetaryTotal/cbc:PayableAmount") == ["1234.56"]


def test_domestic_amounts_in_the_ubl():
    documents = issued("be_registered")
    xml = render_ubl(documents.self_billed)
    assert text(xml, "cac:TaxTotal/cbc:TaxAmount") == ["259.26"]
    assert text(xml, "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount") == ["1493.82"]
    fee = render_ubl(documents.fee)
    assert text(fee, "cbc:InvoiceTypeCode") == ["380"]
    assert text(fee, "cbc:CustomizationID") == [
        "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
    ]
    assert text(fee, "cac:LegalMonetaryTotal/cbc:PayableAmount") == ["149.39"]


def test_credit_note_refers_to_its_invoice_with_positive_amounts():
    documents = issued("be_registered")
    notes = credit_statement_documents(
        invoice=documents.self_billed.invoice, actor=None, issued_on=date(2026, 12, 2)
    )
    xml = render_ubl(notes[0])
    assert etree.fromstring(xml).tag.endswith("}CreditNote")
    assert text(xml, "cbc:CreditNoteTypeCode") == ["261"]
    assert text(xml, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID") == [
        "SB-2026-000001"
    ]
    assert text(xml, "cac:LegalMonetaryTotal/cbc:PayableAmount") == ["1493.82"]


def test_the_validator_catches_a_broken_document():
    """The validation is real: a wrong total is a fatal failed assert."""
    xml = render_ubl(issued("be_registered").self_billed)
    broken = xml.replace(
        b'<cbc:TaxInclusiveAmount currencyID="EUR">1493.82',
        b'<cbc:TaxInclusiveAmount currencyID="EUR">1493.83',
    )
    assert broken != xml
    assert {failed["id"] for failed in fatal(broken)} >= {"BR-CO-15"}
