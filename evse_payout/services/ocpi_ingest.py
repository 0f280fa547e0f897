"""Every write that OCPI data causes: CDR intake (stored once, rated in the same transaction)
and the upsert of locations, EVSEs and connectors.

A CDR is immutable: the same CDR again is harmless, the same id with other content is refused
(a correction is a credit CDR). The unique constraint `cdr_unique_ocpi_id` is the final guard
against two peers' requests racing; the loser re-reads and answers as if it came second.
"""

import dataclasses
import functools
import hashlib
import json
import operator
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import (
    CDR,
    EVSE,
    Connector,
    EVSEStatus,
    Location,
)
from ..payloads.ocpi import (
    CDRPayload,
    ConnectorPayload,
    EVSEPatch,
    EVSEPayload,
    LocationPatch,
    LocationPayload,
    OCPINotFound,
    OCPIValidationError,
    Party,
    canonical_json,
    check_party,
    check_url_identity,
    json_number,
    parse_cdr,
    parse_object,
)
from ..validators import normalize_evse_id
from .bulk_sql import insert_numbered, model_columns
from .evse_upsert import (
    EVSECounts,
    apply_connector,
    check_evse_count,
    check_evse_ids,
    check_moves,
    close_assignments_of_removed,
    derive_output,
    upsert_location_evses,
)
from .rating import apply_rating, rate_batch, record_history

BULK_LOOKUP = 2000  # values per IN (…) list


def immutable_message(cdr_id: str) -> str:
    return f"CDRs are immutable; send a credit CDR to correct CDR {cdr_id}"


# -- CDRs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IngestResult:
    cdr: CDR
    created: bool


@dataclass(frozen=True)
class PreparedCDR:
    """A parsed CDR ready to store: the typed payload, its raw JSON as text and content hash."""

    parsed: CDRPayload
    raw_json: str
    content_hash: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.parsed.country_code, self.parsed.party_id, self.parsed.id)


def prepare_cdr(payload: Any) -> PreparedCDR:
    """Parse and check one CDR payload; raises OCPIValidationError naming the field path."""
    parsed = parse_cdr(payload)
    # The raw copy as JSON text (exact decimals become JSON numbers again), encoded once in C
    # and stored as it is.
    raw_json = json.dumps(payload, default=json_number)
    digest = hashlib.sha256(canonical_json(payload).encode()).hexdigest()
    return PreparedCDR(parsed=parsed, raw_json=raw_json, content_hash=digest)


class NewCDR(SimpleNamespace):
    """An unsaved CDR as plain attributes (`CDR` field attnames; `raw` is JSON text): building
    thousands of model instances per import batch would cost more than rating and storing them."""

    pk = None


@functools.cache
def _new_cdr_defaults() -> dict:
    return {
        field.attname: field.get_default()
        for field in CDR._meta.concrete_fields
        if not field.primary_key
    }


def new_cdr(prepared: PreparedCDR, *, location_id: int | None, now) -> NewCDR:
    """An unsaved CDR (status `new`, EVSE not yet matched: rating does that before saving)."""
    cdr = prepared.parsed
    where = cdr.cdr_location
    return NewCDR(
        **{
            **_new_cdr_defaults(),
            "country_code": cdr.country_code,
            "party_id": cdr.party_id,
            "cdr_id": cdr.id,
            "start_date_time": cdr.start_date_time,
            "end_date_time": cdr.end_date_time,
            "location_id": location_id,
            "location_ocpi_id": where.id,
            "evse_uid": where.evse_uid,
            "evse_id_raw": where.evse_id,
            "currency": cdr.currency,
            "total_energy": cdr.total_energy,
            "total_time": cdr.total_time,
            "total_cost_excl_vat": cdr.total_cost.excl_vat,
            "total_cost_incl_vat": cdr.total_cost.incl_vat,
            "credit": cdr.credit,
            "credit_reference_id": cdr.credit_reference_id or "",
            "last_updated": cdr.last_updated,
            "raw": prepared.raw_json,
            "content_hash": prepared.content_hash,
            "received_at": now,
        }
    )


def match_locations(keys: Iterable[tuple[str, str, str]]) -> dict[tuple, int]:
    """The primary key of each stored location of `keys` (country_code, party_id, location id)."""
    keys = set(keys)
    if not keys:
        return {}
    rows = (
        Location.objects.filter(location_id__any={location_id for *_, location_id in keys})
        .order_by()
        .values_list("country_code", "party_id", "location_id", "pk")
    )
    return {
        (country_code, party_id, location_id): pk
        for country_code, party_id, location_id, pk in rows
        if (country_code, party_id, location_id) in keys
    }


def _existing_answer(existing: CDR, prepared: PreparedCDR) -> IngestResult:
    if existing.content_hash != prepared.content_hash:
        raise OCPIValidationError(immutable_message(prepared.parsed.id))
    return IngestResult(cdr=existing, created=False)


def _find(prepared: PreparedCDR) -> CDR | None:
    country_code, party_id, cdr_id = prepared.key
    return CDR.objects.filter(country_code=country_code, party_id=party_id, cdr_id=cdr_id).first()


def ingest_cdr(
    *, payload: Any, actor_name: str, parties: frozenset[Party] | None = None
) -> IngestResult:
    """Parse, store and rate one CDR in one transaction (DESIGN §5, R5).

    The same CDR again → the stored one, `created=False`; the same id with other content →
    OCPIValidationError (CDRs are immutable). With `parties` (an OCPI peer's), a CDR of any
    other party is refused (OCPIPartyRefused) before anything is read or stored.
    """
    prepared = prepare_cdr(payload)
    check_party(prepared.key[:2], parties)
    return _ingest_prepared(prepared, actor_name=actor_name)


def _ingest_prepared(prepared: PreparedCDR, *, actor_name: str) -> IngestResult:
    try:
        with transaction.atomic():
            existing = _find(prepared)
            if existing is not None:
                return _existing_answer(existing, prepared)
            (stored,) = _store_rated([prepared], actor_name=actor_name)
            cdr = CDR(**{name: value for name, value in vars(stored).items() if name != "pk"})
            cdr.pk, cdr.raw = stored.pk, json.loads(stored.raw)
            cdr._state.adding = False
    except IntegrityError:
        # Another request stored the same CDR between our read and our insert.
        existing = _find(prepared)
        if existing is None:
            raise
        return _existing_answer(existing, prepared)
    return IngestResult(cdr=cdr, created=True)


@dataclass
class ImportBatchResult:
    imported: int = 0
    already_present: int = 0
    rejected: list[tuple[int, str]] = dataclasses.field(default_factory=list)


def _dedupe_batch(records, result: "ImportBatchResult") -> dict[tuple, tuple[int, PreparedCDR]]:
    """Parse each record once; the same CDR twice in a batch counts once (or is rejected if it
    changed), and invalid records are rejected with their field named."""
    batch: dict[tuple, tuple[int, PreparedCDR]] = {}
    for index, payload in records:
        try:
            # A file import may have prepared the CDR in a reader process already.
            prepared = payload if isinstance(payload, PreparedCDR) else prepare_cdr(payload)
        except OCPIValidationError as exc:
            result.rejected.append((index, str(exc)))
            continue
        earlier = batch.get(prepared.key)
        if earlier is None:
            batch[prepared.key] = (index, prepared)
        elif earlier[1].content_hash == prepared.content_hash:
            result.already_present += 1
        else:
            result.rejected.append((index, immutable_message(prepared.parsed.id)))
    return batch


def _stored_hashes(keys) -> dict[tuple, str]:
    """The content hash of each of `keys` already stored, in one query."""
    # All three key columns, so the lookup runs on the unique index (country_code, party_id,
    # cdr_id) instead of scanning all of it for the cdr_ids.
    return {
        (country_code, party_id, cdr_id): content_hash
        for country_code, party_id, cdr_id, content_hash in CDR.objects.filter(
            country_code__any={country_code for country_code, *_ in keys},
            party_id__any={party_id for _, party_id, _ in keys},
            cdr_id__any={cdr_id for *_, cdr_id in keys},
        )
        .order_by()
        .values_list("country_code", "party_id", "cdr_id", "content_hash")
    }


def _new_in_batch(batch, result: "ImportBatchResult") -> list[PreparedCDR]:
    """The CDRs of the batch not stored yet; re-sent ones count as present, changed ones are
    rejected (a stored CDR is immutable)."""
    stored = _stored_hashes(list(batch))
    new = []
    for key, (index, prepared) in batch.items():
        if key not in stored:
            new.append(prepared)
        elif stored[key] == prepared.content_hash:
            result.already_present += 1
        else:
            result.rejected.append((index, immutable_message(prepared.parsed.id)))
    return new


def _store_new(new: list[PreparedCDR], result: "ImportBatchResult", *, actor_name: str) -> None:
    try:
        with transaction.atomic():
            _store_rated(new, actor_name=actor_name)
        result.imported = len(new)
    except IntegrityError:
        # Some arrived over OCPI meanwhile: take this batch one CDR at a time.
        for prepared in new:
            ingested = _ingest_prepared(prepared, actor_name=actor_name)
            if ingested.created:
                result.imported += 1
            else:
                result.already_present += 1


def import_cdr_batch(
    *, records: list[tuple[int, Any]], actor_name: str, dry_run: bool = False
) -> ImportBatchResult:
    """Store and rate a batch of CDR payloads (`(index, payload)` pairs) with a few queries.

    One query finds the ids already stored; the new CDRs are rated in memory and inserted already
    rated with their history rows (`_store_rated`: a constant number of queries, no UPDATE), in
    one transaction. Re-sent CDRs count as already present; changed ones are rejected
    (immutable). A dry run checks and writes nothing. Like an OCPI POST, intake writes no audit
    event (it is not a re-rate); each CDR's rating history says who delivered it.
    """
    result = ImportBatchResult()
    new = _new_in_batch(_dedupe_batch(records, result), result)
    result.rejected.sort()
    if dry_run or not new:
        result.imported = len(new)
    else:
        _store_new(new, result, actor_name=actor_name)
    return result


def _insert_cdrs(cdrs: list[NewCDR]) -> None:
    """INSERT unsaved CDRs with one statement (raw JSON included) and set their primary keys."""
    columns = model_columns(CDR)
    row = operator.attrgetter(*(attname for _, _, attname in columns))
    pks = insert_numbered(
        CDR, [(column, sql_type) for column, sql_type, _ in columns], [row(cdr) for cdr in cdrs]
    )
    for cdr, pk in zip(cdrs, pks, strict=True):
        cdr.pk = pk


def _store_rated(new: list[PreparedCDR], *, actor_name: str) -> list[NewCDR]:
    """Insert new CDRs already rated (R5), with one rating history row each; no UPDATE.

    In the caller's transaction, with a constant number of queries whatever the number of CDRs:
    locations, then `rate_batch` (EVSEs, open assignments with accounts, credits' originals),
    then one INSERT of the originals, one of the credits (so a credit can point at an original
    from the same batch), one INSERT of the history rows.
    """
    location_keys = [
        (p.parsed.country_code, p.parsed.party_id, p.parsed.cdr_location.id) for p in new
    ]
    locations = match_locations(location_keys)
    now = timezone.now()
    cdrs = [
        new_cdr(p, location_id=locations.get(key), now=now)
        for p, key in zip(new, location_keys, strict=True)
    ]
    ratings = rate_batch(cdrs, now=now)
    for cdr, rating in zip(cdrs, ratings, strict=True):
        apply_rating(cdr, rating, now)
    _insert_cdrs([cdr for cdr in cdrs if not cdr.credit])
    credits = []
    for cdr, rating in zip(cdrs, ratings, strict=True):
        if cdr.credit:
            if rating.original_position is not None:
                cdr.credited_cdr_id = cdrs[rating.original_position].pk
            credits.append(cdr)
    _insert_cdrs(credits)
    record_history(
        [(cdr.pk, rating.outcome) for cdr, rating in zip(cdrs, ratings, strict=True)],
        now=now,
        actor_name=actor_name,
    )
    return cdrs


# -- Locations, EVSEs, connectors ------------------------------------------------------------


@dataclass(frozen=True)
class UpsertResult:
    """What a location or EVSE upsert did."""

    location: Location
    created: bool
    evses_created: int = 0
    evses_updated: int = 0
    evses_removed: int = 0


def _save_connectors(evse: EVSE, payloads: list[ConnectorPayload], path: str) -> list[Connector]:
    """Replace the EVSE's connectors with `payloads`; a known connector keeps omitted values."""
    known = {connector.connector_id: connector for connector in evse.connectors.all()}
    kept = []
    for index, payload in enumerate(payloads):
        connector = known.get(payload.id) or Connector(evse=evse, connector_id=payload.id)
        apply_connector(connector, payload, f"{path}connectors[{index}]")
        connector.save()
        kept.append(connector)
    evse.connectors.exclude(pk__in=[connector.pk for connector in kept]).delete()
    return kept


def _upsert_evse(
    location: Location,
    fields: dict,
    *,
    uid: str,
    actor_name: str,
    path: str,
    partial: bool,
    counts: EVSECounts,
) -> EVSE:
    """Create or update one EVSE of `location` from validated `fields` (PUT: all, PATCH: given)."""
    evse = (
        EVSE.objects.select_for_update(of=("self",))
        .filter(country_code=location.country_code, party_id=location.party_id, uid=uid)
        .first()
    )
    if evse is None and partial:
        raise OCPINotFound(f"Unknown EVSE {uid} at location {location.location_id}")
    created = evse is None
    if created:
        evse = EVSE(country_code=location.country_code, party_id=location.party_id, uid=uid)
    was_removed = not created and evse.status == EVSEStatus.REMOVED
    _move_to(evse, location, path=path, created=created)
    _set_evse_fields(evse, fields, path=path)
    connectors = fields.get("connectors")
    if created:
        # Placeholder values until the connectors below decide them.
        evse.power_type, evse.output_kw = connectors[0].power_type or "AC_1_PHASE", 0
    check_evse_ids([(path, evse)])
    evse.save()
    if connectors is not None:
        stored = _save_connectors(evse, connectors, path)
        evse.output_kw, evse.power_type = derive_output(stored)
        evse.save(update_fields=["output_kw", "power_type"])
    if evse.status == EVSEStatus.REMOVED and not was_removed:
        counts.removed += 1
        if not created:
            close_assignments_of_removed([evse], actor_name=actor_name)
    _count(counts, created=created)
    return evse


def _move_to(evse: EVSE, location: Location, *, path: str, created: bool) -> None:
    """Put the EVSE at `location`; a move to another owner's location is checked first (R2)."""
    moves_owner = (
        not created
        and evse.location_id != location.pk
        and evse.location.owner_id != location.owner_id
    )
    if moves_owner:
        check_moves(location, [(path, evse)])
    evse.location = location


def _set_evse_fields(evse: EVSE, fields: dict, *, path: str) -> None:
    for field in ("evse_id", "status", "last_updated"):
        if field in fields:
            if fields[field] is None and field != "last_updated":
                raise OCPIValidationError(f"{path}{field}: Input should not be null")
            setattr(evse, field, fields[field])


def _count(counts: EVSECounts, *, created: bool) -> None:
    if created:
        counts.created += 1
    else:
        counts.updated += 1


def _evse_fields(payload: EVSEPayload | EVSEPatch, *, partial: bool) -> dict:
    fields = payload.model_dump(
        exclude_unset=partial, include={"evse_id", "status", "last_updated"}
    )
    if not partial or "connectors" in payload.model_fields_set:
        fields["connectors"] = payload.connectors
    return fields


def _apply_location_fields(location: Location, payload, *, partial: bool) -> None:
    given = payload.model_fields_set if partial else set(type(payload).model_fields)
    for field in ("name", "address", "postal_code", "city", "country", "time_zone", "last_updated"):
        if field in given:
            value = getattr(payload, field)
            if value is None and field in ("address", "city", "country", "time_zone"):
                raise OCPIValidationError(f"{field}: Input should not be null")
            if value is None and field != "last_updated":
                value = ""
            setattr(location, field, value)


def _retrying(write):
    """Run `write` in a transaction; once more if a concurrent insert took a unique key."""
    try:
        with transaction.atomic():
            return write()
    except IntegrityError:
        pass
    try:
        with transaction.atomic():
            return write()
    except IntegrityError as exc:
        raise OCPIValidationError(
            "The update conflicts with another EVSE or location (duplicate EVSE ID or uid)."
        ) from exc


def upsert_location(
    *,
    country_code: str,
    party_id: str,
    location_id: str,
    payload: Any,
    partial: bool,
    actor_name: str,
) -> UpsertResult:
    """PUT (`partial=False`: the whole location) or PATCH (only the given fields) a location.

    EVSEs in the payload are created or updated (never deleted: OCPI marks them REMOVED). A new
    location belongs to the CPO (owner empty); an existing one keeps its owner.
    """
    country_code, party_id = country_code.upper(), party_id.upper()
    check_url_identity(payload, country_code=country_code, party_id=party_id, id=location_id)
    check_evse_count(payload)
    parsed = parse_object(LocationPatch if partial else LocationPayload, payload, "Location")

    def write() -> UpsertResult:
        location = (
            Location.objects.select_for_update()
            .filter(country_code=country_code, party_id=party_id, location_id=location_id)
            .first()
        )
        if location is None and partial:
            raise OCPINotFound(f"Unknown location {country_code}*{party_id} {location_id}")
        created = location is None
        if created:
            location = Location(
                country_code=country_code, party_id=party_id, location_id=location_id
            )
        _apply_location_fields(location, parsed, partial=partial)
        location.save()
        counts = upsert_location_evses(location, parsed.evses or [], actor_name=actor_name)
        return UpsertResult(
            location=location,
            created=created,
            evses_created=counts.created,
            evses_updated=counts.updated,
            evses_removed=counts.removed,
        )

    return _retrying(write)


def upsert_evse(
    *,
    country_code: str,
    party_id: str,
    location_id: str,
    evse_uid: str,
    payload: Any,
    partial: bool,
    actor_name: str,
) -> UpsertResult:
    """PUT or PATCH one EVSE of a known location; REMOVED closes its open assignment."""
    country_code, party_id = country_code.upper(), party_id.upper()
    check_url_identity(
        payload, country_code=country_code, party_id=party_id, id=location_id, uid=evse_uid
    )
    parsed = parse_object(EVSEPatch if partial else EVSEPayload, payload, "EVSE")

    def write() -> UpsertResult:
        location = (
            Location.objects.select_for_update()
            .filter(country_code=country_code, party_id=party_id, location_id=location_id)
            .first()
        )
        if location is None:
            raise OCPINotFound(f"Unknown location {country_code}*{party_id} {location_id}")
        counts = EVSECounts()
        _upsert_evse(
            location,
            _evse_fields(parsed, partial=partial),
            uid=evse_uid,
            actor_name=actor_name,
            path="",
            partial=partial,
            counts=counts,
        )
        if "last_updated" in parsed.model_fields_set and parsed.last_updated:
            # OCPI: changing an EVSE changes its location's last_updated too.
            location.last_updated = max(filter(None, [location.last_updated, parsed.last_updated]))
            location.save(update_fields=["last_updated"])
        return UpsertResult(
            location=location,
            created=False,
            evses_created=counts.created,
            evses_updated=counts.updated,
            evses_removed=counts.removed,
        )

    return _retrying(write)


def _new_connector(evse: EVSE, payload: ConnectorPayload, path: str) -> Connector:
    """An unsaved connector of a new EVSE; a new connector must say all its values."""
    connector = Connector(evse=evse, connector_id=payload.id)
    apply_connector(connector, payload, path)
    return connector


def _new_evse(location: Location, payload: EVSEPayload, path: str) -> tuple[EVSE, list[Connector]]:
    """An unsaved EVSE of a new location and its connectors, output derived as on a PUT."""
    fields = _evse_fields(payload, partial=False)
    evse = EVSE(
        country_code=location.country_code,
        party_id=location.party_id,
        uid=payload.uid,
        location=location,
        evse_id=normalize_evse_id(fields["evse_id"]),
        status=fields["status"],
        last_updated=fields["last_updated"],
    )
    connectors = [
        _new_connector(evse, connector, f"{path}connectors[{index}]")
        for index, connector in enumerate(payload.connectors)
    ]
    evse.output_kw, evse.power_type = derive_output(connectors)
    return evse, connectors


def _check_locations_unknown(locations: list[Location]) -> None:
    keys = {(row.country_code, row.party_id, row.location_id) for row in locations}
    if len(keys) < len(locations):
        raise OCPIValidationError("The same location is given twice.")
    known = match_locations(keys)
    if known:
        country_code, party_id, location_id = min(known)
        raise OCPIValidationError(
            f"Location {country_code}*{party_id} {location_id} exists already; update it with a "
            "PUT of that location."
        )


def _check_evse_ids_free_in_bulk(evses: list[EVSE]) -> None:
    """`_check_evse_id_free` for many new EVSEs: one query, and no EVSE ID twice in the batch."""
    active = [evse.evse_id for evse in evses if evse.status != EVSEStatus.REMOVED]
    taken = [evse_id for evse_id, count in Counter(active).items() if count > 1]
    for start in range(0, len(active), BULK_LOOKUP):
        taken += (
            EVSE.objects.active()
            .filter(evse_id__in=active[start : start + BULK_LOOKUP])
            .values_list("evse_id", flat=True)
        )
    if taken:
        raise OCPIValidationError(
            f"evse_id: {min(taken)} is already used by another EVSE; set that EVSE to REMOVED first"
        )


def create_locations(*, payloads: list[Any]) -> list[Location]:
    """Store new OCPI locations with their EVSEs and connectors, set-based (a network's first
    load, demo data): the same rows a PUT of each location would create, with a few queries
    whatever their number.

    All or nothing: a location that exists already, an EVSE ID in use, or an invalid payload
    (its field path named, prefixed with its position) refuses the whole batch.
    """
    locations, evses, connectors = [], [], []
    for position, payload in enumerate(payloads):
        try:
            parsed = parse_object(LocationPayload, payload, "Location")
            location = Location(
                country_code=parsed.country_code.upper(),
                party_id=parsed.party_id.upper(),
                location_id=parsed.id,
            )
            _apply_location_fields(location, parsed, partial=False)
            for index, evse_payload in enumerate(parsed.evses or []):
                evse, its_connectors = _new_evse(location, evse_payload, f"evses[{index}].")
                evses.append(evse)
                connectors += its_connectors
        except OCPIValidationError as exc:
            raise OCPIValidationError(f"locations[{position}]: {exc}") from exc
        locations.append(location)
    _check_locations_unknown(locations)
    _check_evse_ids_free_in_bulk(evses)
    try:
        with transaction.atomic():
            Location.objects.bulk_create(locations)
            EVSE.objects.bulk_create(evses)
            Connector.objects.bulk_create(connectors)
    except IntegrityError as exc:
        raise OCPIValidationError(
            "The locations conflict with EVSEs or locations stored meanwhile (duplicate EVSE ID "
            "or uid). Nothing was stored."
        ) from exc
    return locations


def import_location(*, payload: Any, actor_name: str) -> UpsertResult:
    """Create or update a whole location named by its own country_code, party_id and id."""
    parsed = parse_object(LocationPayload, payload, "Location")
    return upsert_location(
        country_code=parsed.country_code,
        party_id=parsed.party_id,
        location_id=parsed.id,
        payload=payload,
        partial=False,
        actor_name=actor_name,
    )
