"""The two documents of a Sub-CPO statement: amounts per VAT case (written by hand), numbers,
frozen parties, refusal without agreement or address, and credit notes that reverse them."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from evse_payout.models import Document, DocumentKind
from evse_payout.services.documents import (
    DocumentError,
    credit_statement_documents,
    issue_statement_documents,
    master_data_message,
    master_data_problems,
)
from tests.documents.helpers import ISSUED_ON, payee, statement
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

REVERSE_CHARGE = (
    "Reverse charge: VAT to be accounted for by the customer (Article 196, Directive 2006/112/EC)."
)

# Statement: collected excl. VAT 1,234.56 EUR, fees 123.46 EUR; the CPO is in Belgium (21 %).
# case → self-billed (net, VAT, total, category, mention), fee (net, VAT, total, category), to pay
CASES = {
    "be_registered": (
        ("1234.56", "259.26", "1493.82", "S", ""),
        ("123.46", "25.93", "149.39", "S"),
        "1344.43",
    ),
    "nl_registered": (
        ("1234.56", "0.00", "1234.56", "AE", REVERSE_CHARGE),
        ("123.46", "0.00", "123.46", "AE"),
        "1111.10",
    ),
    "de_registered": (
        ("1234.56", "0.00", "1234.56", "AE", REVERSE_CHARGE),
        ("123.46", "0.00", "123.46", "AE"),
        "1111.10",
    ),
    "be_not_registered": (
        (
            "1234.56",
            "0.00",
            "1234.56",
            "O",
            "Not subject to VAT: the supplier is not registered for VAT.",
        ),
        ("123.46", "25.93", "149.39", "S"),
        "1085.17",
    ),
    "be_exempt": (
        ("1234.56", "0.00", "1234.56", "E", "Exempt from VAT: the supplier is exempt from VAT."),
        ("123.46", "25.93", "149.39", "S"),
        "1085.17",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_documents_per_vat_case(case):
    expected_self_billed, expected_fee, expected_to_pay = CASES[case]
    documents = issue_statement_documents(
        invoice=statement(payee(case)), actor=UserFactory(), issued_on=ISSUED_ON
    )
    self_billed, fee = documents.self_billed, documents.fee
    net, vat, total, category, mention = expected_self_billed
    assert (self_billed.net, self_billed.vat, self_billed.total) == tuple(
        Decimal(value) for value in (net, vat, total)
    )
    assert (self_billed.vat_category, self_billed.vat_mention) == (category, mention)
    net, vat, total, category = expected_fee
    assert (fee.net, fee.vat, fee.total) == tuple(Decimal(value) for value in (net, vat, total))
    assert fee.vat_category == category
    assert documents.amount_to_pay == Decimal(expected_to_pay)


def test_each_amount_is_rounded_once_to_the_currency():
    documents = issue_statement_documents(
        invoice=statement(payee("be_registered"), excl="0.05", fees="0.03"),
        actor=None,
        issued_on=ISSUED_ON,
    )
    # 0.05 × 21 % = 0.0105 → 0.01; 0.03 × 21 % = 0.0063 → 0.01
    assert (documents.self_billed.vat, documents.self_billed.total) == (
        Decimal("0.01"),
        Decimal("0.06"),
    )
    assert (documents.fee.vat, documents.fee.total) == (Decimal("0.01"), Decimal("0.04"))


def test_self_billed_invoice_names_sub_cpo_as_seller_and_cpo_as_buyer():
    sub_cpo = payee("nl_registered")
    documents = issue_statement_documents(
        invoice=statement(sub_cpo), actor=None, issued_on=ISSUED_ON
    )
    self_billed, fee = documents.self_billed, documents.fee
    assert self_billed.party("seller") == {
        "name": "Payee nl_registered",
        "street": "Havenlaan",
        "building_number": "86C",
        "postal_code": "1000",
        "city": "Brussel",
        "country": "NL",
        "vat_number": "NL812345605B01",
    }
    assert self_billed.party("buyer") == {
        "name": "Demo Charge Point Operator NV",
        "street": "Rue de la Loi",
        "building_number": "16",
        "postal_code": "1000",
        "city": "Brussels",
        "country": "BE",
        "vat_number": "BE0123456749",
    }
    assert fee.party("seller") == self_billed.party("buyer")
    assert fee.party("buyer") == self_billed.party("seller")
    assert (self_billed.agreement_reference, self_billed.agreement_signed_on) == (
        "SBA-2025-017",
        date(2025, 1, 15),
    )
    assert (self_billed.period_start, self_billed.period_end) == (
        date(2026, 10, 1),
        date(2026, 10, 31),
    )
    assert (self_billed.type_code, fee.type_code) == ("389", "380")


def test_documents_keep_the_parties_as_they_were_when_issued():
    sub_cpo = payee("be_registered")
    documents = issue_statement_documents(
        invoice=statement(sub_cpo), actor=None, issued_on=ISSUED_ON
    )
    sub_cpo.name, sub_cpo.street = "Renamed NV", "Nieuwstraat"
    sub_cpo.save()
    self_billed = Document.objects.get(pk=documents.self_billed.pk)
    assert (self_billed.seller_name, self_billed.seller_street) == (
        "Payee be_registered",
        "Havenlaan",
    )


def test_each_series_is_numbered_per_year_without_gaps():
    first = issue_statement_documents(
        invoice=statement(payee("be_registered"), number="PS-2026-000001"),
        actor=None,
        issued_on=ISSUED_ON,
    )
    second = issue_statement_documents(
        invoice=statement(payee("nl_registered"), number="PS-2026-000002"),
        actor=None,
        issued_on=ISSUED_ON,
    )
    next_year = issue_statement_documents(
        invoice=statement(payee("de_registered"), number="PS-2027-000001"),
        actor=None,
        issued_on=date(2027, 1, 4),
    )
    assert [d.number for d in (first.self_billed, second.self_billed, next_year.self_billed)] == [
        "SB-2026-000001",
        "SB-2026-000002",
        "SB-2027-000001",
    ]
    assert [d.number for d in (first.fee, second.fee, next_year.fee)] == [
        "FE-2026-000001",
        "FE-2026-000002",
        "FE-2027-000001",
    ]


def test_issuing_without_agreement_or_address_is_refused_with_what_is_missing():
    sub_cpo = payee("be_registered", name="Hotel Zonder Akkoord")
    sub_cpo.agreement_reference, sub_cpo.street, sub_cpo.city = "", "", ""
    sub_cpo.save()
    with pytest.raises(DocumentError) as excinfo:
        issue_statement_documents(invoice=statement(sub_cpo), actor=None, issued_on=ISSUED_ON)
    assert str(excinfo.value) == (
        "Sub-CPO “Hotel Zonder Akkoord” cannot be self-billed yet. Missing or invalid: "
        "address: no street, no city; "
        "self-billing agreement: no reference or no date signed."
    )
    assert excinfo.value.sub_cpo == sub_cpo
    assert not Document.objects.exists()


def test_an_expired_agreement_is_refused():
    sub_cpo = payee("be_registered", agreement_valid_until=date(2026, 6, 30))
    with pytest.raises(DocumentError, match="self-billing agreement: expired on 2026-06-30"):
        issue_statement_documents(invoice=statement(sub_cpo), actor=None, issued_on=ISSUED_ON)


def test_the_cpos_own_account_gets_no_self_billed_invoice():
    with pytest.raises(DocumentError, match="is the CPO's own account"):
        issue_statement_documents(invoice=statement(None), actor=None, issued_on=ISSUED_ON)


def test_credit_notes_reverse_both_documents_exactly():
    invoice = statement(payee("be_registered"))
    documents = issue_statement_documents(invoice=invoice, actor=None, issued_on=ISSUED_ON)
    credit_notes = credit_statement_documents(
        invoice=invoice, actor=None, issued_on=date(2026, 12, 2)
    )
    by_kind = {note.kind: note for note in credit_notes}
    self_billed_credit = by_kind[DocumentKind.SELF_BILLED_CREDIT_NOTE]
    fee_credit = by_kind[DocumentKind.FEE_CREDIT_NOTE]
    assert (self_billed_credit.number, fee_credit.number) == ("SBC-2026-000001", "FEC-2026-000001")
    assert (self_billed_credit.type_code, fee_credit.type_code) == ("261", "381")
    assert (self_billed_credit.net, self_billed_credit.vat, self_billed_credit.total) == (
        Decimal("-1234.56"),
        Decimal("-259.26"),
        Decimal("-1493.82"),
    )
    assert (fee_credit.net, fee_credit.vat, fee_credit.total) == (
        Decimal("-123.46"),
        Decimal("-25.93"),
        Decimal("-149.39"),
    )
    assert self_billed_credit.corrects == documents.self_billed
    assert self_billed_credit.party("seller") == documents.self_billed.party("seller")
    # Crediting again finds nothing left to credit.
    assert credit_statement_documents(invoice=invoice, actor=None, issued_on=ISSUED_ON) == []


def test_the_database_refuses_a_second_document_of_a_kind_and_a_wrong_total():
    invoice = statement(payee("be_registered"))
    documents = issue_statement_documents(invoice=invoice, actor=None, issued_on=ISSUED_ON)
    with pytest.raises(IntegrityError), transaction.atomic():
        Document.objects.filter(pk=documents.fee.pk).update(kind=DocumentKind.SELF_BILLED_INVOICE)
    with (
        pytest.raises(IntegrityError, match="document_total_is_net_plus_vat"),
        transaction.atomic(),
    ):
        Document.objects.filter(pk=documents.fee.pk).update(total=Decimal("150.00"))
    with (
        pytest.raises(IntegrityError, match="document_credit_note_reverses_a_document"),
        transaction.atomic(),
    ):
        Document.objects.filter(pk=documents.fee.pk).update(kind=DocumentKind.FEE_CREDIT_NOTE)


def test_master_data_problems_name_each_sub_cpo_once_and_skip_the_cpos_own_account():
    ready = payee("be_registered")
    unready = payee("nl_registered", name="Zonder Adres BV", street="", agreement_reference="")
    invoices = [statement(ready), statement(unready), statement(unready), statement(None)]
    missing = master_data_problems(invoices=invoices, on=ISSUED_ON)
    assert [(entry.sub_cpo, entry.problems) for entry in missing] == [
        (unready, ["address: no street", "self-billing agreement: no reference or no date signed"])
    ]
    assert master_data_message(missing) == (
        "Nothing was finalized: a self-billed invoice needs the Sub-CPO's master data. "
        "“Zonder Adres BV”: missing or invalid address: no street; "
        "self-billing agreement: no reference or no date signed."
    )
