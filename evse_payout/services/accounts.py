"""Creating and changing payout accounts (R2, R7).

Activity is not changed here: `deactivate_payout_account` / `reactivate_payout_account` in
`services.assignments` own it, because deactivating unassigns EVSEs (R4).
"""

from decimal import Decimal

from django.db import IntegrityError, transaction

from ..models import Assignment, AuditAction, PayoutAccount, SubCPO
from ..validators import normalize_iban
from .audit import record_audit_event

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


def _masked_iban(iban: str) -> str:
    return f"{iban[:4]} … {iban[-4:]}" if len(iban) > 8 else iban


def _audit_value(field: str, value) -> str:
    if field == "iban":
        return _masked_iban(value or "")
    if isinstance(value, SubCPO):
        return value.name
    if value is None and field == "holder":
        return "CPO (own)"
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


def update_payout_account(*, account: PayoutAccount, actor, **changes) -> PayoutAccount:
    """Apply `changes` (fields of EDITABLE_FIELDS) to the account; returns the saved account.

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
        # save() normalises IBAN, BIC and currency; compare what would be stored.
        locked.iban = normalize_iban(locked.iban)
        locked.bic, locked.currency = locked.bic.strip().upper(), locked.currency.strip().upper()
        changed = [field for field in EDITABLE_FIELDS if getattr(locked, field) != before[field]]
        if not changed:
            return locked
        locked_fields = [field for field in changed if field in FIELDS_LOCKED_WHILE_ASSIGNED]
        if locked_fields:
            open_count = Assignment.objects.open().filter(payout_account=locked).count()
            if open_count:
                field = locked_fields[0]
                raise PayoutAccountError(
                    f"“{before['name']}” has {open_count:,} assigned EVSE"
                    f"{'s' if open_count != 1 else ''}: unassign them before changing its "
                    f"{FIELDS_LOCKED_WHILE_ASSIGNED[field]}. Nothing was changed.",
                    field=field,
                )
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
    return locked
