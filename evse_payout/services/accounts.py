"""Every write to a payout account: create, update, deactivate, reactivate (R2, R4, R7).

Every path — the product's pages, the Django admin, commands — calls these functions; each is one
transaction with its audit row and returns what it did. Deactivation closes the account's open
assignments here, explicitly (`close_assignments_of_deactivated_account`); the model signal calls
the same function as a safety net for any other `save()`.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import CPO_OWN_LABEL, Assignment, AuditAction, PayoutAccount, SubCPO, UnassignReason
from .audit import actor_label, record_audit_event

EDITABLE_FIELDS = (
    "name",
    "holder",
    "account_holder_name",
    "iban",
    "bic",
    "vat_number",
    "currency",
    "commission_percent",
    "fee_per_kwh",
    "fee_per_session",
    "minimum_payout",
)
# Open assignments were checked against these (R2: owner match; R5: currency), so they stay put.
FIELDS_LOCKED_WHILE_ASSIGNED = {"holder": "holder", "currency": "currency"}


class PayoutAccountError(Exception):
    """A rule refused the change; nothing was changed. `field` names the form field to blame."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class AccountChange:
    """What a service call did to an account: the fields it changed and the EVSEs it unassigned."""

    account: PayoutAccount
    changed: tuple[str, ...] = ()
    unassigned_count: int = 0


def _masked_iban(iban: str) -> str:
    return f"{iban[:4]} … {iban[-4:]}" if len(iban) > 8 else iban


def _audit_value(field: str, value) -> str:
    if field == "iban":
        return _masked_iban(value or "")
    if isinstance(value, SubCPO):
        return value.name
    if value is None and field == "holder":
        return CPO_OWN_LABEL
    return str(value)


def _save(account: PayoutAccount, **save_kwargs) -> None:
    account.full_clean()
    try:
        with transaction.atomic():
            account.save(**save_kwargs)
    except IntegrityError as exc:
        raise PayoutAccountError(
            f"A payout account named “{account.name}” already exists.", field="name"
        ) from exc


def create_payout_account(
    *,
    name: str,
    holder: SubCPO | None,
    account_holder_name: str,
    iban: str,
    bic: str = "",
    vat_number: str = "",
    currency: str = "EUR",
    commission_percent: Decimal = Decimal("0"),
    fee_per_kwh: Decimal = Decimal("0"),
    fee_per_session: Decimal = Decimal("0"),
    minimum_payout: Decimal = Decimal("0.00"),
    actor,
) -> PayoutAccount:
    """Create an active payout account; raises ValidationError on invalid data."""
    account = PayoutAccount(
        name=name,
        holder=holder,
        account_holder_name=account_holder_name,
        iban=iban,
        bic=bic,
        vat_number=vat_number,
        currency=currency,
        commission_percent=commission_percent,
        fee_per_kwh=fee_per_kwh,
        fee_per_session=fee_per_session,
        minimum_payout=minimum_payout,
        is_active=True,
    )
    with transaction.atomic():
        _save(account)
        record_audit_event(
            action=AuditAction.ACCOUNT_CREATE,
            actor=actor,
            payout_account=account,
            summary=f"Created payout account “{account.name}” for {account.holder_label}",
            details={
                field: _audit_value(field, getattr(account, field)) for field in EDITABLE_FIELDS
            },
        )
    return account


def _check_locked_fields(account: PayoutAccount, changed, *, name: str) -> None:
    locked_fields = [field for field in changed if field in FIELDS_LOCKED_WHILE_ASSIGNED]
    if not locked_fields:
        return
    open_count = open_assignment_count(account)
    if open_count:
        field = locked_fields[0]
        raise PayoutAccountError(
            f"“{name}” has {open_count:,} assigned EVSE{'s' if open_count != 1 else ''}: "
            f"unassign them before changing its {FIELDS_LOCKED_WHILE_ASSIGNED[field]}. "
            "Nothing was changed.",
            field=field,
        )


def check_payout_account_change(*, account: PayoutAccount, changed) -> None:
    """Raise PayoutAccountError if changing the `changed` fields breaks a rule; lets a form
    show the refusal next to the field before `update_payout_account` checks again under lock."""
    _check_locked_fields(account, changed, name=account.name)


def update_payout_account(*, account: PayoutAccount, actor, **changes) -> AccountChange:
    """Apply `changes` (fields of EDITABLE_FIELDS) to the account; returns what changed.

    Refuses to change the holder or the currency while EVSEs are assigned to the account: their
    assignments were made under the old owner (R2) and their CDRs are rated in its currency.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(
            f"update_payout_account cannot change {', '.join(sorted(unknown))}; "
            "activity changes through deactivate_payout_account / reactivate_payout_account."
        )
    with transaction.atomic():
        locked = (
            PayoutAccount.objects.select_for_update(of=("self",))
            .select_related("holder")
            .get(pk=account.pk)
        )
        before = {field: getattr(locked, field) for field in EDITABLE_FIELDS}
        for field, value in changes.items():
            setattr(locked, field, value)
        # Compare what would be stored (IBAN, BIC and currency normalised as save() does).
        locked.normalize_bank_fields()
        changed = [field for field in EDITABLE_FIELDS if getattr(locked, field) != before[field]]
        if not changed:
            return AccountChange(account=locked)
        _check_locked_fields(locked, changed, name=before["name"])
        _save(locked, update_fields=changed)
        record_audit_event(
            action=AuditAction.ACCOUNT_UPDATE,
            actor=actor,
            payout_account=locked,
            summary=f"Changed payout account “{locked.name}”: {', '.join(changed)}",
            details={
                field: [
                    _audit_value(field, before[field]),
                    _audit_value(field, getattr(locked, field)),
                ]
                for field in changed
            },
        )
    account.refresh_from_db()
    return AccountChange(account=locked, changed=tuple(changed))


def close_assignments_of_deactivated_account(*, account: PayoutAccount, actor) -> int:
    """R4: close every open assignment of an account that is becoming inactive; audited (R7).

    Called by `deactivate_payout_account` and by the model signal that catches any other
    `save()`; it must run inside the transaction that deactivates the account.
    """
    now = timezone.now()
    closed = (
        Assignment.objects.open()
        .filter(payout_account=account)
        .update(
            unassigned_at=now,
            unassigned_by=actor,
            unassign_reason=UnassignReason.ACCOUNT_DEACTIVATED,
        )
    )
    record_audit_event(
        action=AuditAction.ACCOUNT_DEACTIVATE,
        actor=actor,
        payout_account=account,
        object_count=closed,
        summary=f"Deactivated payout account “{account.name}”; unassigned {closed:,} EVSEs",
    )
    return closed


def _lock(account: PayoutAccount) -> PayoutAccount:
    return PayoutAccount.objects.select_for_update().get(pk=account.pk)


def deactivate_payout_account(*, account: PayoutAccount, actor) -> AccountChange:
    """Deactivate the account and unassign its EVSEs in one transaction (R4), audited."""
    with transaction.atomic():
        locked = _lock(account)
        if not locked.is_active:
            raise PayoutAccountError(f"The payout account “{locked.name}” is already inactive.")
        closed = close_assignments_of_deactivated_account(account=locked, actor=actor)
        # The assignments are closed above; record_activity skips save()'s safety net.
        PayoutAccount.objects.filter(pk=locked.pk).record_activity(
            is_active=False, at=timezone.now(), by=actor
        )
    account.refresh_from_db()
    return AccountChange(account=account, changed=("is_active",), unassigned_count=closed)


def reactivate_payout_account(*, account: PayoutAccount, actor) -> AccountChange:
    """Make an inactive account assignable again (its old assignments stay closed), audited."""
    with transaction.atomic():
        locked = _lock(account)
        if locked.is_active:
            raise PayoutAccountError(f"The payout account “{locked.name}” is already active.")
        PayoutAccount.objects.filter(pk=locked.pk).record_activity(is_active=True, at=None, by=None)
        record_audit_event(
            action=AuditAction.ACCOUNT_REACTIVATE,
            actor=actor,
            payout_account=locked,
            summary=f"Reactivated payout account “{locked.name}” ({actor_label(actor)})",
        )
    account.refresh_from_db()
    return AccountChange(account=account, changed=("is_active",))


def open_assignment_count(account: PayoutAccount) -> int:
    return Assignment.objects.open().filter(payout_account=account).count()
