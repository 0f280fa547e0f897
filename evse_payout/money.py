"""Money: the one place that rounds, the currencies' minor units, the fee formula and formatting.

Two precisions exist and nothing else rounds:

- a CDR line (its amounts, fee and payout) keeps 4 decimals (`LINE_PLACES`): `round_line`;
- a statement figure (collected, fees, payout, payable) is the exact sum of its lines rounded once,
  half-up, to the currency's ISO 4217 minor unit: `round_money`.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.utils.formats import number_format

LINE_PLACES = 4
LINE_QUANTUM = Decimal(1).scaleb(-LINE_PLACES)

# ISO 4217 minor units (the one table): every currency not listed has 2 (EUR, USD, GBP, …).
_MINOR_UNITS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
    "XPF": 0, "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip


def minor_unit(currency: str) -> int:
    return _MINOR_UNITS.get(currency, 2)


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_unit(currency))


def round_line(amount: Decimal) -> Decimal:
    """A line amount at its stored precision (4 decimals), half-up."""
    return Decimal(amount).quantize(LINE_QUANTUM, rounding=ROUND_HALF_UP)


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit (EUR: cents, JPY: yen, KWD: fils)."""
    return Decimal(amount).quantize(quantum(currency), rounding=ROUND_HALF_UP)


def round_sum(amount: Decimal, currency: str) -> Decimal:
    """A statement figure: the exact sum of 4-decimal lines, rounded once to the minor unit.

    The sum is first brought back to 4 decimals: exact on PostgreSQL, and on SQLite (which adds
    decimals as floating point) it removes the noise that could tip a half-way case.
    """
    return round_money(round_line(amount), currency)


def format_money(amount, currency: str, *, line: bool = False) -> str:
    """An amount for people: grouped, with the currency's minor unit, e.g. "1,234.50 EUR";
    `line=True` shows a statement line's own 4 decimals ("1,234.5025 EUR")."""
    # number_format cuts extra decimals; round here (half-up) so 111.1050 shows 111.11.
    if line:
        amount, places = round_line(amount), LINE_PLACES
    else:
        amount, places = round_sum(amount, currency), minor_unit(currency)
    return f"{number_format(amount, places, force_grouping=True)} {currency}"


@dataclass(frozen=True, slots=True)
class FeeTerms:
    """The fee terms a CDR was rated with (stored with the rating)."""

    commission_percent: Decimal
    fee_per_kwh: Decimal
    fee_per_session: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class FeeParts:
    """A fee's components at line precision; `fee` is their sum, `payout` what remains."""

    commission: Decimal
    energy_fee: Decimal
    session_fee: Decimal

    @property
    def fee(self) -> Decimal:
        return self.commission + self.energy_fee + self.session_fee


def fee_parts(
    *, terms: FeeTerms, amount: Decimal, energy: Decimal, per_session: bool = True
) -> FeeParts:
    """The fee formula (R5), each component at 4 decimals:

        commission % × excl.-VAT amount + fee per kWh × energy + fee per session

    `per_session=False` leaves out the session fee (a partial credit does not reverse it).
    """
    return FeeParts(
        commission=round_line(terms.commission_percent * amount / Decimal(100)),
        energy_fee=round_line(terms.fee_per_kwh * energy),
        session_fee=round_line(terms.fee_per_session) if per_session else Decimal("0.0000"),
    )
