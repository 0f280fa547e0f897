"""The EVSEs of one OCPI location written in a constant number of queries (issue 11 §2).

A location PUT lists up to MAX_EVSES_PER_LOCATION EVSEs with their connectors. Each step below is
one query (or one per step, whatever the number of EVSEs): lock the known EVSEs, check the
owner rule for EVSEs that move here (R2) and the EVSE IDs, read their connectors, insert and
update EVSEs, insert, update and delete connectors, close the assignments of EVSEs set REMOVED.
`services.ocpi_ingest` calls it inside its transaction.
"""

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from ..models import (
    EVSE,
    PHASES,
    Assignment,
    AuditAction,
    AuditEvent,
    Connector,
    EVSEStatus,
    Location,
    UnassignReason,
)
from ..payloads.ocpi import ConnectorPayload, EVSEPayload, OCPIValidationError
from ..validators import normalize_evse_id
from .bulk_sql import insert_numbered, insert_rows, model_columns, update_from_rows
from .locations import evses_blocking_move, owner_label

MAX_EVSES_PER_LOCATION = 1000
KW = Decimal("0.01")
EVSE_FIELDS = ["evse_id", "status", "last_updated", "location", "output_kw", "power_type"]
CONNECTOR_FIELDS = [
    "standard",
    "format",
    "power_type",
    "max_voltage",
    "max_amperage",
    "max_electric_power",
    "last_updated",
]


def _connector_kw(connector: Connector) -> Decimal:
    if connector.max_electric_power:
        return Decimal(connector.max_electric_power) / 1000
    phases = PHASES[connector.power_type]
    return Decimal(connector.max_voltage) * Decimal(connector.max_amperage) * phases / 1000


def derive_output(connectors: list[Connector]) -> tuple[Decimal, str]:
    """(output kW, power type) of an EVSE: its strongest connector decides (DESIGN §2)."""
    strongest = max(connectors, key=_connector_kw)
    # Output is a displayed capacity, not money: two decimals like the column.
    return _connector_kw(strongest).quantize(KW, rounding=ROUND_HALF_UP), strongest.power_type


def apply_connector(connector: Connector, payload: ConnectorPayload, path: str) -> None:
    """Set a connector from its payload; a known connector keeps the values the payload omits."""
    connector.standard = payload.standard
    connector.format = payload.format
    for name in ("power_type", "max_voltage", "max_amperage"):
        value = getattr(payload, name)
        if value is not None:
            setattr(connector, name, value)
        elif getattr(connector, name) in (None, ""):
            raise OCPIValidationError(f"{path}.{name}: Field required for a new connector")
    if payload.max_electric_power is not None or connector.pk is None:
        connector.max_electric_power = payload.max_electric_power
    if payload.last_updated is not None:
        connector.last_updated = payload.last_updated


def check_evse_count(payload) -> None:
    """Refuse a location with too many EVSEs before parsing them (a PUT must stay cheap)."""
    evses = payload.get("evses") if isinstance(payload, dict) else None
    if isinstance(evses, list) and len(evses) > MAX_EVSES_PER_LOCATION:
        raise OCPIValidationError(
            f"evses: at most {MAX_EVSES_PER_LOCATION:,} EVSEs per location, not {len(evses):,}; "
            "split the site into several locations."
        )


# -- R2 and EVSE IDs ---------------------------------------------------------------------------


def check_moves(location: Location, moves: list[tuple[str, EVSE]]) -> None:
    """EVSEs (with their payload path) moving to `location` from a location of another owner
    must not be assigned to an account of another holder than the new owner (R2)."""
    moved = {evse.pk: path for path, evse in moves}
    if not moved:
        return
    blocking = evses_blocking_move(evse_pks=list(moved), owner=location.owner)
    if blocking:
        evse_pk, evse_id, account = blocking[0]
        raise OCPIValidationError(
            f"{moved[evse_pk]}uid: EVSE {evse_id} is assigned to payout account “{account}”; "
            f"moving it to location {location.location_id} of {owner_label(location.owner)} "
            "would give it another owner (R2). Unassign it first; nothing was stored."
        )


def _taken_message(path: str, evse_id: str, holder: tuple[str, str, str]) -> str:
    country_code, party_id, uid = holder
    return (
        f"{path}evse_id: {evse_id} is already used by EVSE uid {uid} "
        f"({country_code}*{party_id}); set that EVSE to REMOVED first"
    )


def check_evse_ids(entries: list[tuple[str, EVSE]]) -> None:
    """Each EVSE not REMOVED has an EVSE ID no other such EVSE has (in the payload or stored)."""
    active = [(path, evse) for path, evse in entries if evse.status != EVSEStatus.REMOVED]
    seen: dict[str, EVSE] = {}
    for path, evse in active:
        if evse.evse_id in seen:
            first = seen[evse.evse_id]
            raise OCPIValidationError(
                _taken_message(path, evse.evse_id, (first.country_code, first.party_id, first.uid))
            )
        seen[evse.evse_id] = evse
    if not seen:
        return
    holders = {
        evse_id: (country_code, party_id, uid)
        for evse_id, country_code, party_id, uid in EVSE.objects.active()
        .filter(evse_id__in=list(seen))
        .exclude(pk__in=[evse.pk for _, evse in entries if evse.pk is not None])
        .values_list("evse_id", "country_code", "party_id", "uid")
    }
    for path, evse in active:
        if evse.evse_id in holders:
            raise OCPIValidationError(_taken_message(path, evse.evse_id, holders[evse.evse_id]))


# -- REMOVED -----------------------------------------------------------------------------------


def close_assignments_of_removed(evses: list[EVSE], *, actor_name: str) -> None:
    """Removed EVSEs leave the unassigned list; their open assignments close (`evse_removed`),
    with one audit row per EVSE — three queries for any number of EVSEs."""
    if not evses:
        return
    open_assignments = {
        assignment.evse_id: assignment
        for assignment in Assignment.objects.open()
        .select_for_update(of=("self",))
        .filter(evse__in=[evse.pk for evse in evses])
        .select_related("payout_account")
    }
    now = timezone.now()
    if open_assignments:
        Assignment.objects.filter(pk__in=[a.pk for a in open_assignments.values()]).update(
            unassigned_at=now, unassign_reason=UnassignReason.EVSE_REMOVED
        )
    AuditEvent.objects.bulk_create(
        _removed_event(evse, open_assignments.get(evse.pk), actor_name=actor_name, now=now)
        for evse in evses
    )


def _removed_event(evse: EVSE, assignment, *, actor_name: str, now) -> AuditEvent:
    account = assignment.payout_account if assignment else None
    return AuditEvent(
        at=now,
        actor_label=actor_name or "system",
        action=AuditAction.EVSE_REMOVED,
        payout_account=account,
        object_count=1,
        summary=(
            f"EVSE {evse.evse_id} removed by the CPO"
            + (f"; unassigned from “{account.name}”" if account else "")
        )[:500],
        details={"evse_id": evse.evse_id, "uid": evse.uid, "closed_assignment": bool(assignment)},
    )


# -- The bulk upsert ---------------------------------------------------------------------------


@dataclass
class _Planned:
    path: str
    payload: EVSEPayload
    evse: EVSE
    created: bool
    was_removed: bool
    connectors: list[Connector] = field(default_factory=list)


@dataclass
class EVSECounts:
    created: int = 0
    updated: int = 0
    removed: int = 0


def _plan(location: Location, payloads: list[EVSEPayload]) -> list[_Planned]:
    paths: dict[str, str] = {}
    for index, payload in enumerate(payloads):
        if payload.uid in paths:
            raise OCPIValidationError(
                f"evses[{index}].uid: {payload.uid} is listed twice (first as {paths[payload.uid]})"
            )
        paths[payload.uid] = f"evses[{index}]"
    known = {
        evse.uid: evse
        for evse in EVSE.objects.select_for_update(of=("self",))
        .select_related("location")
        .filter(country_code=location.country_code, party_id=location.party_id, uid__in=paths)
    }
    plans = []
    for index, payload in enumerate(payloads):
        evse = known.get(payload.uid)
        plans.append(
            _Planned(
                path=f"evses[{index}].",
                payload=payload,
                evse=evse
                or EVSE(
                    country_code=location.country_code,
                    party_id=location.party_id,
                    uid=payload.uid,
                ),
                created=evse is None,
                was_removed=evse is not None and evse.status == EVSEStatus.REMOVED,
            )
        )
    return plans


def _moves(location: Location, plans: list[_Planned]) -> list[tuple[str, EVSE]]:
    return [
        (plan.path, plan.evse)
        for plan in plans
        if not plan.created
        and plan.evse.location_id != location.pk
        and plan.evse.location.owner_id != location.owner_id
    ]


def _plan_connectors(plans: list[_Planned]) -> None:
    """Each EVSE's connectors as they will be stored; output and power type follow from them."""
    stored: dict[int, dict[str, Connector]] = {}
    known_pks = [plan.evse.pk for plan in plans if not plan.created]
    for connector in Connector.objects.filter(evse_id__in=known_pks):
        stored.setdefault(connector.evse_id, {})[connector.connector_id] = connector
    for plan in plans:
        known = stored.get(plan.evse.pk, {})
        for index, payload in enumerate(plan.payload.connectors):
            connector = known.get(payload.id) or Connector(connector_id=payload.id)
            apply_connector(connector, payload, f"{plan.path}connectors[{index}]")
            plan.connectors.append(connector)
        plan.evse.output_kw, plan.evse.power_type = derive_output(plan.connectors)


def _insert(model, objects: list, *, set_pks: bool = False) -> None:
    """INSERT `objects` in one statement; with `set_pks`, set their primary keys."""
    columns = model_columns(model)
    spec = [(column, sql_type) for column, sql_type, _ in columns]
    rows = [[getattr(obj, attname) for _, _, attname in columns] for obj in objects]
    if not set_pks:
        insert_rows(model, spec, rows)
        return
    for obj, pk in zip(objects, insert_numbered(model, spec, rows), strict=True):
        obj.pk = pk
        obj._state.adding = False


def _update(model, objects: list, fields: list[str]) -> None:
    """UPDATE each of `objects` to its own values of `fields`, in one statement."""
    spec = {attname: (column, sql_type) for column, sql_type, attname in model_columns(model)}
    attnames = [model._meta.get_field(name).attname for name in fields]
    update_from_rows(
        model,
        [("id", "bigint"), *[spec[attname] for attname in attnames]],
        [[obj.pk, *[getattr(obj, attname) for attname in attnames]] for obj in objects],
    )


def _write(location: Location, plans: list[_Planned]) -> None:
    for plan in plans:
        evse, payload = plan.evse, plan.payload
        evse.location = location
        evse.last_updated = payload.last_updated
    existing = [plan.evse for plan in plans if not plan.created]
    _insert(EVSE, [plan.evse for plan in plans if plan.created], set_pks=True)
    _update(EVSE, existing, EVSE_FIELDS)
    kept, new = [], []
    for plan in plans:
        for connector in plan.connectors:
            connector.evse = plan.evse
            (kept if connector.pk else new).append(connector)
    Connector.objects.filter(evse__in=[evse.pk for evse in existing]).exclude(
        pk__in=[connector.pk for connector in kept]
    ).delete()
    _update(Connector, kept, CONNECTOR_FIELDS)
    _insert(Connector, new)


def upsert_location_evses(
    location: Location, payloads: list[EVSEPayload], *, actor_name: str
) -> EVSECounts:
    """Create or update the listed EVSEs of `location` (PUT semantics for each), with their
    connectors, in a constant number of queries; REMOVED closes open assignments."""
    plans = _plan(location, payloads)
    check_moves(location, _moves(location, plans))
    for plan in plans:
        plan.evse.evse_id = normalize_evse_id(plan.payload.evse_id)
        plan.evse.status = plan.payload.status
    check_evse_ids([(plan.path, plan.evse) for plan in plans])
    _plan_connectors(plans)
    _write(location, plans)
    removed = [
        plan for plan in plans if plan.evse.status == EVSEStatus.REMOVED and not plan.was_removed
    ]
    close_assignments_of_removed(
        [plan.evse for plan in removed if not plan.created], actor_name=actor_name
    )
    created = sum(plan.created for plan in plans)
    return EVSECounts(created=created, updated=len(plans) - created, removed=len(removed))
