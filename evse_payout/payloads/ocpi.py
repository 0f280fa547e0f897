"""OCPI 2.2.1 data format: the one place that turns peer JSON into typed, checked values.

Neutral ground between the HTTP adapter (`evse_payout.ocpi`) and the services that store OCPI
data (`services.ocpi_ingest`): both import this module, the services never import `ocpi/`.
It holds the payload errors, the JSON reader and number hook, the party and URL id checks and
the pydantic payload models.

Pydantic v2 models in lax mode, because real peers send numbers where the spec says strings
(`location_put_example_add_evse.json`). The checks are structural — required fields, types,
lengths, enumerations, UTC dates, exact decimals — plus the two content rules issue 4 refuses at
intake (a session that ends before it starts, negative energy on a non-credit CDR), defined once
in `broken_content_rule`, which rating (R5) uses too. Whether a CDR can be invoiced is otherwise
a rating rule.
Parse the JSON with `parse_json` (floats become `Decimal`, so amounts are never float-rounded).
"""

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from django.core.exceptions import ValidationError as DjangoValidationError
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from ..models import EVSEStatus, PowerType
from ..validators import EVSE_ID_PATTERN, normalize_evse_id, validate_country_alpha3

MAX_NESTING = 32
MAX_REPORTED_ERRORS = 5


class OCPIValidationError(Exception):
    """The payload is not acceptable; the message names the field path (OCPI status 2001)."""


class OCPINotFound(Exception):
    """The location or EVSE the request names is not known (OCPI status 2003)."""


class OCPIPartyRefused(Exception):
    """The request speaks for a party its credentials do not hold (HTTP 403, nothing stored)."""


Party = tuple[str, str]  # (country_code, party_id), upper-case


def party_label(party: Party) -> str:
    return "/".join(party)


def check_party(party: Party, parties: "frozenset[Party] | None") -> None:
    """Refuse `party` unless it is one of `parties`; None means any party (local imports)."""
    if parties is None or party in parties:
        return
    held = ", ".join(sorted(party_label(p) for p in parties)) or "none"
    raise OCPIPartyRefused(
        f"This token may not speak for party {party_label(party)} "
        f"(its parties: {held}). Nothing was stored."
    )


# -- JSON ------------------------------------------------------------------------------------


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


# No OCPI value needs more: a float's range, and integers far beyond any id or watt count.
MAX_EXPONENT = 308
MAX_INTEGER_DIGITS = 40


def _decimal(text: str) -> Decimal:
    # Refused here, because 1E+999999999 as a Decimal is cheap but costs minutes of CPU once
    # anything turns it into an int.
    number = Decimal(text)
    if abs(number.adjusted()) > MAX_EXPONENT:
        raise ValueError(f"the number {text[:40]} is out of range")
    return number


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ValueError(f"the number {text[:40]}… is out of range")
    return int(text)


# Floats become Decimal (exact amounts); NaN and Infinity are not JSON numbers.
JSON_DECODER = json.JSONDecoder(
    parse_float=_decimal, parse_int=_integer, parse_constant=_reject_constant
)


def parse_json(text: str | bytes) -> Any:
    """Parse JSON with exact decimals; raise OCPIValidationError for anything malformed."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        value = JSON_DECODER.decode(text)
    except UnicodeDecodeError as exc:
        raise OCPIValidationError("Not UTF-8 encoded.") from exc
    except RecursionError as exc:
        raise OCPIValidationError(f"The JSON is nested deeper than {MAX_NESTING} levels.") from exc
    except ValueError as exc:
        raise OCPIValidationError(f"Not valid JSON: {exc}") from exc
    if not _plainly_storable(text):
        check_document(value)
    return value


_RISKY_ESCAPE = re.compile(r"\\u(0000|[dD][89a-fA-F])")


def _plainly_storable(text: str) -> bool:
    """Whether the JSON text cannot hold what `check_document` refuses, so its walk is skipped:
    a NUL or a lone surrogate can only come from a \\u0000 or \\uD800–\\uDFFF escape (the decoder
    refuses a raw control character; a surrogate in the text itself fails the encode), and at most
    MAX_NESTING opening brackets cannot nest deeper."""
    if _RISKY_ESCAPE.search(text) or text.count("{") + text.count("[") > MAX_NESTING:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unstorable_text(text: str) -> str | None:
    """Why the text cannot be stored, or None: PostgreSQL refuses NUL, UTF-8 lone surrogates."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone UTF-16 surrogate (not valid Unicode)"
    return None


def _path_text(path: tuple | None) -> str:
    parts = []
    while path:
        path, key = path
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    return "".join(reversed(parts)).lstrip(".") or "(body)"


def check_document(value: Any) -> None:
    """Refuse documents nested deeper than MAX_NESTING levels, or with text no database column
    can hold (NUL, lone surrogates) — iteratively: no recursion."""
    # Paths are kept as (parent, key) links and spelled out only for the error message.
    stack: list[tuple[Any, int, tuple | None]] = [(value, 1, None)]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, str):
            problem = unstorable_text(item)
            if problem:
                raise OCPIValidationError(f"{_path_text(path)}: the text {problem}.")
        elif isinstance(item, dict | list):
            if depth > MAX_NESTING:
                raise OCPIValidationError(f"The JSON is nested deeper than {MAX_NESTING} levels.")
            pairs = enumerate(item) if isinstance(item, list) else item.items()
            for key, child in pairs:
                if isinstance(key, str) and (problem := unstorable_text(key)):
                    raise OCPIValidationError(f"{_path_text(path)}: a field name {problem}.")
                stack.append((child, depth + 1, (path, key)))


def json_number(value: Any) -> float:
    """`json.dumps(default=…)` hook: a Decimal parsed from OCPI JSON becomes a JSON number again.

    Only for the stored raw copy: amounts are at most 4 decimals, which a float carries exactly;
    the money and energy columns themselves stay Decimal.
    """
    if not isinstance(value, Decimal):
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    number = float(value)
    if number in (float("inf"), float("-inf")):
        raise OCPIValidationError(f"The number {value} is out of range.")
    return number


def json_compatible(value: Any) -> Any:
    """The payload as storable JSON: exact decimals become JSON numbers again (for the raw copy)."""
    if isinstance(value, dict):
        return {str(key): json_compatible(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_compatible(item) for item in value]
    return json_number(value) if isinstance(value, Decimal) else value


# Below this, an int's canonical spelling is str(int); Decimal's normalize() rounds to the context
# precision (28 digits), so longer ones take the general way.
_PLAIN_INT_LIMIT = 10**27


def _canonical_numbers(value: Any) -> Any:
    # Exact types first (what the JSON decoder makes), for speed; anything else the general way.
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return value
    if kind is dict:
        return {str(key): _canonical_numbers(item) for key, item in value.items()}
    if kind is list:
        return [_canonical_numbers(item) for item in value]
    if kind is Decimal:
        return format(value.normalize(), "f")
    if kind is int and -_PLAIN_INT_LIMIT < value < _PLAIN_INT_LIMIT:
        return str(value)
    return _canonical_any(value)


def _canonical_any(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _canonical_numbers(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_numbers(item) for item in value]
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return format(Decimal(str(value)).normalize(), "f")
    return value


def canonical_json(value: Any) -> str:
    """Key order, whitespace and number spelling (15, 15.0, 15.00) do not change the content."""
    return json.dumps(
        _canonical_numbers(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def format_errors(exc: ValidationError, prefix: str = "") -> str:
    """`cdr_location.evse_uid: Field required; charging_periods[0].dimensions: …`"""
    messages = []
    for error in exc.errors(include_url=False)[:MAX_REPORTED_ERRORS]:
        path = prefix
        for part in error["loc"]:
            if isinstance(part, int):
                path += f"[{part}]"
            else:
                path += f".{part}" if path else str(part)
        messages.append(f"{path or '(body)'}: {error['msg']}")
    more = exc.error_count() - MAX_REPORTED_ERRORS
    if more > 0:
        messages.append(f"and {more} more errors")
    return "; ".join(messages)


# -- Field types -----------------------------------------------------------------------------


def _text_only(value: Any) -> Any:
    if not isinstance(value, str | datetime):
        raise ValueError("Input should be an RFC 3339 date-time string")
    return value


def _to_utc(value: datetime) -> datetime:
    # OCPI: a date-time without an offset is UTC.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _upper(value: str) -> str:
    return value.upper()


def _evse_id(value: str) -> str:
    normalized = normalize_evse_id(value)
    if not EVSE_ID_PATTERN.match(normalized):
        raise ValueError(f"“{value}” is not a valid eMI3 EVSE ID (e.g. BE*BEC*E041503003)")
    return normalized


def _string(max_length: int, min_length: int = 0):
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length)]


UTCDateTime = Annotated[datetime, BeforeValidator(_text_only), AfterValidator(_to_utc)]
CountryCode = Annotated[str, StringConstraints(min_length=2, max_length=2), AfterValidator(_upper)]
PartyId = Annotated[str, StringConstraints(min_length=3, max_length=3), AfterValidator(_upper)]
Country = Annotated[str, StringConstraints(min_length=3, max_length=3), AfterValidator(_upper)]
Currency = Annotated[str, StringConstraints(min_length=3, max_length=3), AfterValidator(_upper)]
EvseId = Annotated[str, StringConstraints(max_length=48), AfterValidator(_evse_id)]
Id36 = _string(36, 1)
Id39 = _string(39, 1)
# Database column limits: max_digits - decimal_places integer digits, at most 4 decimals (OCPI).
Money = Annotated[Decimal, Field(max_digits=16, decimal_places=4)]
Energy = Annotated[Decimal, Field(max_digits=14, decimal_places=4)]
Hours = Annotated[Decimal, Field(max_digits=12, decimal_places=4)]
Volts = Annotated[int, Field(ge=0, le=10_000)]
Amperes = Annotated[int, Field(ge=0, le=10_000)]
Watts = Annotated[int, Field(ge=0, le=999_999_990)]


class AuthMethod(StrEnum):
    AUTH_REQUEST = "AUTH_REQUEST"
    COMMAND = "COMMAND"
    WHITELIST = "WHITELIST"


class TokenType(StrEnum):
    AD_HOC_USER = "AD_HOC_USER"
    APP_USER = "APP_USER"
    OTHER = "OTHER"
    RFID = "RFID"


class ConnectorFormat(StrEnum):
    SOCKET = "SOCKET"
    CABLE = "CABLE"


class OCPIModel(BaseModel):
    # Lax: numbers are accepted for string fields; unknown fields are ignored (OCPI is extensible).
    model_config = ConfigDict(coerce_numbers_to_str=True, extra="ignore", frozen=True)


# -- CDR -------------------------------------------------------------------------------------


class GeoLocation(OCPIModel):
    latitude: _string(10, 1)
    longitude: _string(11, 1)


class CdrToken(OCPIModel):
    # Required by the 2.2.1 text, but absent from its own CDR example: accepted without.
    country_code: CountryCode | None = None
    party_id: PartyId | None = None
    uid: Id36
    type: TokenType
    contract_id: Id36


class CdrLocation(OCPIModel):
    id: Id36
    name: _string(255) | None = None
    address: _string(45)
    city: _string(45)
    postal_code: _string(10) | None = None
    state: _string(20) | None = None
    country: Country
    coordinates: GeoLocation
    evse_uid: Id36
    evse_id: _string(48, 1)
    connector_id: Id36
    connector_standard: _string(40, 1)
    connector_format: ConnectorFormat
    connector_power_type: PowerType


class Price(OCPIModel):
    excl_vat: Money
    incl_vat: Money | None = None


class CdrDimension(OCPIModel):
    type: _string(32, 1)
    volume: Decimal


class ChargingPeriod(OCPIModel):
    start_date_time: UTCDateTime
    dimensions: Annotated[list[CdrDimension], Field(min_length=1)]
    tariff_id: _string(36) | None = None


class CDRPayload(OCPIModel):
    country_code: CountryCode
    party_id: PartyId
    id: Id39
    start_date_time: UTCDateTime
    end_date_time: UTCDateTime
    session_id: _string(36) | None = None
    cdr_token: CdrToken
    auth_method: AuthMethod
    authorization_reference: _string(36) | None = None
    cdr_location: CdrLocation
    meter_id: _string(255) | None = None
    currency: Currency
    charging_periods: Annotated[list[ChargingPeriod], Field(min_length=1)]
    total_cost: Price
    total_fixed_cost: Price | None = None
    total_energy: Energy
    total_energy_cost: Price | None = None
    total_time: Hours
    total_time_cost: Price | None = None
    total_parking_time: Hours | None = None
    total_parking_cost: Price | None = None
    total_reservation_cost: Price | None = None
    remark: _string(255) | None = None
    invoice_reference_id: _string(39) | None = None
    credit: bool = False
    credit_reference_id: _string(39) | None = None
    home_charging_compensation: bool | None = None
    last_updated: UTCDateTime


def parse_cdr(payload: Any) -> CDRPayload:
    if not isinstance(payload, dict):
        raise OCPIValidationError("Expected a JSON object (one OCPI CDR).")
    try:
        cdr = CDRPayload.model_validate(payload)
    except ValidationError as exc:
        raise OCPIValidationError(format_errors(exc)) from exc
    if cdr.credit and not cdr.credit_reference_id:
        raise OCPIValidationError("credit_reference_id: Field required for a credit CDR")
    rule = broken_content_rule(
        start=cdr.start_date_time, end=cdr.end_date_time, energy=cdr.total_energy, credit=cdr.credit
    )
    if rule == END_BEFORE_START:
        raise OCPIValidationError(
            "end_date_time: the session ends before it starts (start_date_time)"
        )
    if rule == NEGATIVE_ENERGY:
        raise OCPIValidationError(
            "total_energy: must not be negative on a CDR that is not a credit"
        )
    return cdr


# The CDR content rules: refused at intake (above) and checked again by rating (R5) for CDRs
# stored before intake refused them — defined once, here.
END_BEFORE_START = "end before start"
NEGATIVE_ENERGY = "negative energy"


def broken_content_rule(
    *, start: datetime, end: datetime, energy: Decimal, credit: bool
) -> str | None:
    """The name of the first content rule a CDR breaks, or None."""
    if end < start:
        return END_BEFORE_START
    if energy < 0 and not credit:
        return NEGATIVE_ENERGY
    return None


# -- Location, EVSE, Connector ---------------------------------------------------------------


class ConnectorPayload(OCPIModel):
    id: Id36
    standard: _string(40, 1)
    format: ConnectorFormat
    # Required by the spec, yet missing from its own "add an EVSE" example: a known connector
    # keeps its stored values; a new connector without them is refused by the ingest service.
    power_type: PowerType | None = None
    max_voltage: Volts | None = None
    max_amperage: Amperes | None = None
    max_electric_power: Watts | None = None
    tariff_ids: list[_string(36)] | None = None
    last_updated: UTCDateTime | None = None


class EVSEPayload(OCPIModel):
    uid: Id36
    # Optional in OCPI, but an EVSE cannot be assigned or found without it here.
    evse_id: EvseId
    status: EVSEStatus
    connectors: Annotated[list[ConnectorPayload], Field(min_length=1)]
    physical_reference: _string(16) | None = None
    floor_level: _string(4) | None = None
    last_updated: UTCDateTime


class EVSEPatch(OCPIModel):
    evse_id: EvseId | None = None
    status: EVSEStatus | None = None
    connectors: Annotated[list[ConnectorPayload], Field(min_length=1)] | None = None
    physical_reference: _string(16) | None = None
    floor_level: _string(4) | None = None
    last_updated: UTCDateTime | None = None


def _alpha3_country(value: str) -> str:
    try:
        validate_country_alpha3(value)
    except DjangoValidationError as exc:
        raise ValueError(f"“{value}” is not an ISO 3166-1 alpha-3 country code") from exc
    return value


LocationCountry = Annotated[Country, AfterValidator(_alpha3_country)]


class LocationPayload(OCPIModel):
    country_code: CountryCode
    party_id: PartyId
    id: Id36
    publish: bool
    name: _string(255) | None = None
    address: _string(45)
    city: _string(45)
    postal_code: _string(10) | None = None
    state: _string(20) | None = None
    country: LocationCountry
    coordinates: GeoLocation
    evses: list[EVSEPayload] | None = None
    time_zone: _string(255, 1)
    last_updated: UTCDateTime


class LocationPatch(OCPIModel):
    publish: bool | None = None
    name: _string(255) | None = None
    address: _string(45) | None = None
    city: _string(45) | None = None
    postal_code: _string(10) | None = None
    state: _string(20) | None = None
    country: LocationCountry | None = None
    coordinates: GeoLocation | None = None
    evses: list[EVSEPayload] | None = None
    time_zone: _string(255, 1) | None = None
    last_updated: UTCDateTime | None = None


ModelT = TypeVar("ModelT", bound=OCPIModel)


def parse_object(model: type[ModelT], payload: Any, what: str) -> ModelT:
    if not isinstance(payload, dict):
        raise OCPIValidationError(f"Expected a JSON object (one OCPI {what}).")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise OCPIValidationError(format_errors(exc)) from exc


# -- URL ids ---------------------------------------------------------------------------------


URL_ID_LENGTHS = {"country_code": (2, 2), "party_id": (3, 3), "id": (1, 36), "uid": (1, 36)}


def check_url_identity(payload: Any, **expected: str) -> None:
    """The ids in the URL fit their columns, and ids repeated in the body agree with them."""
    for field, value in expected.items():
        shortest, longest = URL_ID_LENGTHS[field]
        if not shortest <= len(value) <= longest:
            raise OCPIValidationError(
                f"URL {field} “{value[:40]}”: should have {shortest}–{longest} characters"
            )
    if not isinstance(payload, dict):
        return
    for field, value in expected.items():
        sent = payload.get(field)
        if sent is not None and str(sent).upper() != value.upper():
            raise OCPIValidationError(f"{field}: “{sent}” does not match the URL (“{value}”)")
