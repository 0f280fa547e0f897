"""Validation of the identifiers the domain relies on: eMI3 EVSE IDs, IBAN/BIC, VAT numbers, ISO codes."""

import functools
import re

import pycountry
from django.core.exceptions import ValidationError
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumValidationError

EVSE_ID_PATTERN = re.compile(
    r"^(([A-Z]{2}\*?[A-Z0-9]{3}\*?E[A-Z0-9\*]{1,30})|(\+?[0-9]{1,3}\*[0-9]{3}\*[0-9\*]{1,32}))$"
)


def normalize_evse_id(value: str) -> str:
    return (value or "").strip().upper()


def validate_evse_id(value: str) -> None:
    if not EVSE_ID_PATTERN.match(normalize_evse_id(value)):
        raise ValidationError(
            "“%(value)s” is not a valid eMI3 EVSE ID (e.g. BE*BEC*E041503003).",
            code="invalid_evse_id",
            params={"value": value},
        )


@functools.lru_cache(maxsize=1 << 16)  # rating asks it twice per CDR, mostly of the same EVSEs
def evse_operator_prefix(evse_id: str) -> str:
    """The country code and operator id of an eMI3 EVSE ID, without separators (`BE*BEC*E1` → `BEBEC`)."""
    normalized = normalize_evse_id(evse_id)
    if normalized[:1].isdigit() or normalized.startswith("+"):
        return "*".join(normalized.lstrip("+").split("*")[:2])
    return normalized.replace("*", "")[:5]


def normalize_iban(value: str) -> str:
    return re.sub(r"\s+", "", value or "").upper()


def normalize_bic(value: str) -> str:
    return (value or "").strip().upper()


def normalize_currency(value: str) -> str:
    return (value or "").strip().upper()


def validate_iban(value: str) -> None:
    try:
        IBAN(value)
    except SchwiftyException as exc:
        raise ValidationError(
            "“%(value)s” is not a valid IBAN: %(error)s",
            code="invalid_iban",
            params={"value": value, "error": str(exc).rstrip(".")},
        ) from exc


def validate_bic(value: str) -> None:
    try:
        BIC(value)
    except SchwiftyException as exc:
        raise ValidationError(
            "“%(value)s” is not a valid BIC: %(error)s",
            code="invalid_bic",
            params={"value": value, "error": str(exc).rstrip(".")},
        ) from exc


def validate_currency(value: str) -> None:
    if not (value and len(value) == 3 and pycountry.currencies.get(alpha_3=value)):
        raise ValidationError(
            "“%(value)s” is not an ISO 4217 currency code (e.g. EUR).",
            code="invalid_currency",
            params={"value": value},
        )


def validate_country_alpha3(value: str) -> None:
    # Upper case only: pycountry's lookup ignores case, but filters compare stored codes exactly.
    if not (
        value and value.isupper() and len(value) == 3 and pycountry.countries.get(alpha_3=value)
    ):
        raise ValidationError(
            "“%(value)s” is not an ISO 3166-1 alpha-3 country code in capitals (e.g. BEL).",
            code="invalid_country",
            params={"value": value},
        )


def country_name(alpha3: str) -> str:
    country = pycountry.countries.get(alpha_3=alpha3) if alpha3 else None
    return getattr(country, "common_name", None) or getattr(country, "name", alpha3 or "")


def normalize_vat_number(value: str) -> str:
    """`be 0123.456.749` → `BE0123456749` (stdnum's compact form, upper case)."""
    return eu_vat.compact(value).upper() if value and value.strip() else ""


def validate_vat_number(value: str) -> None:
    """An EU VAT number: country prefix, format and check digits, checked offline (no VIES)."""
    try:
        eu_vat.validate(value)
    except StdnumValidationError as exc:
        raise ValidationError(
            "“%(value)s” is not a valid EU VAT number (e.g. BE0123456749): %(error)s",
            code="invalid_vat_number",
            params={"value": value, "error": str(exc).rstrip(".")},
        ) from exc


def vat_number_country(vat_number: str) -> str:
    """The alpha-2 country of a VAT number's prefix (Greece writes EL, ISO says GR)."""
    prefix = normalize_vat_number(vat_number)[:2]
    return "GR" if prefix == "EL" else prefix


def country_alpha2(alpha3: str) -> str:
    country = pycountry.countries.get(alpha_3=alpha3) if alpha3 else None
    return country.alpha_2 if country else ""


def country_name_alpha2(alpha2: str) -> str:
    country = pycountry.countries.get(alpha_2=alpha2) if alpha2 else None
    return getattr(country, "common_name", None) or getattr(country, "name", alpha2 or "")
