"""Creating and changing payout accounts: validation, R2 (owner) and currency guards, audit (R7)."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from evse_payout.models import AuditAction, AuditEvent, PayoutAccount
from evse_payout.services.accounts import (
    PayoutAccountError,
    create_payout_account,
    update_payout_account,
)
from evse_payout.services.assignments import unassign_evses
from tests.factories import (
    AssignmentFactory,
    EVSEFactory,
    PayoutAccountFactory,
    SubCPOFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

VALID_IBAN = "BE68539007547034"


def account_data(**overrides):
    data = {
        "name": "Hotel payouts",
        "holder": None,
        "account_holder_name": "Hotel Chain NV",
        "iban": "be68 5390 0754 7034",
        "bic": "gkccbebb",
        "vat_number": "BE0123456749",
        "currency": "EUR",
        "commission_percent": Decimal("12.50"),
        "fee_per_kwh": Decimal("0.0300"),
        "fee_per_session": Decimal("0.50"),
    }
    data.update(overrides)
    return data


def test_create_payout_account_normalises_iban_and_records_audit():
    actor = UserFactory()
    holder = SubCPOFactory()

    account = create_payout_account(**account_data(holder=holder), actor=actor)

    account.refresh_from_db()
    assert account.iban == VALID_IBAN
    assert account.bic == "GKCCBEBB"
    assert account.holder == holder
    assert account.is_active
    event = AuditEvent.objects.get(payout_account=account)
    assert event.action == AuditAction.ACCOUNT_CREATE
    assert event.actor == actor
    assert "Hotel payouts" in event.summary


def test_create_payout_account_refuses_invalid_iban_and_writes_nothing():
    with pytest.raises(ValidationError) as excinfo:
        create_payout_account(**account_data(iban="BE68539007547035"), actor=UserFactory())
    assert "iban" in excinfo.value.message_dict
    assert not PayoutAccount.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("commission_percent", Decimal("100.01")),
        ("commission_percent", Decimal("-1")),
        ("fee_per_kwh", Decimal("-0.01")),
        ("fee_per_session", Decimal("-0.01")),
    ],
)
def test_create_payout_account_refuses_fee_terms_out_of_range(field, value):
    with pytest.raises(ValidationError) as excinfo:
        create_payout_account(**account_data(**{field: value}), actor=UserFactory())
    assert field in excinfo.value.message_dict


def test_update_payout_account_records_what_changed():
    account = PayoutAccountFactory(fee_per_session=Decimal("0.25"))
    actor = UserFactory()

    update_payout_account(
        account=account, name="Renamed", fee_per_session=Decimal("0.40"), actor=actor
    )

    account.refresh_from_db()
    assert account.name == "Renamed"
    assert account.fee_per_session == Decimal("0.40")
    event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_UPDATE)
    assert event.actor == actor
    assert event.payout_account == account
    assert event.details["fee_per_session"] == ["0.25", "0.40"]
    assert set(event.details) == {"name", "fee_per_session"}


def test_update_payout_account_without_changes_records_nothing():
    account = PayoutAccountFactory()
    update_payout_account(account=account, name=account.name, actor=UserFactory())
    assert not AuditEvent.objects.exists()


def test_update_payout_account_masks_the_iban_in_the_audit_trail():
    account = PayoutAccountFactory(iban=VALID_IBAN)
    update_payout_account(account=account, iban="DE89 3704 0044 0532 0130 00", actor=None)
    event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_UPDATE)
    assert event.details["iban"] == ["BE68 … 7034", "DE89 … 3000"]


def test_holder_change_refused_while_evses_are_assigned():
    account = PayoutAccountFactory(holder=None)
    AssignmentFactory(payout_account=account)

    with pytest.raises(PayoutAccountError) as excinfo:
        update_payout_account(account=account, holder=SubCPOFactory(), actor=UserFactory())

    assert excinfo.value.field == "holder"
    assert "1 assigned EVSE" in excinfo.value.message
    account.refresh_from_db()
    assert account.holder is None
    assert not AuditEvent.objects.filter(action=AuditAction.ACCOUNT_UPDATE).exists()


def test_currency_change_refused_while_evses_are_assigned():
    account = PayoutAccountFactory(currency="EUR")
    AssignmentFactory.create_batch(2, payout_account=account)

    with pytest.raises(PayoutAccountError) as excinfo:
        update_payout_account(account=account, currency="CHF", actor=UserFactory())

    assert excinfo.value.field == "currency"
    assert "2 assigned EVSEs" in excinfo.value.message
    account.refresh_from_db()
    assert account.currency == "EUR"


def test_holder_change_allowed_once_the_evses_are_unassigned():
    account = PayoutAccountFactory(holder=None)
    assignment = AssignmentFactory(payout_account=account)
    actor = UserFactory()
    unassign_evses(evses=type(assignment.evse).objects.filter(pk=assignment.evse_id), actor=actor)
    holder = SubCPOFactory()

    update_payout_account(account=account, holder=holder, currency="CHF", actor=actor)

    account.refresh_from_db()
    assert (account.holder, account.currency) == (holder, "CHF")


def test_other_fields_change_while_evses_are_assigned():
    account = PayoutAccountFactory()
    AssignmentFactory(payout_account=account, evse=EVSEFactory())
    update_payout_account(account=account, commission_percent=Decimal("5"), actor=None)
    account.refresh_from_db()
    assert account.commission_percent == Decimal("5.00")


def test_update_payout_account_cannot_change_activity():
    account = PayoutAccountFactory()
    with pytest.raises(TypeError):
        update_payout_account(account=account, is_active=False, actor=None)
    account.refresh_from_db()
    assert account.is_active


def test_update_payout_account_refuses_a_duplicate_name():
    PayoutAccountFactory(name="Taken")
    account = PayoutAccountFactory()
    with pytest.raises(ValidationError) as excinfo:
        update_payout_account(account=account, name="Taken", actor=None)
    assert "name" in excinfo.value.message_dict
