"""A document as UBL 2.1 XML: Peppol BIS Billing 3.0 / EN 16931.

The self-billed invoice uses the Peppol self-billing identifiers (type 389, its credit note
CreditNote 261); the fee invoice is normal billing (380, credit note 381). A credit note holds the
positive amounts of the document it reverses, as UBL credit notes do, and refers to it.

One line per document: EN 16931 allows two decimals per line amount, so the 4-decimal CDR lines
cannot be listed without rounding each one; the line names the statement (whose PDF and CSV list
every session) and the document total stays the exact sum rounded once.
"""

from decimal import Decimal

from lxml import etree

from ..models import Document, DocumentKind, VatCategory
from ..money import minor_unit

NS = {
    "Invoice": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "CreditNote": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
SELF_BILLING = (
    "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:selfbilling:3.0",
    "urn:fdc:peppol.eu:2017:poacc:selfbilling:01:1.0",
)
BILLING = (
    "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0",
    "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0",
)
LINE_NAMES = {
    DocumentKind.SELF_BILLED_INVOICE: "Charging services",
    DocumentKind.SELF_BILLED_CREDIT_NOTE: "Charging services",
    DocumentKind.FEE_INVOICE: "Charge point operation fee",
    DocumentKind.FEE_CREDIT_NOTE: "Charge point operation fee",
}


def _cbc(parent, name: str, text=None, **attributes):
    element = etree.SubElement(parent, f"{{{NS['cbc']}}}{name}", **attributes)
    if text is not None:
        element.text = str(text)
    return element


def _cac(parent, name: str):
    return etree.SubElement(parent, f"{{{NS['cac']}}}{name}")


class _Writer:
    """Writes one document; `sign` turns stored amounts into the document's (credit notes: +)."""

    def __init__(self, document: Document):
        self.document = document
        self.root_name = "CreditNote" if document.is_credit_note else "Invoice"
        self.sign = -1 if document.is_credit_note else 1
        self.places = minor_unit(document.currency)

    def amount(self, parent, name: str, value: Decimal):
        text = f"{self.sign * value:.{self.places}f}"
        return _cbc(parent, name, text, currencyID=self.document.currency)

    def build(self) -> etree._Element:
        document = self.document
        root = etree.Element(
            f"{{{NS[self.root_name]}}}{self.root_name}",
            nsmap={None: NS[self.root_name], "cac": NS["cac"], "cbc": NS["cbc"]},
        )
        customization, profile = SELF_BILLING if document.is_self_billed else BILLING
        _cbc(root, "CustomizationID", customization)
        _cbc(root, "ProfileID", profile)
        _cbc(root, "ID", document.number)
        _cbc(root, "IssueDate", document.issue_date.isoformat())
        _cbc(root, f"{self.root_name}TypeCode", document.type_code)
        for note in self.notes():
            _cbc(root, "Note", note)
        _cbc(root, "DocumentCurrencyCode", document.currency)
        _cbc(root, "BuyerReference", document.invoice.number or f"statement {document.invoice_id}")
        period = _cac(root, "InvoicePeriod")
        _cbc(period, "StartDate", document.period_start.isoformat())
        _cbc(period, "EndDate", document.period_end.isoformat())
        if document.corrects_id:
            reference = _cac(_cac(root, "BillingReference"), "InvoiceDocumentReference")
            _cbc(reference, "ID", document.corrects.number)
            _cbc(reference, "IssueDate", document.corrects.issue_date.isoformat())
        if document.agreement_reference:
            _cbc(_cac(root, "ContractDocumentReference"), "ID", document.agreement_reference)
        self.party(_cac(root, "AccountingSupplierParty"), "seller")
        self.party(_cac(root, "AccountingCustomerParty"), "buyer")
        _cbc(_cac(root, "PaymentTerms"), "Note", self.payment_terms())
        self.tax_total(root)
        self.totals(root)
        self.line(root)
        return root

    def notes(self) -> list[str]:
        document = self.document
        notes = []
        if document.is_self_billed:
            signed = (
                document.agreement_signed_on.isoformat() if document.agreement_signed_on else ""
            )
            notes.append(
                "Self-billing: issued by the customer in the name and on behalf of the supplier "
                f"under self-billing agreement {document.agreement_reference} signed on {signed}."
            )
        if document.vat_mention:
            notes.append(document.vat_mention)
        return notes

    def payment_terms(self) -> str:
        statement = self.document.invoice.number or f"statement {self.document.invoice_id}"
        return (
            f"Settled with payout statement {statement}: one credit transfer of the self-billed "
            "invoice total less the fee invoice total."
        )

    def party(self, parent, role: str) -> None:
        data = self.document.party(role)
        party = _cac(parent, "Party")
        sub_cpo_id = self.document.invoice.payout_account.holder_id
        if sub_cpo_id and self.document.is_self_billed == (role == "seller"):
            # The CPO's number for the Sub-CPO (BT-29/BT-46): a payee without a VAT number has
            # no other identifier, and EN 16931 (BR-CO-26) needs one for the seller.
            _cbc(_cac(party, "PartyIdentification"), "ID", f"SUBCPO-{sub_cpo_id}")
        address = _cac(party, "PostalAddress")
        _cbc(address, "StreetName", f"{data['street']} {data['building_number']}".strip())
        _cbc(address, "CityName", data["city"])
        _cbc(address, "PostalZone", data["postal_code"])
        _cbc(_cac(address, "Country"), "IdentificationCode", data["country"])
        # EN 16931 BR-O-02: a document "not subject to VAT" names no VAT identifier.
        not_subject = self.document.vat_category == VatCategory.NOT_SUBJECT
        if data["vat_number"] and not not_subject:
            tax_scheme = _cac(party, "PartyTaxScheme")
            _cbc(tax_scheme, "CompanyID", data["vat_number"])
            _cbc(_cac(tax_scheme, "TaxScheme"), "ID", "VAT")
        legal = _cac(party, "PartyLegalEntity")
        _cbc(legal, "RegistrationName", data["name"])
        if data["vat_number"] and not_subject:
            _cbc(legal, "CompanyID", data["vat_number"])

    def tax_category(self, parent, name: str, *, with_reason: bool) -> None:
        document = self.document
        category = _cac(parent, name)
        _cbc(category, "ID", document.vat_category)
        if document.vat_category != VatCategory.NOT_SUBJECT:
            _cbc(category, "Percent", f"{document.vat_rate:.2f}")
        if with_reason and document.vat_category != VatCategory.STANDARD:
            if document.vat_exemption_code:
                _cbc(category, "TaxExemptionReasonCode", document.vat_exemption_code)
            _cbc(category, "TaxExemptionReason", document.vat_mention)
        _cbc(_cac(category, "TaxScheme"), "ID", "VAT")

    def tax_total(self, root) -> None:
        tax_total = _cac(root, "TaxTotal")
        self.amount(tax_total, "TaxAmount", self.document.vat)
        subtotal = _cac(tax_total, "TaxSubtotal")
        self.amount(subtotal, "TaxableAmount", self.document.net)
        self.amount(subtotal, "TaxAmount", self.document.vat)
        self.tax_category(subtotal, "TaxCategory", with_reason=True)

    def totals(self, root) -> None:
        totals = _cac(root, "LegalMonetaryTotal")
        self.amount(totals, "LineExtensionAmount", self.document.net)
        self.amount(totals, "TaxExclusiveAmount", self.document.net)
        self.amount(totals, "TaxInclusiveAmount", self.document.total)
        self.amount(totals, "PayableAmount", self.document.total)

    def line(self, root) -> None:
        document = self.document
        line = _cac(root, f"{self.root_name}Line")
        _cbc(line, "ID", "1")
        net = self.sign * document.net
        # A price is never negative (BR-27): a negative line is a negative quantity.
        quantity = "Credited" if document.is_credit_note else "Invoiced"
        _cbc(line, f"{quantity}Quantity", "-1" if net < 0 else "1", unitCode="C62")
        self.amount(line, "LineExtensionAmount", document.net)
        item = _cac(line, "Item")
        _cbc(item, "Description", self.line_description())
        _cbc(item, "Name", LINE_NAMES[DocumentKind(document.kind)])
        self.tax_category(item, "ClassifiedTaxCategory", with_reason=False)
        price = _cac(line, "Price")
        _cbc(price, "PriceAmount", f"{abs(net):.{self.places}f}", currencyID=document.currency)

    def line_description(self) -> str:
        document = self.document
        statement = document.invoice
        return (
            f"{LINE_NAMES[DocumentKind(document.kind)]} from {document.period_start.isoformat()} "
            f"to {document.period_end.isoformat()}: {statement.cdr_count:,} charging sessions "
            f"listed on payout statement {statement.number or statement.pk}."
        )


def render_ubl(document: Document) -> bytes:
    """The document as UBL 2.1 XML (UTF-8, with XML declaration)."""
    return etree.tostring(
        _Writer(document).build(), xml_declaration=True, encoding="UTF-8", pretty_print=True
    )


def ubl_filename(document: Document) -> str:
    return f"{document.number}.xml"
