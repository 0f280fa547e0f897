"""A location's owner changes only through `change_location_owner`, which keeps R2."""

import pytest

from evse_payout.models import Assignment, AuditAction, AuditEvent, UnassignReason
from evse_payout.services.locations import LocationOwnerError, change_location_owner
from tests.factories import (
    AssignmentFactory,
    EVSEFactory,
    LocationFactory,
    PayoutAccountFactory,
    SubCPOFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def test_owner_change_is_refused_while_an_evse_is_assigned_to_another_holder():
    hotel = SubCPOFactory(name="Hotel")
    location = LocationFactory(owner=hotel)
    AssignmentFactory(
        evse=EVSEFactory(location=location, evse_id="BE*BEC*E0000001"),
        payout_account=PayoutAccountFactory(name="Hotel payouts", holder=hotel),
    )

    with pytest.raises(LocationOwnerError, match=r"BE\*BEC\*E0000001 \(to “Hotel payouts”\)"):
        change_location_owner(location=location, owner=SubCPOFactory(), actor=None)

    location.refresh_from_db()
    assert location.owner == hotel
    assert not AuditEvent.objects.exists()


def test_owner_change_is_allowed_when_the_assignments_already_fit_the_new_owner():
    """A closed assignment of the old holder does not block; only open ones count."""
    hotel = SubCPOFactory(name="Hotel")
    location = LocationFactory(owner=None)
    evse = EVSEFactory(location=location)
    old = AssignmentFactory(evse=evse, payout_account=PayoutAccountFactory(holder=None))
    Assignment.objects.filter(pk=old.pk).update(
        unassigned_at=old.assigned_at, unassign_reason=UnassignReason.MANUAL
    )
    actor = UserFactory()

    change_location_owner(location=location, owner=hotel, actor=actor)

    location.refresh_from_db()
    assert location.owner == hotel
    event = AuditEvent.objects.get(action=AuditAction.LOCATION_OWNER)
    assert (event.actor, event.object_count) == (actor, 1)


def test_the_same_owner_again_changes_nothing():
    location = LocationFactory(owner=None)

    change_location_owner(location=location, owner=None, actor=None)

    assert not AuditEvent.objects.exists()
