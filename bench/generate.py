"""The bench network: Sub-CPOs, locations, EVSEs, payout accounts, assignments and a year of CDRs.

Generated once per database with PostgreSQL COPY, in one transaction (a crash leaves nothing
half-made), and reused while the row counts match the scale. The data is consistent with the
business rules: an EVSE is assigned only to an account of its owner (R2), a rated CDR carries the
account, the open assignment, and the fee and payout of that account's terms (R5); CDRs of
unassigned EVSEs are `not_invoiceable` / `evse_unassigned`, and about 0.5% name an unknown EVSE.
"""

import hashlib
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone
from schwifty import IBAN

from evse_payout.models import (
    CDR,
    EVSE,
    Assignment,
    CDRReason,
    CDRStatus,
    EVSEStatus,
    Location,
    PayoutAccount,
    PowerType,
    SubCPO,
)
from evse_payout.money import FeeTerms, fee_parts, round_money

SEED = 6
CPO_COUNTRY_CODE = "BE"
CPO_PARTY_ID = "BEC"
CPO_OWNED_SHARE = 0.4
ASSIGNED_SHARE = 0.6
UNKNOWN_EVSE_SHARE = 0.005
REMOVED_EVSE_SHARE = 0.01
VAT_RATE = Decimal("0.21")

# (city, postal code, country, time zone, weight): a few big cities, a long tail of small ones.
CITIES = [
    ("Antwerpen", "2000", "BEL", "Europe/Brussels", 14),
    ("Brussel", "1000", "BEL", "Europe/Brussels", 12),
    ("Gent", "9000", "BEL", "Europe/Brussels", 9),
    ("Amsterdam", "1011", "NLD", "Europe/Amsterdam", 8),
    ("Rotterdam", "3011", "NLD", "Europe/Amsterdam", 6),
    ("Liège", "4000", "BEL", "Europe/Brussels", 5),
    ("Utrecht", "3511", "NLD", "Europe/Amsterdam", 5),
    ("Köln", "50667", "DEU", "Europe/Berlin", 5),
    ("Charleroi", "6000", "BEL", "Europe/Brussels", 4),
    ("Leuven", "3000", "BEL", "Europe/Brussels", 4),
    ("Mechelen", "2800", "BEL", "Europe/Brussels", 3),
    ("Aachen", "52062", "DEU", "Europe/Berlin", 3),
    ("Namur", "5000", "BEL", "Europe/Brussels", 3),
    ("Hasselt", "3500", "BEL", "Europe/Brussels", 3),
    ("Lille", "59000", "FRA", "Europe/Paris", 3),
    ("Eindhoven", "5611", "NLD", "Europe/Amsterdam", 3),
    ("Kortrijk", "8500", "BEL", "Europe/Brussels", 2),
    ("Oostende", "8400", "BEL", "Europe/Brussels", 2),
    ("Mons", "7000", "BEL", "Europe/Brussels", 2),
    ("Maastricht", "6211", "NLD", "Europe/Amsterdam", 2),
    ("Luxembourg", "1009", "LUX", "Europe/Luxembourg", 2),
    ("Tournai", "7500", "BEL", "Europe/Brussels", 1),
    ("Genk", "3600", "BEL", "Europe/Brussels", 1),
    ("Aalst", "9300", "BEL", "Europe/Brussels", 1),
    ("Sint-Niklaas", "9100", "BEL", "Europe/Brussels", 1),
    ("Roeselare", "8800", "BEL", "Europe/Brussels", 1),
    ("Arlon", "6700", "BEL", "Europe/Brussels", 1),
    ("Turnhout", "2300", "BEL", "Europe/Brussels", 1),
]
STREETS = [
    "Stationsstraat",
    "Kerkstraat",
    "Rue de la Gare",
    "Marktplein",
    "Dorpsstraat",
    "Nieuwlaan",
]
SUB_CPO_KINDS = ["Hotels", "Municipality", "Fleet Depot", "Retail Park", "Parking", "Housing"]
POWER_TYPES = [  # (power type, output kW, weight)
    (PowerType.AC_3_PHASE, Decimal("22.00"), 50),
    (PowerType.AC_3_PHASE, Decimal("11.00"), 25),
    (PowerType.AC_1_PHASE, Decimal("7.40"), 10),
    (PowerType.DC, Decimal("50.00"), 8),
    (PowerType.DC, Decimal("150.00"), 7),
]
COMMISSIONS = [Decimal("0"), Decimal("5.00"), Decimal("7.50"), Decimal("10.00"), Decimal("15.00")]
FEES_PER_KWH = [Decimal("0"), Decimal("0.0100"), Decimal("0.0200"), Decimal("0.0500")]
FEES_PER_SESSION = [Decimal("0"), Decimal("0.25"), Decimal("0.50")]


@dataclass(frozen=True)
class Scale:
    name: str
    evses: int
    locations: int
    sub_cpos: int
    accounts: int
    cdrs: int


class GenerationError(Exception):
    """The models have a required field this generator does not fill."""


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ocpi_cdr(*, cdr_id: str, evse: dict, start: datetime, end: datetime, energy: Decimal,
             excl_vat: Decimal, incl_vat: Decimal) -> dict:  # fmt: skip
    """An OCPI 2.2.1 CDR as a peer sends it; `evse` has uid, evse_id and its location's fields."""
    return {
        "country_code": CPO_COUNTRY_CODE,
        "party_id": CPO_PARTY_ID,
        "id": cdr_id,
        "start_date_time": iso(start),
        "end_date_time": iso(end),
        "cdr_token": {"country_code": "BE", "party_id": "EMP", "uid": f"T{cdr_id[-8:]}",
                      "type": "RFID", "contract_id": "BE-EMP-C12345678-X"},
        "auth_method": "WHITELIST",
        "cdr_location": {
            "id": evse["location_id"], "address": evse["address"], "city": evse["city"],
            "postal_code": evse["postal_code"], "country": evse["country"],
            "coordinates": {"latitude": "51.047599", "longitude": "3.729944"},
            "evse_uid": evse["uid"], "evse_id": evse["evse_id"], "connector_id": "1",
            "connector_standard": "IEC_62196_T2", "connector_format": "SOCKET",
            "connector_power_type": evse["power_type"],
        },
        "currency": "EUR",
        "charging_periods": [{"start_date_time": iso(start),
                              "dimensions": [{"type": "ENERGY", "volume": float(energy)}]}],
        "total_cost": {"excl_vat": float(excl_vat), "incl_vat": float(incl_vat)},
        "total_energy": float(energy),
        "total_time": round((end - start).total_seconds() / 3600, 4),
        "last_updated": iso(end),
    }  # fmt: skip


def random_session(rng: random.Random, end: datetime):
    """Start, energy, excl./incl. VAT totals of one charging session that ended at `end`."""
    hours = rng.uniform(0.25, 4.0)
    start = end - timedelta(hours=hours)
    energy = Decimal(str(round(rng.uniform(2.0, 60.0), 3)))
    price = Decimal(rng.choice(["0.35", "0.39", "0.45", "0.55"]))
    excl_vat = round_money(energy * price, "EUR")
    incl_vat = round_money(excl_vat * (1 + VAT_RATE), "EUR")
    return start, energy, excl_vat, incl_vat


def copy_rows(model, columns: list[str], rows) -> int:
    """COPY `rows` (tuples in the order of `columns`) into the model's table; returns the count.

    A required column this generator does not know (added by a later migration) gets the field's
    default, or stops generation with a message naming it.
    """
    extra_columns, extra_values = [], []
    for field in model._meta.concrete_fields:
        if field.column in columns or field.null:
            continue
        if not field.has_default():
            raise GenerationError(
                f"bench/generate.py does not fill the required field {model.__name__}.{field.name}."
            )
        extra_columns.append(field.column)
        extra_values.append(field.get_db_prep_save(field.get_default(), connection))
    extra_values = tuple(extra_values)
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(column) for column in columns + extra_columns)
    count = 0
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row + extra_values)
            count += 1
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT max(id) FROM {table}))",
            [model._meta.db_table],
        )
    return count


def is_generated(scale: Scale) -> bool:
    return EVSE.objects.count() == scale.evses and CDR.objects.count() == scale.cdrs


def generate(scale: Scale, log=print) -> None:
    """Empty the app's tables and generate the network of `scale` (one transaction), then ANALYZE."""
    rng = random.Random(SEED)
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    with transaction.atomic():
        truncate_app_tables()
        owners = generate_sub_cpos(scale)
        accounts = generate_accounts(scale, rng, owners, now)
        locations = generate_locations(scale, rng, owners)
        evses = generate_evses(scale, rng, locations)
        assigned = generate_assignments(rng, evses, locations, accounts, now)
        log(f"  {len(owners)} Sub-CPOs, {len(accounts)} accounts, {len(locations)} locations, "
            f"{len(evses)} EVSEs, {len(assigned)} assigned")  # fmt: skip
        generate_cdrs(scale, rng, evses, assigned, accounts, now, log)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def truncate_app_tables() -> None:
    tables = [
        connection.ops.quote_name(table)
        for table in connection.introspection.table_names()
        if table.startswith("evse_payout_")
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


def generate_sub_cpos(scale: Scale) -> list[int]:
    rows = [
        (
            i,
            f"Sub-CPO {i:03d} {SUB_CPO_KINDS[i % len(SUB_CPO_KINDS)]}",
            "BEL",
            f"BE0{i:09d}",
            True,
            # The master data a self-billed invoice needs (issue 13).
            "Kerkstraat",
            str(i),
            "9000",
            "Gent",
            f"SBA-{i:03d}",
        )
        for i in range(1, scale.sub_cpos + 1)
    ]
    columns = ["id", "name", "country", "vat_number", "is_active"]
    columns += ["street", "building_number", "postal_code", "city", "agreement_reference"]
    copy_rows(SubCPO, columns, rows)
    return [row[0] for row in rows]


def generate_accounts(scale: Scale, rng: random.Random, owners: list[int], now) -> dict:
    """Accounts of the CPO itself (holder None) and at least one per Sub-CPO; {id: fee terms}."""
    own_count = max(2, scale.accounts // 20)
    holders = [None] * own_count + [
        owners[i % len(owners)] for i in range(scale.accounts - own_count)
    ]
    accounts, rows = {}, []
    for pk, holder in enumerate(holders, start=1):
        terms = (rng.choice(COMMISSIONS), rng.choice(FEES_PER_KWH), rng.choice(FEES_PER_SESSION))
        accounts[pk] = {"holder": holder, "terms": terms}
        holder_name = f"Sub-CPO {holder:03d}" if holder else "Demo CPO NV"
        iban = str(IBAN.generate("BE", bank_code="539", account_code=f"{pk:07d}"))
        rows.append((pk, f"Payout account {pk:03d} ({holder_name})", holder, holder_name, iban,
                     "GKCCBEBB", "", "EUR", *terms, True, now))  # fmt: skip
    columns = ["id", "name", "holder_id", "account_holder_name", "iban", "bic", "vat_number",
               "currency", "commission_percent", "fee_per_kwh", "fee_per_session", "is_active",
               "created_at"]  # fmt: skip
    copy_rows(PayoutAccount, columns, rows)
    return accounts


def generate_locations(scale: Scale, rng: random.Random, owners: list[int]) -> dict:
    """{id: fields}; 40% owned by the CPO, the rest by Sub-CPOs with a few big ones."""
    owner_weights = [1 / (rank + 1) ** 0.7 for rank in range(len(owners))]
    city_weights = [city[-1] for city in CITIES]
    location_numbers = rng.sample(range(10_000, 999_999), scale.locations)
    locations, rows = {}, []
    for pk in range(1, scale.locations + 1):
        city, postal_code, country, time_zone, _ = rng.choices(CITIES, city_weights)[0]
        owner = None
        if rng.random() >= CPO_OWNED_SHARE:
            owner = rng.choices(owners, owner_weights)[0]
        number = location_numbers[pk - 1]
        address = f"{rng.choice(STREETS)} {rng.randint(1, 250)}"
        locations[pk] = {"owner": owner, "number": number, "location_id": f"LOC{number:06d}",
                         "address": address, "city": city, "postal_code": postal_code,
                         "country": country}  # fmt: skip
        rows.append((pk, CPO_COUNTRY_CODE, CPO_PARTY_ID, f"LOC{number:06d}", f"{city} site {number}",
                     address, postal_code, city, country, time_zone, owner))  # fmt: skip
    columns = ["id", "country_code", "party_id", "location_id", "name", "address", "postal_code",
               "city", "country", "time_zone", "owner_id"]  # fmt: skip
    copy_rows(Location, columns, rows)
    return locations


def generate_evses(scale: Scale, rng: random.Random, locations: dict) -> dict:
    """{id: fields}; EVSEs numbered per location (BE*BEC*E<location><nnn>), like real networks."""
    power_weights = [power[-1] for power in POWER_TYPES]
    evses, rows = {}, []
    per_location: dict[int, int] = {}
    for pk in range(1, scale.evses + 1):
        location_pk = (pk - 1) * scale.locations // scale.evses + 1
        location = locations[location_pk]
        per_location[location_pk] = per_location.get(location_pk, 0) + 1
        evse_id = f"BE*BEC*E{location['number']:06d}{per_location[location_pk]:03d}"
        power_type, output_kw, _ = rng.choices(POWER_TYPES, power_weights)[0]
        status = EVSEStatus.REMOVED if rng.random() < REMOVED_EVSE_SHARE else EVSEStatus.AVAILABLE
        evses[pk] = {**location, "pk": pk, "location_pk": location_pk, "uid": f"{pk}",
                     "evse_id": evse_id, "power_type": str(power_type),
                     "removed": status == EVSEStatus.REMOVED}  # fmt: skip
        rows.append((pk, CPO_COUNTRY_CODE, CPO_PARTY_ID, f"{pk}", evse_id, location_pk,
                     power_type, output_kw, status))  # fmt: skip
    columns = ["id", "country_code", "party_id", "uid", "evse_id", "location_id", "power_type",
               "output_kw", "status"]  # fmt: skip
    copy_rows(EVSE, columns, rows)
    return evses


def generate_assignments(rng, evses, locations, accounts, now) -> dict:
    """60% of the active EVSEs get an open assignment to an account of their owner (R2).

    All assigned EVSEs of one location go to the same account. Returns {evse pk: (assignment pk,
    account pk)}.
    """
    accounts_by_holder: dict = {}
    for pk, account in accounts.items():
        accounts_by_holder.setdefault(account["holder"], []).append(pk)
    location_account = {
        pk: rng.choice(accounts_by_holder[location["owner"]]) for pk, location in locations.items()
    }
    assigned, rows = {}, []
    assigned_since = now - timedelta(days=400)
    for evse in evses.values():
        if evse["removed"] or rng.random() >= ASSIGNED_SHARE:
            continue
        pk = len(rows) + 1
        account = location_account[evse["location_pk"]]
        assigned[evse["pk"]] = (pk, account)
        rows.append((pk, evse["pk"], account, assigned_since, ""))
    columns = ["id", "evse_id", "payout_account_id", "assigned_at", "unassign_reason"]
    copy_rows(Assignment, columns, rows)
    return assigned


def generate_cdrs(scale: Scale, rng, evses, assigned, accounts, now, log) -> None:
    """A year of CDRs, rated as R5 would rate them today."""
    evse_list = list(evses.values())
    year_seconds = 365 * 24 * 3600
    unknown = {"location_id": "LOC?", "address": "Unknown 1", "city": "Gent", "postal_code": "9000",
               "country": "BEL", "power_type": "AC_3_PHASE"}  # fmt: skip

    def rows():
        for pk in range(1, scale.cdrs + 1):
            end = now - timedelta(seconds=rng.randrange(3600, year_seconds))
            start, energy, excl_vat, incl_vat = random_session(rng, end)
            cdr_id = f"CDR{pk:09d}"
            if rng.random() < UNKNOWN_EVSE_SHARE:
                evse = {**unknown, "pk": None, "location_pk": None, "uid": f"X{pk}",
                        "evse_id": f"BE*BEC*E9{pk:08d}"}  # fmt: skip
            else:
                evse = rng.choice(evse_list)
            raw = ocpi_cdr(cdr_id=cdr_id, evse=evse, start=start, end=end, energy=energy,
                           excl_vat=excl_vat, incl_vat=incl_vat)  # fmt: skip
            raw_json = json.dumps(raw, sort_keys=True, separators=(",", ":"))
            content_hash = hashlib.sha256(raw_json.encode()).hexdigest()
            rating = rate(evse, assigned, accounts, energy, excl_vat)
            yield (pk, CPO_COUNTRY_CODE, CPO_PARTY_ID, cdr_id, start, end, evse["location_pk"],
                   evse["pk"], evse["location_id"], evse["uid"], evse["evse_id"], "EUR", energy,
                   Decimal(str(raw["total_time"])), excl_vat, incl_vat, False, "", end, raw_json,
                   content_hash, end + timedelta(minutes=2), *rating)  # fmt: skip

    columns = ["id", "country_code", "party_id", "cdr_id", "start_date_time", "end_date_time",
               "location_id", "evse_id", "location_ocpi_id", "evse_uid", "evse_id_raw", "currency",
               "total_energy", "total_time", "total_cost_excl_vat", "total_cost_incl_vat",
               "credit", "credit_reference_id", "last_updated", "raw", "content_hash",
               "received_at", "rating_status", "reason", "reason_detail", "payout_account_id",
               "assignment_id", "fee", "payout", "terms_commission_percent", "terms_fee_per_kwh",
               "terms_fee_per_session", "terms_currency", "rated_at"]  # fmt: skip
    count = copy_rows(CDR, columns, rows())
    log(f"  {count} CDRs")


def rate(evse, assigned, accounts, energy, excl_vat) -> tuple:
    """(status, reason, reason_detail, account, assignment, fee, payout, the four fee terms
    columns, rated_at) as R5 gives.

    The reason details are the words of evse_payout/services/rating.py, so a re-rate of unchanged
    data finds nothing to change.
    """
    if evse["pk"] is None:
        return (CDRStatus.NOT_INVOICEABLE, CDRReason.EVSE_UNKNOWN,
                f"No EVSE with uid {evse['uid']} ({CPO_COUNTRY_CODE}*{CPO_PARTY_ID}) or EVSE ID "
                f"{evse['evse_id']} is known — import its location, then re-rate.",
                None, None, None, None, None, None, None, "", None)  # fmt: skip
    if evse["pk"] not in assigned:
        return (CDRStatus.NOT_INVOICEABLE, CDRReason.EVSE_UNASSIGNED,
                f"EVSE {evse['evse_id']} is not assigned to a payout account — assign it, "
                "then re-rate.",
                None, None, None, None, None, None, None, "", None)  # fmt: skip
    assignment, account = assigned[evse["pk"]]
    commission, per_kwh, per_session = accounts[account]["terms"]
    terms = FeeTerms(commission, per_kwh, per_session, "EUR")
    fee = fee_parts(terms=terms, amount=excl_vat, energy=energy).fee
    return (CDRStatus.RATED, "", "", account, assignment, fee, excl_vat - fee,
            commission, per_kwh, per_session, "EUR", timezone.now())  # fmt: skip
