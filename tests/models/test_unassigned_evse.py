"""The narrow table of unassigned EVSEs (migration 0012) and the open assignments counted per
payout account (migration 0013) are kept by the database (issue 14).

A row exists exactly for each EVSE that is not REMOVED and has no open assignment, with the EVSE's
location and EVSE ID, whichever path changes an EVSE or an assignment: the services, a full
`save()` of a stale instance, a queryset `update()`, raw deletes. Each test compares the table with
what the EVSE and Assignment tables say, on SQLite and on PostgreSQL.
"""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from evse_payout.models import (
    EVSE,
    Assignment,
    EVSEStatus,
    OpenAssignmentCount,
    UnassignedEVSE,
    UnassignReason,
)
from evse_payout.selectors.evses import unassigned_evses
from evse_payout.services.assignments import assign_evses, unassign_evses
from tests.factories import AssignmentFactory, EVSEFactory, LocationFactory, PayoutAccountFactory

pytestmark = pytest.mark.django_db


def kept_rows() -> set[tuple]:
    return set(UnassignedEVSE.objects.values_list("evse_id", "location_id", "evse_code"))


def kept_counts() -> dict[int, int]:
    return {
        account: count
        for account, count in OpenAssignmentCount.objects.values_list("payout_account", "count")
        if count
    }


def expected_counts() -> dict[int, int]:
    counts = {}
    for account in Assignment.objects.open().values_list("payout_account", flat=True):
        counts[account] = counts.get(account, 0) + 1
    return counts


def expected_rows() -> set[tuple]:
    """Worked out in Python from the two tables, without the narrow table."""
    open_evses = set(Assignment.objects.open().values_list("evse_id", flat=True))
    return {
        (pk, location_id, evse_id)
        for pk, location_id, evse_id, status in EVSE.objects.values_list(
            "pk", "location_id", "evse_id", "status"
        )
        if status != EVSEStatus.REMOVED and pk not in open_evses
    }


def test_new_evses_are_unassigned_and_an_assignment_takes_them_out():
    first, second = EVSEFactory(evse_id="BE*BEC*EXA000001"), EVSEFactory()
    assert kept_rows() == {
        (first.pk, first.location_id, "BE*BEC*EXA000001"),
        (second.pk, second.location_id, second.evse_id),
    }

    account = PayoutAccountFactory()
    assign_evses(evses=EVSE.objects.filter(pk=first.pk), account_id=account.pk, actor=None)
    assert kept_rows() == {(second.pk, second.location_id, second.evse_id)}

    unassign_evses(evses=EVSE.objects.filter(pk=first.pk), actor=None)
    assert kept_rows() == expected_rows()
    assert len(kept_rows()) == 2


def test_removed_evses_leave_and_come_back_when_no_longer_removed():
    evse = EVSEFactory()
    EVSE.objects.filter(pk=evse.pk).update(status=EVSEStatus.REMOVED)
    assert kept_rows() == set()

    evse.refresh_from_db()
    evse.status = EVSEStatus.CHARGING
    evse.save()
    assert kept_rows() == {(evse.pk, evse.location_id, evse.evse_id)}


def test_a_new_location_or_evse_id_is_copied():
    evse = EVSEFactory()
    elsewhere = LocationFactory(city="Antwerpen")
    EVSE.objects.filter(pk=evse.pk).update(location=elsewhere)
    assert kept_rows() == {(evse.pk, elsewhere.pk, evse.evse_id)}
    EVSE.objects.filter(pk=evse.pk).update(evse_id="BE*BEC*E99999999")
    assert kept_rows() == {(evse.pk, elsewhere.pk, "BE*BEC*E99999999")}


def test_a_stale_full_save_does_not_bring_back_an_assigned_evse():
    evse = EVSEFactory()
    stale = EVSE.objects.get(pk=evse.pk)
    AssignmentFactory(evse=evse)
    stale.output_kw = 50
    stale.save()  # writes every column, from before the assignment
    assert kept_rows() == set()


def test_closing_deleting_and_reopening_assignments_at_the_table_level():
    evses = EVSEFactory.create_batch(3)
    account = PayoutAccountFactory()
    assignments = [AssignmentFactory(evse=evse, payout_account=account) for evse in evses]
    assert kept_rows() == set()

    Assignment.objects.filter(pk=assignments[0].pk).update(
        unassigned_at=timezone.now(), unassign_reason=UnassignReason.MANUAL
    )
    Assignment.objects.filter(pk=assignments[1].pk).delete()
    assert kept_rows() == expected_rows()
    assert {row[0] for row in kept_rows()} == {evses[0].pk, evses[1].pk}

    Assignment.objects.filter(pk=assignments[0].pk).update(unassigned_at=None, unassign_reason="")
    assert {row[0] for row in kept_rows()} == {evses[1].pk}


def test_a_deleted_evse_leaves_the_table():
    kept, gone = EVSEFactory(), EVSEFactory()
    EVSE.objects.filter(pk=gone.pk).delete()
    assert kept_rows() == {(kept.pk, kept.location_id, kept.evse_id)}


def test_bulk_assign_and_unassign_of_many_evses():
    account = PayoutAccountFactory()
    evses = EVSEFactory.create_batch(40)
    assign_evses(evses=unassigned_evses(), account_id=account.pk, actor=None, expected_count=40)
    assert kept_rows() == set()
    unassign_evses(evses=EVSE.objects.filter(pk__in=[evse.pk for evse in evses[:15]]), actor=None)
    assert kept_rows() == expected_rows()
    assert len(kept_rows()) == 15


def test_any_sequence_of_changes_keeps_the_table_exact():
    """Random EVSE and assignment changes, through services and table-level writes alike."""
    chooser = random.Random(1404)
    locations = LocationFactory.create_batch(3)
    accounts = PayoutAccountFactory.create_batch(2)
    evses = [EVSEFactory(location=chooser.choice(locations)) for _ in range(12)]
    statuses = [EVSEStatus.AVAILABLE, EVSEStatus.CHARGING, EVSEStatus.REMOVED]
    for step in range(80):
        evse = EVSE.objects.get(pk=chooser.choice(evses).pk)
        action = chooser.randrange(6)
        is_open = Assignment.objects.open().filter(evse=evse).exists()
        if action == 0 and not is_open and evse.status != EVSEStatus.REMOVED:
            assign_evses(
                evses=EVSE.objects.filter(pk=evse.pk),
                account_id=chooser.choice(accounts).pk,
                actor=None,
            )
        elif action == 1 and is_open:
            unassign_evses(evses=EVSE.objects.filter(pk=evse.pk), actor=None)
        elif action == 2:
            evse.status = chooser.choice(statuses)
            evse.save()
        elif action == 3:
            EVSE.objects.filter(pk=evse.pk).update(location=chooser.choice(locations))
        elif action == 4 and not is_open:
            Assignment.objects.create(
                evse=evse,
                payout_account=chooser.choice(accounts),
                assigned_at=timezone.now() - timedelta(days=1),
            )
        elif action == 5:
            Assignment.objects.filter(evse=evse).delete()
        assert kept_rows() == expected_rows(), f"after step {step} (action {action})"
        assert kept_counts() == expected_counts(), f"after step {step} (action {action})"


def test_the_unassigned_table_reads_the_kept_rows():
    assigned, free = EVSEFactory(), EVSEFactory()
    AssignmentFactory(evse=assigned)
    assert list(unassigned_evses()) == [free]


def test_open_assignments_are_counted_per_account():
    hotel, depot = PayoutAccountFactory(), PayoutAccountFactory()
    evses = EVSEFactory.create_batch(5)
    assign_evses(
        evses=EVSE.objects.filter(pk__in=[e.pk for e in evses[:3]]), account_id=hotel.pk, actor=None
    )
    AssignmentFactory(evse=evses[3], payout_account=depot)
    assert kept_counts() == {hotel.pk: 3, depot.pk: 1}

    unassign_evses(evses=EVSE.objects.filter(pk=evses[0].pk), actor=None)
    Assignment.objects.filter(payout_account=depot).update(payout_account=hotel)
    assert kept_counts() == {hotel.pk: 3}

    Assignment.objects.filter(evse=evses[1]).delete()
    assert kept_counts() == {hotel.pk: 2} == expected_counts()
