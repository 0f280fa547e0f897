"""money.py: ISO 4217 minor units, the two rounding points, the fee formula, formatting."""

from decimal import Decimal

import pytest

from evse_payout.money import FeeTerms, fee_parts, format_money, minor_unit, round_sum

TERMS = FeeTerms(
    commission_percent=Decimal("10.00"),
    fee_per_kwh=Decimal("0.0200"),
    fee_per_session=Decimal("0.45"),
    currency="EUR",
)


@pytest.mark.parametrize(("currency", "places"), [("JPY", 0), ("EUR", 2), ("KWD", 3)])
def test_minor_units_follow_iso_4217(currency, places):
    assert minor_unit(currency) == places


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("0.0050", "EUR", "0.01"),
        ("-0.0050", "EUR", "-0.01"),
        ("300.5000", "JPY", "301"),
        ("5.4025", "KWD", "5.403"),
    ],
)
def test_a_statement_figure_is_rounded_once_half_up_to_the_minor_unit(amount, currency, expected):
    assert round_sum(Decimal(amount), currency) == Decimal(expected)


def test_fee_components_are_kept_at_four_decimals():
    parts = fee_parts(terms=TERMS, amount=Decimal("10.0050"), energy=Decimal("12.3456"))

    assert parts.commission == Decimal("1.0005")  # 1.00050
    assert parts.energy_fee == Decimal("0.2469")  # 0.246912
    assert parts.session_fee == Decimal("0.45")
    assert parts.fee == Decimal("1.6974")


def test_a_partial_credit_leaves_out_the_session_fee():
    parts = fee_parts(terms=TERMS, amount=Decimal("10.00"), energy=Decimal("5"), per_session=False)

    assert parts.fee == Decimal("1.1000")


@pytest.mark.parametrize(
    ("amount", "currency", "line", "expected"),
    [
        ("111.1050", "EUR", False, "111.11 EUR"),
        ("1234567.5", "JPY", False, "1,234,568 JPY"),
        ("6.0020", "KWD", False, "6.002 KWD"),
        ("5.00251", "EUR", True, "5.0025 EUR"),
    ],
)
def test_format_money_rounds_half_up_instead_of_cutting(amount, currency, line, expected):
    assert format_money(Decimal(amount), currency, line=line) == expected
