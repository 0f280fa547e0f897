"""Every write to assignments (R1–R3, R7); payout accounts are `services.accounts`.

Each function is one transaction: it locks the rows it reads before it writes, checks the rules,
writes, and records the audit row. The partial unique constraint `one_open_assignment_per_evse`
is the final guard against races the locks did not see.
"""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from ..models import (
    CPO_OWN_LABEL,
    Assignment,
    AuditAction,
    EVSEStatus,
    PayoutAccount,
    UnassignReason,
)
from .audit import AUDIT_DETAIL_SAMPLE, record_audit_event

NAME_SAMPLE = 5


class AssignmentError(Exception):
    """A rule refused the change; the message says what blocked it and nothing was changed."""


def _named(values, sample=NAME_SAMPLE) -> str:
    values = sorted(values)
    shown = ", ".join(values[:sample])
    if len(values) > sample:
        shown += f" and {len(values) - sample} more"
    return shown


def _owner_label(owner_id, owner_names) -> str:
    return owner_names.get(owner_id, "?") if owner_id else CPO_OWN_LABEL


def _open_assignments_of(pks, batch_size=2000) -> list[tuple[str, str]]:
    """(EVSE ID, account name) of open assignments among the locked EVSEs, a sample at most.

    Checked by primary key, not by re-running the selection's filter: an EVSE that a filter like
    "unassigned" no longer matches must still be named as the blocker.
    """
    found = []
    for start in range(0, len(pks), batch_size):
        found += (
            Assignment.objects.open()
            .filter(evse_id__in=pks[start : start + batch_size])
            .values_list("evse__evse_id", "payout_account__name")[: NAME_SAMPLE + 1 - len(found)]
        )
        if len(found) > NAME_SAMPLE:
            break
    return found


@dataclass(frozen=True)
class AssignmentResult:
    account: PayoutAccount
    count: int


def _lock_active_account(account_id: int) -> PayoutAccount:
    account = (
        PayoutAccount.objects.select_for_update(no_key=True, of=("self",))
        .select_related("holder")
        .filter(pk=account_id)
        .first()
    )
    if account is None:
        raise AssignmentError("The payout account no longer exists. Nothing was assigned.")
    if not account.is_active:
        raise AssignmentError(
            f"The payout account “{account.name}” is inactive. Nothing was assigned."
        )
    return account


def _lock_selected_evses(evses: QuerySet, expected_count: int | None) -> list[tuple]:
    """(pk, EVSE ID, status, owner id, owner name) of the selection, locked, in pk order."""
    rows = list(
        evses.model.objects.filter(pk__in=evses.values("pk"))
        .select_for_update(no_key=True, of=("self",))
        .order_by("pk")
        .values_list("pk", "evse_id", "status", "location__owner_id", "location__owner__name")
    )
    if not rows:
        raise AssignmentError(
            "None of the selected EVSEs is unassigned any more. Nothing was assigned."
        )
    if expected_count is not None and len(rows) != expected_count:
        raise AssignmentError(
            f"The selection changed meanwhile: {len(rows):,} EVSEs match now instead of "
            f"{expected_count:,}. Nothing was assigned; review the list and try again."
        )
    removed = [evse_id for _, evse_id, status, _, _ in rows if status == EVSEStatus.REMOVED]
    if removed:
        raise AssignmentError(
            f"Removed EVSEs cannot be assigned: {_named(removed)}. Nothing was assigned."
        )
    return rows


def _check_owner_matches(rows: list[tuple], account: PayoutAccount) -> None:
    """R2: one owner in the selection, and it holds the account."""
    owner_names = {owner_id: name for _, _, _, owner_id, name in rows if owner_id}
    owners = {owner_id for _, _, _, owner_id, _ in rows}
    if len(owners) > 1:
        labels = _named([_owner_label(owner, owner_names) for owner in owners])
        raise AssignmentError(
            f"The selected EVSEs belong to different owners ({labels}). "
            "Select EVSEs of one owner at a time. Nothing was assigned."
        )
    (owner,) = owners
    if owner != account.holder_id:
        raise AssignmentError(
            f"The EVSEs belong to {_owner_label(owner, owner_names)} but the payout account "
            f"“{account.name}” belongs to {account.holder_label}. Nothing was assigned."
        )


def _check_none_assigned(pks: list[int]) -> None:
    already = _open_assignments_of(pks)
    if already:
        blockers = _named([f"{evse_id} (to “{name}”)" for evse_id, name in already])
        raise AssignmentError(
            f"Some EVSEs were assigned meanwhile: {blockers}. Nothing was assigned."
        )


def _open_assignments_to(account: PayoutAccount, rows: list[tuple], actor) -> None:
    """Insert the open assignments and their one audit row (R7)."""
    now = timezone.now()
    Assignment.objects.bulk_create(
        (
            Assignment(evse_id=pk, payout_account=account, assigned_at=now, assigned_by=actor)
            for pk, *_ in rows
        ),
        batch_size=2000,
    )
    record_audit_event(
        action=AuditAction.ASSIGN,
        actor=actor,
        payout_account=account,
        object_count=len(rows),
        summary=f"Assigned {len(rows):,} EVSEs to “{account.name}”",
        details={"evse_ids": [evse_id for _, evse_id, *_ in rows][:AUDIT_DETAIL_SAMPLE]},
    )


def assign_evses(
    *, evses: QuerySet, account_id: int, actor, expected_count: int | None = None
) -> AssignmentResult:
    """Give each EVSE of `evses` an open assignment to the account; all or nothing (R1, R2, R4).

    `evses` may be a filtered queryset ("select all matching"): it is resolved here, inside the
    transaction, when the rows are locked. `expected_count` is how many EVSEs the person confirmed;
    if the filter now matches a different number, nothing is assigned.
    """
    try:
        with transaction.atomic():
            account = _lock_active_account(account_id)
            rows = _lock_selected_evses(evses, expected_count)
            _check_owner_matches(rows, account)
            _check_none_assigned([pk for pk, *_ in rows])
            _open_assignments_to(account, rows, actor)
    except IntegrityError as exc:
        raise AssignmentError(
            "Some EVSEs were assigned by someone else at the same moment. Nothing was assigned; "
            "reload the list and try again."
        ) from exc
    return AssignmentResult(account=account, count=len(rows))


def unassign_evses(
    *, evses: QuerySet, actor, reason: str = UnassignReason.MANUAL, account_id: int | None = None
) -> int:
    """Close the open assignments of `evses` (R3); returns how many were closed.

    With `account_id`, only assignments to that account are closed: an EVSE moved to another
    account meanwhile is left alone and reported.
    """
    with transaction.atomic():
        # The EVSE rows first, as assigning and the OCPI location updates lock them: closing an
        # assignment rewrites the EVSE's row of unassigned EVSEs (a trigger), which locks it too.
        selected = evses.model.objects.filter(pk__in=evses.values("pk"))
        list(selected.select_for_update(no_key=True, of=("self",)).order_by("pk").values_list("pk"))
        open_assignments = Assignment.objects.open().filter(evse_id__in=selected.values("pk"))
        if account_id is not None:
            open_assignments = open_assignments.filter(payout_account_id=account_id)
        rows = list(
            open_assignments.select_for_update(of=("self",))
            .order_by("pk")
            .values_list("pk", "evse__evse_id", "payout_account_id")
        )
        if not rows:
            raise AssignmentError(
                "None of the selected EVSEs is assigned any more. Nothing was unassigned."
            )
        now = timezone.now()
        Assignment.objects.filter(pk__in=[pk for pk, *_ in rows]).update(
            unassigned_at=now, unassigned_by=actor, unassign_reason=reason
        )
        accounts = {account for *_, account in rows}
        record_audit_event(
            action=AuditAction.UNASSIGN,
            actor=actor,
            payout_account=PayoutAccount.objects.get(pk=accounts.pop())
            if len(accounts) == 1
            else None,
            object_count=len(rows),
            summary=f"Unassigned {len(rows):,} EVSEs",
            details={
                "evse_ids": [evse_id for _, evse_id, _ in rows][:AUDIT_DETAIL_SAMPLE],
                "reason": reason,
            },
        )
    return len(rows)
