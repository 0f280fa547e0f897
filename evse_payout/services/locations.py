"""A location's owner (the Sub-CPO that owns every EVSE at it, or the CPO): changed only here.

R2 says an EVSE is assigned only to an account of its owner. Changing the owner of a location
whose EVSEs are assigned to another holder's accounts, or moving such an EVSE to a location of
another owner, would break that in the database; both are refused until the EVSEs are unassigned.
"""

from django.db import transaction

from ..models import CPO_OWN_LABEL, Assignment, AuditAction, Location, SubCPO
from .audit import record_audit_event

SAMPLE = 5


class LocationOwnerError(Exception):
    """The owner change would break R2; the message names the blocking EVSEs. Nothing changed."""


def owner_label(owner: SubCPO | None) -> str:
    return owner.name if owner is not None else CPO_OWN_LABEL


def _of_another_holder(assignments, owner: SubCPO | None):
    """Those of `assignments` that are open and to an account not held by `owner` (R2)."""
    assignments = assignments.filter(unassigned_at__isnull=True)
    if owner is None:
        return assignments.exclude(payout_account__holder__isnull=True)
    return assignments.exclude(payout_account__holder_id=owner.pk)


def _blocking_assignments(location: Location, owner: SubCPO | None) -> list[tuple[str, str]]:
    """(EVSE ID, account name) of open assignments at the location to another holder's account."""
    blocking = _of_another_holder(Assignment.objects.filter(evse__location=location), owner)
    return list(
        blocking.order_by("evse__evse_id").values_list("evse__evse_id", "payout_account__name")[
            : SAMPLE + 1
        ]
    )


def evses_blocking_move(*, evse_pks: list[int], owner: SubCPO | None) -> list[tuple[int, str, str]]:
    """(EVSE pk, EVSE ID, account name) of those EVSEs that are assigned to an account of another
    holder than `owner`: they may not move to a location of `owner` (R2). One query."""
    blocking = _of_another_holder(Assignment.objects.filter(evse_id__in=evse_pks), owner)
    return list(
        blocking.order_by("evse__evse_id").values_list(
            "evse_id", "evse__evse_id", "payout_account__name"
        )[: SAMPLE + 1]
    )


def check_location_owner(*, location: Location, owner: SubCPO | None) -> None:
    """Raise LocationOwnerError if giving `location` to `owner` would break R2."""
    blocking = _blocking_assignments(location, owner)
    if not blocking:
        return
    shown = ", ".join(f"{evse_id} (to “{name}”)" for evse_id, name in blocking[:SAMPLE])
    more = " and more" if len(blocking) > SAMPLE else ""
    raise LocationOwnerError(
        f"Location “{location}” cannot go to {owner_label(owner)}: its EVSEs {shown}{more} are "
        "assigned to accounts of another holder (R2). Unassign them first; nothing was changed."
    )


def change_location_owner(*, location: Location, owner: SubCPO | None, actor) -> Location:
    """Give the location (and so every EVSE at it) a new owner; refused under R2, audited."""
    with transaction.atomic():
        locked = (
            Location.objects.select_for_update(of=("self",))
            .select_related("owner")
            .get(pk=location.pk)
        )
        # Lock its EVSEs too: an assignment being made to the old owner waits for us, or we see it.
        list(locked.evses.select_for_update(of=("self",)).values_list("pk", flat=True))
        before = locked.owner
        if (before.pk if before else None) == (owner.pk if owner else None):
            return locked
        check_location_owner(location=locked, owner=owner)
        locked.owner = owner
        locked.save(update_fields=["owner"])
        record_audit_event(
            action=AuditAction.LOCATION_OWNER,
            actor=actor,
            object_count=locked.evses.count(),
            summary=f"Location “{locked}” now belongs to {owner_label(owner)} "
            f"(was {owner_label(before)})",
            details={"location": locked.pk, "before": owner_label(before)},
        )
    location.refresh_from_db()
    return locked
