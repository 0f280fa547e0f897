"""Races on PostgreSQL (issue 7 item 1): real threads, real transactions, real row locks.

Every test starts its threads together on a `threading.Barrier` and each thread closes its own
database connection at its end. PostgreSQL allows 100 connections: no test uses more than 50.
"""

import base64
import json
import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.db import connection, transaction
from django.db.models import Count
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from evse_payout.models import (
    CDR,
    EVSE,
    Assignment,
    CDRStatus,
    EVSEStatus,
    Invoice,
    InvoiceStatus,
    PayoutAccount,
    UnassignedEVSE,
)
from evse_payout.services.accounts import deactivate_payout_account
from evse_payout.services.assignments import (
    AssignmentError,
    assign_evses,
    unassign_evses,
)
from evse_payout.services.invoicing import finalize_invoice, run_invoicing
from evse_payout.services.ocpi_tokens import create_ocpi_token
from evse_payout.services.rating import rate_cdr, rerate_cdrs
from tests.factories import (
    AssignmentFactory,
    CDRFactory,
    EVSEFactory,
    LocationFactory,
    PayoutAccountFactory,
    SubCPOFactory,
    ocpi_cdr_payload,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

JOIN_TIMEOUT = 60


def run_together(targets) -> None:
    """Start one thread per callable, released at the same instant; wait for all of them.

    Each callable gets the barrier and must wait on it; each thread closes its connection.
    """
    barrier = threading.Barrier(len(targets))

    def wrap(target):
        def run():
            try:
                barrier.wait(timeout=JOIN_TIMEOUT)
                target()
            finally:
                connection.close()

        return run

    threads = [threading.Thread(target=wrap(target)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (deadlock?)"


def collecting(fn, outcomes: list):
    """A callable that appends fn's result, or the exception it raised, to `outcomes`."""

    def call():
        try:
            outcomes.append(fn())
        except Exception as exc:  # noqa: BLE001 — the test inspects every outcome
            outcomes.append(exc)

    return call


def test_fifty_people_assigning_one_evse_to_fifty_accounts_exactly_one_wins():
    owner = SubCPOFactory(name="Hotel chain")
    evse = EVSEFactory(location=LocationFactory(owner=owner))
    accounts = [PayoutAccountFactory(name=f"Hotel {n:02d}", holder=owner) for n in range(50)]
    outcomes = []

    run_together(
        [
            collecting(
                lambda account=account: assign_evses(
                    evses=EVSE.objects.filter(pk=evse.pk), account_id=account.pk, actor=None
                ),
                outcomes,
            )
            for account in accounts
        ]
    )

    errors = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    wins = [outcome for outcome in outcomes if not isinstance(outcome, Exception)]
    assert len(outcomes) == 50
    assert len(wins) == 1 and wins[0].count == 1
    assert len(errors) == 49
    assert all(isinstance(error, AssignmentError) for error in errors), errors
    winner = wins[0].account.name
    for error in errors:
        # The loser is told which EVSE blocked it and where it went, and that nothing changed.
        assert str(error) == (
            f"Some EVSEs were assigned meanwhile: {evse.evse_id} (to “{winner}”). "
            "Nothing was assigned."
        )
    open_assignments = Assignment.objects.open().filter(evse=evse)
    assert open_assignments.count() == 1
    assert open_assignments.get().payout_account.name == winner
    assert Assignment.objects.count() == 1


def test_assigning_while_the_account_is_deactivated_never_leaves_an_inactive_account_assigned():
    outcomes = []
    for round_ in range(10):
        account = PayoutAccountFactory(name=f"Closing {round_}", holder=None)
        already = AssignmentFactory(
            evse=EVSEFactory(location=LocationFactory(owner=None)), payout_account=account
        )
        evse_pks = [EVSEFactory(location=LocationFactory(owner=None)).pk for _ in range(3)]
        assign = collecting(
            lambda account=account, evse_pks=evse_pks: assign_evses(
                evses=EVSE.objects.filter(pk__in=evse_pks), account_id=account.pk, actor=None
            ),
            outcomes,
        )
        deactivate = collecting(
            lambda account=account: deactivate_payout_account(account=account, actor=None), []
        )
        # Alternate which thread starts first.
        run_together([assign, deactivate] if round_ % 2 else [deactivate, assign])

        account.refresh_from_db()
        assert not account.is_active
        assert not Assignment.objects.open().filter(payout_account__is_active=False).exists()
        already.refresh_from_db()
        assert already.unassign_reason == "account_deactivated"
        outcome = outcomes[-1]
        if isinstance(outcome, Exception):
            assert isinstance(outcome, AssignmentError), outcome
            assert str(outcome) == (
                f"The payout account “{account.name}” is inactive. Nothing was assigned."
            )
            assert not Assignment.objects.filter(evse_id__in=evse_pks).exists()
        else:
            # The assignment came first: the deactivation that followed closed it too.
            closed = Assignment.objects.filter(
                evse_id__in=evse_pks, unassign_reason="account_deactivated"
            )
            assert closed.count() == 3
    assert len(outcomes) == 10


def test_a_double_submitted_assign_confirmation_has_one_effect(manager):
    account = PayoutAccountFactory(name="Own account", holder=None)
    evses = sorted(
        (EVSEFactory(location=LocationFactory(owner=None)) for _ in range(3)),
        key=lambda evse: evse.evse_id,
    )
    post = {"evse": [evse.pk for evse in evses], "account": account.pk, "confirm": "1"}
    clients = [Client(), Client()]
    for client in clients:
        client.force_login(manager)
    responses = []

    run_together(
        [
            collecting(
                lambda client=client: client.post(reverse("evse_payout:evses_assign"), post),
                responses,
            )
            for client in clients
        ]
    )

    assert [response.status_code for response in responses] == [302, 302]
    texts = sorted(
        str(message) for response in responses for message in get_messages(response.wsgi_request)
    )
    blockers = ", ".join(f"{evse.evse_id} (to “Own account”)" for evse in evses)
    assert texts == [
        "3 EVSEs assigned to Own account",
        f"Some EVSEs were assigned meanwhile: {blockers}. Nothing was assigned.",
    ]
    assert Assignment.objects.count() == 3
    assert Assignment.objects.open().filter(payout_account=account).count() == 3


def _rated_world(*, accounts: int, cdrs_per_account: int, partner: bool = False) -> set[int]:
    """Accounts with one assigned EVSE each and rated CDRs before the cutoff; the CDR pks.

    `partner`: Sub-CPO accounts (numbered statements) rather than the CPO's own (revenue reports).
    """
    ended = datetime(2026, 2, 10, 8, 0, tzinfo=UTC)
    for n in range(accounts):
        owner = SubCPOFactory() if partner else None
        account = PayoutAccountFactory(name=f"Account {n:02d}", holder=owner)
        evse = EVSEFactory(location=LocationFactory(owner=owner))
        AssignmentFactory(evse=evse, payout_account=account)
        for k in range(cdrs_per_account):
            CDRFactory(
                evse=evse,
                start_date_time=ended - timedelta(hours=1, minutes=k),
                end_date_time=ended - timedelta(minutes=k),
                total_cost_excl_vat=Decimal("10.0000") + k,
            )
    rerate_cdrs(cdrs=CDR.objects.all(), actor_name="setup")
    assert not CDR.objects.exclude(status=CDRStatus.RATED).exists()
    return set(CDR.objects.values_list("pk", flat=True))


def test_two_invoice_runs_started_together_put_every_cdr_on_exactly_one_statement():
    eligible = _rated_world(accounts=6, cdrs_per_account=5)
    outcomes = []

    run_together(
        [
            collecting(lambda: run_invoicing(cutoff=date(2026, 3, 1), actor_name="run"), outcomes)
            for _ in range(2)
        ]
    )

    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)], outcomes
    assert sorted(outcome.cdr_count for outcome in outcomes) == [0, len(eligible)]
    live = Invoice.objects.exclude(status=InvoiceStatus.DISCARDED)
    assert live.count() == 6
    assert live.values("run").distinct().count() == 1
    on_statements = CDR.objects.filter(statement_line__invoice__in=live)
    assert set(on_statements.values_list("pk", flat=True)) == eligible
    assert not CDR.objects.exclude(status=CDRStatus.INVOICED).exists()
    assert not live.values("payout_account").annotate(n=Count("pk")).filter(n__gt=1).exists()
    for invoice in live:
        assert invoice.cdr_count == CDR.objects.filter(statement_line__invoice=invoice).count() == 5


def test_two_invoice_runs_on_a_fresh_database_do_not_trip_over_the_run_lock_row():
    """The run lock row (InvoiceNumberSequence year 0) does not exist yet: both create it."""
    eligible = _rated_world(accounts=2, cdrs_per_account=3)
    outcomes = []

    run_together(
        [
            collecting(lambda: run_invoicing(cutoff=date(2026, 3, 1), actor_name="run"), outcomes)
            for _ in range(2)
        ]
    )

    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)], outcomes
    assert sorted(outcome.cdr_count for outcome in outcomes) == [0, len(eligible)]
    assert (
        set(CDR.objects.filter(statement_line__isnull=False).values_list("pk", flat=True))
        == eligible
    )


def test_the_same_cdr_posted_twenty_times_at_once_is_stored_once_and_every_answer_is_1000():
    secret = create_ocpi_token(name="Racing peer", parties=["BE/BEC"]).secret
    authorization = "Token " + base64.b64encode(secret.encode()).decode()
    payload = json.dumps(ocpi_cdr_payload(id="RACE-CDR-1"))
    responses = []

    def post():
        return Client().post(
            "/ocpi/2.2.1/cdrs",
            data=payload,
            content_type="application/json",
            headers={"Authorization": authorization},
        )

    run_together([collecting(post, responses) for _ in range(20)])

    assert len(responses) == 20
    assert not [r for r in responses if isinstance(r, Exception)], responses
    bodies = [response.json() for response in responses]
    assert [response.status_code for response in responses] == [200] * 20, bodies
    assert {body["status_code"] for body in bodies} == {1000}
    messages = sorted(body["status_message"] for body in bodies)
    assert messages == ["CDR already received; stored once"] * 19 + ["CDR stored"]
    assert CDR.objects.filter(cdr_id="RACE-CDR-1").count() == 1
    assert all(
        response["Location"].endswith("/ocpi/2.2.1/cdrs/RACE-CDR-1") for response in responses
    )


def test_eight_finalizes_at_once_give_gapless_statement_numbers():
    """Each finalize locks the year's number row: without that lock two read the same last
    number and one of them fails on the unique number (checked once by removing the lock)."""
    _rated_world(accounts=8, cdrs_per_account=1, partner=True)
    run_invoicing(cutoff=date(2026, 3, 1), actor_name="run")
    drafts = list(Invoice.objects.filter(status=InvoiceStatus.DRAFT))
    assert len(drafts) == 8
    outcomes = []

    run_together(
        [
            collecting(lambda draft=draft: finalize_invoice(invoice=draft, actor=None), outcomes)
            for draft in drafts
        ]
    )

    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)], outcomes
    year = timezone.localdate().year
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"PS-{year}-{n:06d}" for n in range(1, 9)]


def test_a_rating_written_while_a_run_starts_is_the_one_on_the_statement():
    """A re-rate in progress (its transaction open, the rating lock held in share mode) makes an
    invoice run wait, so the run sums the CDR's new fee, never the one it had before."""
    (cdr_pk,) = _rated_world(accounts=1, cdrs_per_account=1)
    before = CDR.objects.get(pk=cdr_pk).fee
    rerating, run_started = threading.Event(), threading.Event()
    outcomes = []

    def rerate():
        with transaction.atomic():
            cdr = CDR.objects.get(pk=cdr_pk)
            PayoutAccount.objects.filter(pk=cdr.payout_account_id).update(
                commission_percent=Decimal("30.00")
            )
            rate_cdr(cdr=cdr)
            rerating.set()
            run_started.wait(timeout=JOIN_TIMEOUT)
            time.sleep(0.5)  # the run has asked for the invoicing lock by now

    def run():
        rerating.wait(timeout=JOIN_TIMEOUT)
        run_started.set()
        return run_invoicing(cutoff=date(2026, 3, 1), actor_name="run")

    run_together([lambda: rerate(), collecting(run, outcomes)])

    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)], outcomes
    cdr = CDR.objects.get(pk=cdr_pk)
    assert cdr.fee != before and cdr.status == CDRStatus.INVOICED
    statement = Invoice.objects.get()
    assert statement.total_fees == round(cdr.fee, 2)
    assert statement.net_payout == round(cdr.payout, 2)


def test_an_evse_removed_while_it_is_unassigned_is_not_left_in_the_unassigned_table():
    """The narrow table of unassigned EVSEs (migration 0012) under concurrent changes: an OCPI
    update sets an EVSE REMOVED (its transaction open) while staff unassign it. Unassigning locks
    the EVSE row first and waits, then sees REMOVED; without that lock, it would add the EVSE back
    to the table on what it read before the removal, and the row would stay."""
    evse = EVSEFactory()
    AssignmentFactory(evse=evse)
    removing, unassign_started = threading.Event(), threading.Event()
    outcomes = []

    def remove():
        with transaction.atomic():
            EVSE.objects.filter(pk=evse.pk).update(status=EVSEStatus.REMOVED)
            removing.set()
            unassign_started.wait(timeout=JOIN_TIMEOUT)
            time.sleep(0.5)  # the unassign has asked for the EVSE row by now

    def unassign():
        removing.wait(timeout=JOIN_TIMEOUT)
        unassign_started.set()
        return unassign_evses(evses=EVSE.objects.filter(pk=evse.pk), actor=None)

    run_together([lambda: remove(), collecting(unassign, outcomes)])

    assert outcomes == [1]
    assert not Assignment.objects.open().exists()
    assert not UnassignedEVSE.objects.exists()
