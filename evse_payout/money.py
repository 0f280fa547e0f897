"""The one place that rounds money: half-up to the currency's minor unit."""

from decimal import ROUND_HALF_UP, Decimal

# ISO 4217 minor units that differ from the usual two decimals.
_MINOR_UNITS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
    "XPF": 0, "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip


def minor_unit(currency: str) -> int:
    return _MINOR_UNITS.get(currency, 2)


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_unit(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit (EUR: cents)."""
    return Decimal(amount).quantize(quantum(currency), rounding=ROUND_HALF_UP)


def format_money(amount: Decimal | int | None, currency: str) -> str:
    """How an amount reads everywhere a person sees it: `1,234.50 EUR`, `-90.00 EUR`, `1,200 JPY`.

    Rounded half-up to the currency's minor unit (through `round_money`), grouped by thousands,
    the ISO 4217 code after it. None reads as an em dash.
    """
    if amount is None:
        return "—"
    rounded = round_money(Decimal(amount), currency)
    return f"{rounded:,.{minor_unit(currency)}f} {currency}"


def format_count(count: int | None) -> str:
    """How a count reads everywhere: `7,880`."""
    return f"{count or 0:,}"
