"""R4 through a plain `save()`, and the validation of a payout account's fields."""

import pytest
from django.core.exceptions import ValidationError

from evse_payout.models import Assignment, AuditAction, AuditEvent, PayoutAccount, UnassignReason
from evse_payout.services.accounts import deactivate_payout_account
from evse_payout.services.assignments import AssignmentError, assign_evses
from tests.factories import (
    AssignmentFactory,
    EVSEFactory,
    PayoutAccountFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def assert_deactivation_unassigned(account, user, count):
    """Shared by the save(), admin form and admin action tests: R4 and its audit (R7)."""
    assert not Assignment.objects.open().filter(payout_account=account).exists()
    closed = Assignment.objects.filter(payout_account=account)
    assert closed.count() == count
    assert {(a.unassign_reason, a.unassigned_by_id) for a in closed} == {
        (UnassignReason.ACCOUNT_DEACTIVATED, user.pk)
    }
    assert all(a.unassigned_at is not None for a in closed)
    event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_DEACTIVATE, payout_account=account)
    assert (event.actor, event.actor_label, event.object_count) == (user, user.username, count)
    account.refresh_from_db()
    assert not account.is_active
    assert account.deactivated_at is not None
    assert account.deactivated_by == user


def test_saving_account_inactive_unassigns_its_evses_as_the_acting_user():
    user = UserFactory()
    account = PayoutAccountFactory()
    AssignmentFactory.create_batch(3, payout_account=account)
    other = AssignmentFactory()

    account.is_active = False
    account.deactivated_by = user
    account.save()

    assert_deactivation_unassigned(account, user, 3)
    assert Assignment.objects.open().get() == other


def test_saving_an_already_inactive_account_closes_nothing_again():
    user = UserFactory()
    account = PayoutAccountFactory()
    AssignmentFactory(payout_account=account)
    deactivate_payout_account(account=account, actor=user)

    account.name = "Renamed"
    account.save()

    assert AuditEvent.objects.filter(action=AuditAction.ACCOUNT_DEACTIVATE).count() == 1


def test_creating_an_inactive_account_writes_no_deactivation():
    PayoutAccountFactory(is_active=False)
    assert not AuditEvent.objects.exists()


def test_bulk_update_of_is_active_is_refused():
    PayoutAccountFactory()
    with pytest.raises(TypeError, match="deactivate_payout_account"):
        PayoutAccount.objects.update(is_active=False)


def test_inactive_account_refuses_an_assignment():
    user = UserFactory()
    account = PayoutAccountFactory(is_active=False)
    evse = EVSEFactory()
    with pytest.raises(AssignmentError, match="inactive"):
        assign_evses(evses=type(evse).objects.filter(pk=evse.pk), account_id=account.pk, actor=user)
    assert not Assignment.objects.exists()


def test_account_deactivated_by_save_refuses_an_assignment():
    account = PayoutAccountFactory()
    account.is_active = False
    account.save()
    evse = EVSEFactory()
    with pytest.raises(AssignmentError, match="inactive"):
        assign_evses(evses=type(evse).objects.filter(pk=evse.pk), account_id=account.pk, actor=None)


@pytest.mark.parametrize(
    "iban",
    [
        "BE68 5390 0754 7034",
        "be68539007547034",
        "NL91ABNA0417164300",
        "DE89370400440532013000",
        "FR1420041010050500013M02606",
        "AT611904300234573201",
        "LU280019400644750000",
    ],
)
def test_valid_ibans_pass_and_are_stored_compact(iban):
    account = PayoutAccountFactory.build(iban=iban, holder=None)
    account.full_clean()
    account.save()
    account.refresh_from_db()
    assert account.iban == iban.replace(" ", "").upper()


@pytest.mark.parametrize(
    "iban",
    [
        "BE68539007547035",  # checksum
        "BE6853900754703",  # length for BE
        "XX68539007547034",  # country
        "NL91ABNA041716430",  # length for NL
        "not an iban",
    ],
)
def test_invalid_ibans_are_refused_with_a_message(iban):
    account = PayoutAccountFactory.build(iban=iban)
    with pytest.raises(ValidationError) as excinfo:
        account.full_clean()
    assert "is not a valid IBAN" in excinfo.value.message_dict["iban"][0]


@pytest.mark.parametrize("bic", ["GKCCBEBB", "GEBABEBB", "ABNANL2A", "DEUTDEFF500", ""])
def test_valid_or_empty_bic_passes(bic):
    PayoutAccountFactory.build(bic=bic).full_clean()


@pytest.mark.parametrize("bic", ["GKCCBEB", "GKCC1EBB", "GKCCBEBB12", "ABCDXXBB"])
def test_invalid_bic_is_refused_with_a_message(bic):
    with pytest.raises(ValidationError) as excinfo:
        PayoutAccountFactory.build(bic=bic).full_clean()
    assert "is not a valid BIC" in excinfo.value.message_dict["bic"][0]


@pytest.mark.parametrize("currency", ["EUR", "CHF", "GBP", "eur"])
def test_iso_4217_currency_passes_and_is_stored_upper_case(currency):
    account = PayoutAccountFactory.build(currency=currency)
    account.full_clean()
    account.save()
    account.refresh_from_db()
    assert account.currency == currency.upper()


@pytest.mark.parametrize("currency", ["EU", "EURO", "XYZ", ""])
def test_unknown_currency_is_refused_with_a_message(currency):
    with pytest.raises(ValidationError) as excinfo:
        PayoutAccountFactory.build(currency=currency).full_clean()
    assert excinfo.value.message_dict["currency"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("commission_percent", "-1"),
        ("commission_percent", "100.5"),
        ("fee_per_kwh", "-0.01"),
        ("fee_per_session", "-1"),
    ],
)
def test_fee_terms_out_of_range_fail_validation(field, value):
    with pytest.raises(ValidationError) as excinfo:
        PayoutAccountFactory.build(**{field: value}).full_clean()
    assert field in excinfo.value.message_dict
