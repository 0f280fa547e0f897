"""VAT rates (dated, seeded) and the VAT treatment of both documents, per payee (CPO in BE)."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from evse_payout.models import VatRate
from evse_payout.services.vat import VatError, fee_vat, self_billed_vat, standard_rate

pytestmark = pytest.mark.django_db

ON = date(2026, 11, 30)
REVERSE_CHARGE = (
    "Reverse charge: VAT to be accounted for by the customer (Article 196, Directive 2006/112/EC)."
)


@pytest.mark.parametrize(
    ("country", "rate"),
    [
        ("BE", "21.00"),
        ("NL", "21.00"),
        ("DE", "19.00"),
        ("FR", "20.00"),
        ("LU", "17.00"),
        ("AT", "20.00"),
    ],
)
def test_the_migration_seeds_the_standard_rates(country, rate):
    assert standard_rate(country=country, on=ON) == Decimal(rate)


def test_a_new_rate_applies_from_its_first_day():
    VatRate.objects.filter(country="BE").update(valid_until=date(2026, 12, 31))
    VatRate.objects.create(country="BE", rate=Decimal("22.00"), valid_from=date(2027, 1, 1))
    assert standard_rate(country="BE", on=date(2026, 12, 31)) == Decimal("21.00")
    assert standard_rate(country="BE", on=date(2027, 1, 1)) == Decimal("22.00")


def test_a_missing_rate_is_named_with_where_to_add_it():
    with pytest.raises(VatError, match=r"No VAT rate for IT on 2026-11-30: add it in the admin"):
        standard_rate(country="IT", on=ON)


def test_overlapping_rates_are_refused_by_the_form():
    with pytest.raises(ValidationError, match="BE already has the rate BE 21.00% from 1996-01-01"):
        VatRate(country="BE", rate=Decimal("22.00"), valid_from=date(2027, 1, 1)).full_clean()


def test_the_database_refuses_a_rate_above_100_and_a_period_ending_before_it_starts():
    with pytest.raises(IntegrityError), transaction.atomic():
        VatRate.objects.create(country="IT", rate=Decimal("122.00"), valid_from=ON)
    with pytest.raises(IntegrityError), transaction.atomic():
        VatRate.objects.create(
            country="IT", rate=Decimal("22.00"), valid_from=ON, valid_until=date(2026, 1, 1)
        )


# (payee country, VAT status) → self-billed (category, rate, mention), fee (category, rate, mention)
CASES = {
    "BE registered": (
        ("BE", "registered"),
        ("S", "21.00", ""),
        ("S", "21.00", ""),
    ),
    "NL registered": (
        ("NL", "registered"),
        ("AE", "0.00", REVERSE_CHARGE),
        ("AE", "0.00", REVERSE_CHARGE),
    ),
    "DE registered": (
        ("DE", "registered"),
        ("AE", "0.00", REVERSE_CHARGE),
        ("AE", "0.00", REVERSE_CHARGE),
    ),
    "BE not registered": (
        ("BE", "not_registered"),
        ("O", "0.00", "Not subject to VAT: the supplier is not registered for VAT."),
        ("S", "21.00", ""),
    ),
    "NL not registered": (
        ("NL", "not_registered"),
        ("O", "0.00", "Not subject to VAT: the supplier is not registered for VAT."),
        ("S", "21.00", ""),
    ),
    "BE exempt": (
        ("BE", "exempt"),
        ("E", "0.00", "Exempt from VAT: the supplier is exempt from VAT."),
        ("S", "21.00", ""),
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_vat_treatment_by_payee_status_and_country(case):
    (country, status), expected_self_billed, expected_fee = CASES[case]
    payee = {"payee_country": country, "payee_vat_status": status, "on": ON}
    self_billed, fee = self_billed_vat(**payee), fee_vat(**payee)
    assert (self_billed.category, self_billed.rate, self_billed.mention) == (
        expected_self_billed[0],
        Decimal(expected_self_billed[1]),
        expected_self_billed[2],
    )
    assert (fee.category, fee.rate, fee.mention) == (
        expected_fee[0],
        Decimal(expected_fee[1]),
        expected_fee[2],
    )


def test_treatment_in_words():
    assert self_billed_vat(payee_country="BE", payee_vat_status="registered", on=ON).label == (
        "Belgium VAT at 21 %"
    )
    assert self_billed_vat(payee_country="DE", payee_vat_status="registered", on=ON).label == (
        "EU reverse charge: no VAT charged, the customer accounts for it"
    )


def test_the_cpos_country_setting_decides_what_is_domestic(settings):
    settings.CPO_COUNTRY = "NL"
    treatment = self_billed_vat(payee_country="NL", payee_vat_status="registered", on=ON)
    assert (treatment.category, treatment.rate) == ("S", Decimal("21.00"))
    treatment = fee_vat(payee_country="BE", payee_vat_status="registered", on=ON)
    assert treatment.category == "AE"
