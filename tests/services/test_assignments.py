"""Business rules R1–R4 and R7 through the assignment services and the real database."""

import threading

import pytest
from django.db import IntegrityError, connection, transaction

from evse_payout.filters.evses import EVSEFilterSet
from evse_payout.models import EVSE, Assignment, AuditAction, AuditEvent, EVSEStatus
from evse_payout.selectors.evses import unassigned_evses
from evse_payout.services.accounts import deactivate_payout_account
from evse_payout.services.assignments import (
    AssignmentError,
    assign_evses,
    unassign_evses,
)
from tests.factories import (
    AssignmentFactory,
    EVSEFactory,
    LocationFactory,
    PayoutAccountFactory,
    SubCPOFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def evses_of(*evses):
    return EVSE.objects.filter(pk__in=[evse.pk for evse in evses])


def own_evse(**kwargs):
    return EVSEFactory(location=LocationFactory(owner=None), **kwargs)


def test_assigning_gives_each_evse_an_open_assignment_and_an_audit_row():
    actor = UserFactory()
    account = PayoutAccountFactory(name="Own")
    first, second = own_evse(), own_evse()

    result = assign_evses(evses=evses_of(first, second), account_id=account.pk, actor=actor)

    assert (result.account, result.count) == (account, 2)
    assigned = Assignment.objects.open().filter(payout_account=account)
    assert {a.evse_id for a in assigned} == {first.pk, second.pk}
    assert all(a.assigned_by == actor and a.assigned_at for a in assigned)
    event = AuditEvent.objects.get(action=AuditAction.ASSIGN)
    assert (event.actor, event.actor_label, event.payout_account) == (
        actor,
        actor.username,
        account,
    )
    assert event.object_count == 2
    assert set(event.details["evse_ids"]) == {first.evse_id, second.evse_id}


def test_stale_selection_assigns_nothing_and_names_the_blocker():
    account = PayoutAccountFactory(name="Own")
    free, taken = own_evse(), own_evse(evse_id="BE*BEC*E0000TAKEN")
    AssignmentFactory(evse=taken, payout_account=PayoutAccountFactory(name="Elsewhere"))

    with pytest.raises(AssignmentError, match=r"BE\*BEC\*E0000TAKEN \(to “Elsewhere”\)"):
        assign_evses(evses=evses_of(free, taken), account_id=account.pk, actor=None)

    assert not Assignment.objects.filter(evse=free).exists()
    assert not AuditEvent.objects.filter(action=AuditAction.ASSIGN).exists()


def test_deactivated_account_receives_nothing():
    account = PayoutAccountFactory(name="Closed", is_active=False)
    evse = own_evse()

    with pytest.raises(AssignmentError, match="“Closed” is inactive"):
        assign_evses(evses=evses_of(evse), account_id=account.pk, actor=None)

    assert not Assignment.objects.exists()


def test_removed_evse_cannot_be_assigned():
    account = PayoutAccountFactory()
    removed = own_evse(status=EVSEStatus.REMOVED, evse_id="BE*BEC*E0000GONE")

    with pytest.raises(AssignmentError, match=r"Removed EVSEs.*BE\*BEC\*E0000GONE"):
        assign_evses(evses=evses_of(removed, own_evse()), account_id=account.pk, actor=None)

    assert not Assignment.objects.exists()


def test_sub_cpo_evses_go_only_to_that_sub_cpos_accounts():
    hotel = SubCPOFactory(name="Hotel")
    hotel_account = PayoutAccountFactory(holder=hotel)
    cpo_account = PayoutAccountFactory(name="CPO main", holder=None)
    evse = EVSEFactory(location=LocationFactory(owner=hotel))

    with pytest.raises(AssignmentError, match="belong to Hotel but .*“CPO main”"):
        assign_evses(evses=evses_of(evse), account_id=cpo_account.pk, actor=None)
    assert assign_evses(evses=evses_of(evse), account_id=hotel_account.pk, actor=None).count == 1


def test_cpo_evses_go_only_to_the_cpos_own_accounts():
    partner_account = PayoutAccountFactory(name="Partner", holder=SubCPOFactory())
    evse = own_evse()

    with pytest.raises(AssignmentError, match="CPO \\(own\\)"):
        assign_evses(evses=evses_of(evse), account_id=partner_account.pk, actor=None)
    assert not Assignment.objects.exists()


def test_mixed_owner_selection_is_refused_naming_the_owners():
    account = PayoutAccountFactory(holder=None)
    hotel_evse = EVSEFactory(location=LocationFactory(owner=SubCPOFactory(name="Hotel")))

    with pytest.raises(AssignmentError, match=r"different owners \(CPO \(own\), Hotel\)"):
        assign_evses(evses=evses_of(hotel_evse, own_evse()), account_id=account.pk, actor=None)

    assert not Assignment.objects.exists()


def test_select_all_matching_resolves_the_filter_inside_the_service():
    account = PayoutAccountFactory(holder=None)
    gent = [own_evse() for _ in range(3)]  # the factory's city is Gent
    EVSEFactory(location=LocationFactory(owner=None, city="Brugge"))
    matching = EVSEFilterSet({"city": "gent"}, queryset=unassigned_evses()).qs

    result = assign_evses(evses=matching, account_id=account.pk, actor=None, expected_count=3)

    assert result.count == 3
    assert set(Assignment.objects.values_list("evse", flat=True)) == {evse.pk for evse in gent}


def test_select_all_matching_refuses_when_the_count_changed():
    account = PayoutAccountFactory(holder=None)
    own_evse(), own_evse()

    with pytest.raises(AssignmentError, match="2 EVSEs match now instead of 3"):
        assign_evses(evses=unassigned_evses(), account_id=account.pk, actor=None, expected_count=3)

    assert not Assignment.objects.exists()


def test_database_refuses_a_second_open_assignment():
    first = AssignmentFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        AssignmentFactory(evse=first.evse)


def test_unassigning_closes_open_assignments_with_reason_manual():
    actor = UserFactory()
    account = PayoutAccountFactory()
    kept, dropped = (AssignmentFactory(payout_account=account) for _ in range(2))

    count = unassign_evses(evses=evses_of(dropped.evse), actor=actor, account_id=account.pk)

    assert count == 1
    dropped.refresh_from_db()
    assert (dropped.unassigned_by, dropped.unassign_reason) == (actor, "manual")
    assert dropped.unassigned_at is not None
    kept.refresh_from_db()
    assert kept.is_open
    assert dropped.evse in unassigned_evses()
    event = AuditEvent.objects.get(action=AuditAction.UNASSIGN)
    assert (event.actor, event.payout_account, event.object_count) == (actor, account, 1)


def test_unassign_from_one_account_leaves_evses_moved_to_another_alone():
    account, other = PayoutAccountFactory(), PayoutAccountFactory()
    moved = AssignmentFactory(payout_account=other)

    with pytest.raises(AssignmentError, match="Nothing was unassigned"):
        unassign_evses(evses=evses_of(moved.evse), actor=None, account_id=account.pk)

    moved.refresh_from_db()
    assert moved.is_open


def test_unassign_keeps_history_and_allows_reassigning():
    account = PayoutAccountFactory(holder=None)
    evse = own_evse()
    assign_evses(evses=evses_of(evse), account_id=account.pk, actor=None)
    unassign_evses(evses=evses_of(evse), actor=None)

    assign_evses(evses=evses_of(evse), account_id=account.pk, actor=None)

    assert Assignment.objects.filter(evse=evse).count() == 2
    assert Assignment.objects.open().filter(evse=evse).count() == 1


def test_deactivating_account_unassigns_its_evses():
    actor = UserFactory()
    account = PayoutAccountFactory()
    assignments = AssignmentFactory.create_batch(2, payout_account=account)

    assert deactivate_payout_account(account=account, actor=actor).unassigned_count == 2

    for assignment in assignments:
        assignment.refresh_from_db()
        assert assignment.unassign_reason == "account_deactivated"
        assert assignment.unassigned_by == actor
    event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_DEACTIVATE)
    assert (event.actor, event.object_count) == (actor, 2)


def test_deactivating_through_save_also_unassigns():
    account = PayoutAccountFactory()
    assignment = AssignmentFactory(payout_account=account)

    account.is_active = False
    account.save()

    assignment.refresh_from_db()
    assert assignment.unassigned_at is not None
    assert assignment.unassign_reason == "account_deactivated"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_people_assigning_the_same_evses_at_once_exactly_one_wins():
    first_account = PayoutAccountFactory(name="First", holder=None)
    second_account = PayoutAccountFactory(name="Second", holder=None)
    evse_pks = [own_evse().pk for _ in range(20)]
    barrier = threading.Barrier(2)
    outcomes = {}

    def assign(account):
        try:
            barrier.wait(timeout=10)
            result = assign_evses(
                evses=EVSE.objects.filter(pk__in=evse_pks), account_id=account.pk, actor=None
            )
            outcomes[account.name] = result.count
        except AssignmentError as error:
            outcomes[account.name] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=assign, args=(a,)) for a in (first_account, second_account)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    winners = [name for name, outcome in outcomes.items() if outcome == 20]
    losers = [outcome for outcome in outcomes.values() if isinstance(outcome, AssignmentError)]
    assert len(winners) == 1 and len(losers) == 1
    assert "Nothing was assigned" in str(losers[0])
    assert Assignment.objects.open().count() == 20
    assert set(Assignment.objects.values_list("payout_account__name", flat=True)) == set(winners)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_assigning_while_the_account_is_deactivated_leaves_no_open_assignment():
    account = PayoutAccountFactory(name="Closing", holder=None)
    evse_pks = [own_evse().pk for _ in range(5)]
    barrier = threading.Barrier(2)
    errors = []

    def assign():
        try:
            barrier.wait(timeout=10)
            assign_evses(
                evses=EVSE.objects.filter(pk__in=evse_pks), account_id=account.pk, actor=None
            )
        except AssignmentError as error:
            errors.append(error)
        finally:
            connection.close()

    def deactivate():
        try:
            barrier.wait(timeout=10)
            deactivate_payout_account(account=account, actor=None)
        finally:
            connection.close()

    threads = [threading.Thread(target=assign), threading.Thread(target=deactivate)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    account.refresh_from_db()
    assert not account.is_active
    assert not Assignment.objects.open().filter(payout_account=account).exists()
