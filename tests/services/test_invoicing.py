"""Invoice runs (R6): what a run takes, what it leaves out and why, finalize, discard, exactly once."""

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evse_payout.models import (
    CDR,
    Assignment,
    AuditAction,
    AuditEvent,
    CDRRating,
    CDRReason,
    CDRStatus,
    Invoice,
    InvoiceRun,
    InvoiceRunExclusion,
    InvoiceStatus,
)
from evse_payout.money import round_money
from evse_payout.services.invoicing import (
    InvoicingError,
    discard_invoice,
    finalize_invoice,
    finalize_run,
    run_invoicing,
)
from tests.factories import AssignmentFactory, CDRFactory, PayoutAccountFactory, UserFactory

pytestmark = pytest.mark.django_db

CUTOFF = date(2026, 3, 1)
BEFORE_CUTOFF = datetime(2026, 2, 10, 8, 0, tzinfo=UTC)


def rated_cdr(
    assignment=None,
    *,
    excl: Decimal = Decimal("10.00"),
    incl: Decimal | None = None,
    ended: datetime = BEFORE_CUTOFF,
    credit: bool = False,
    **extra,
) -> CDR:
    """A CDR as the rating service leaves it: rated for the EVSE's assignment, fee and payout in cents.

    The fee is 10 % of the collected excl.-VAT amount; the payout is the rest, so fee + payout is
    the collected amount rounded to the cent, as rating defines it.
    """
    assignment = assignment or AssignmentFactory()
    account = assignment.payout_account
    fee = round_money(excl * Decimal("0.10"), account.currency)
    return CDRFactory(
        evse=assignment.evse,
        start_date_time=ended - timedelta(hours=1),
        end_date_time=ended,
        currency=account.currency,
        total_cost_excl_vat=excl,
        total_cost_incl_vat=incl if incl is not None else excl * Decimal("1.21"),
        credit=credit,
        status=CDRStatus.RATED,
        payout_account=account,
        assignment=assignment,
        fee=fee,
        payout=round_money(excl, account.currency) - fee,
        rated_at=ended + timedelta(minutes=5),
        **extra,
    )


def close(assignment):
    Assignment.objects.filter(pk=assignment.pk).update(
        unassigned_at=timezone.now(), unassign_reason="manual"
    )


# --- what a run takes (R6) ---------------------------------------------------------------------


def test_run_takes_rated_cdrs_of_assigned_evses_onto_one_draft_per_account():
    first, second = AssignmentFactory(), AssignmentFactory()
    cdrs = [rated_cdr(first), rated_cdr(first), rated_cdr(second)]

    summary = run_invoicing(cutoff=CUTOFF)

    assert summary.cdr_count == 3
    assert Invoice.objects.filter(run_id=summary.run_id, status=InvoiceStatus.DRAFT).count() == 2
    for cdr in cdrs:
        cdr.refresh_from_db()
        assert cdr.status == CDRStatus.INVOICED
        assert cdr.invoice.payout_account_id == cdr.payout_account_id
    statement = Invoice.objects.get(payout_account=first.payout_account)
    assert statement.cdr_count == 2
    assert statement.net_payout == Decimal("18.00")
    assert statement.total_fees == Decimal("2.00")


def test_cdr_ending_on_or_after_the_cutoff_is_not_taken():
    assignment = AssignmentFactory()
    at_cutoff = rated_cdr(assignment, ended=datetime(2026, 3, 1, 0, 0, tzinfo=UTC))
    just_before = rated_cdr(assignment, ended=datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC))

    run_invoicing(cutoff=CUTOFF)

    at_cutoff.refresh_from_db()
    just_before.refresh_from_db()
    assert at_cutoff.status == CDRStatus.RATED and at_cutoff.invoice is None
    assert just_before.status == CDRStatus.INVOICED


def test_cdr_whose_evse_was_unassigned_since_rating_becomes_not_invoiceable():
    assignment = AssignmentFactory()
    cdr = rated_cdr(assignment, excl=Decimal("7.50"))
    close(assignment)
    finance = UserFactory()

    summary = run_invoicing(cutoff=CUTOFF, actor=finance)

    cdr.refresh_from_db()
    assert cdr.status == CDRStatus.NOT_INVOICEABLE
    assert cdr.reason == CDRReason.EVSE_UNASSIGNED
    assert cdr.invoice is None
    rating = CDRRating.objects.get(cdr=cdr)
    assert (rating.status, rating.reason, rating.actor) == (
        CDRStatus.NOT_INVOICEABLE,
        CDRReason.EVSE_UNASSIGNED,
        finance,
    )
    assert summary.statements == []
    (exclusion,) = summary.exclusions
    assert (exclusion.reason, exclusion.count, exclusion.amounts) == (
        CDRReason.EVSE_UNASSIGNED,
        1,
        {"EUR": Decimal("7.50")},
    )
    assert InvoiceRunExclusion.objects.get(run_id=summary.run_id).cdr == cdr


def test_cdr_whose_evse_moved_to_another_account_stays_rated_as_assignment_changed():
    assignment = AssignmentFactory()
    cdr = rated_cdr(assignment)
    close(assignment)
    AssignmentFactory(evse=assignment.evse)

    summary = run_invoicing(cutoff=CUTOFF)

    cdr.refresh_from_db()
    assert cdr.status == CDRStatus.RATED
    assert cdr.invoice is None
    assert [(e.reason, e.count) for e in summary.exclusions] == [(CDRReason.ASSIGNMENT_CHANGED, 1)]
    assert not Invoice.objects.exists()


def test_evse_assigned_again_to_the_same_account_still_pays_that_account():
    assignment = AssignmentFactory()
    cdr = rated_cdr(assignment)
    close(assignment)
    AssignmentFactory(evse=assignment.evse, payout_account=assignment.payout_account)

    run_invoicing(cutoff=CUTOFF)

    cdr.refresh_from_db()
    assert cdr.status == CDRStatus.INVOICED
    assert cdr.invoice.payout_account == assignment.payout_account


def test_cdr_whose_account_changed_currency_is_left_out_for_re_rating():
    assignment = AssignmentFactory()
    cdr = rated_cdr(assignment)
    account = assignment.payout_account
    account.currency = "DKK"
    account.save()

    summary = run_invoicing(cutoff=CUTOFF)

    cdr.refresh_from_db()
    assert cdr.status == CDRStatus.RATED
    assert [e.reason for e in summary.exclusions] == [CDRReason.CURRENCY_MISMATCH]


def test_not_invoiceable_cdrs_before_the_cutoff_are_reported_per_reason_without_change():
    CDRFactory.create_batch(
        2,
        end_date_time=BEFORE_CUTOFF,
        start_date_time=BEFORE_CUTOFF - timedelta(hours=1),
        status=CDRStatus.NOT_INVOICEABLE,
        reason=CDRReason.EVSE_UNKNOWN,
        total_cost_excl_vat=Decimal("4.2050"),
    )
    CDRFactory(
        end_date_time=datetime(2026, 3, 5, tzinfo=UTC),
        status=CDRStatus.NOT_INVOICEABLE,
        reason=CDRReason.EVSE_UNKNOWN,
    )

    summary = run_invoicing(cutoff=CUTOFF)

    assert [(e.reason, e.count, e.amounts) for e in summary.exclusions] == [
        (CDRReason.EVSE_UNKNOWN, 2, {"EUR": Decimal("8.41")})
    ]
    run = InvoiceRun.objects.get(pk=summary.run_id)
    assert run.exclusions == {"evse_unknown": {"count": 2, "amounts": {"EUR": "8.41"}}}
    assert not CDRRating.objects.exists()


def test_credit_cdr_reduces_the_payout_of_the_original_account():
    assignment = AssignmentFactory()
    original = rated_cdr(assignment, excl=Decimal("20.00"))
    rated_cdr(
        assignment,
        excl=Decimal("-20.00"),
        credit=True,
        credit_reference_id=original.cdr_id,
        credited_cdr=original,
    )
    rated_cdr(assignment, excl=Decimal("5.00"))

    run_invoicing(cutoff=CUTOFF)

    statement = Invoice.objects.get()
    assert statement.cdr_count == 3
    assert statement.total_credits == Decimal("-20.00")
    assert statement.total_excl_vat == Decimal("5.00")
    assert statement.net_payout == Decimal("4.50")


def test_credit_cdr_follows_its_account_after_the_evse_was_unassigned():
    assignment = AssignmentFactory()
    original = rated_cdr(assignment, excl=Decimal("20.00"))
    run_invoicing(cutoff=CUTOFF)
    close(assignment)
    credit = rated_cdr(
        assignment,
        excl=Decimal("-20.00"),
        credit=True,
        credit_reference_id=original.cdr_id,
        credited_cdr=original,
    )
    CDR.objects.filter(pk=credit.pk).update(evse=None)

    summary = run_invoicing(cutoff=CUTOFF)

    credit.refresh_from_db()
    assert credit.status == CDRStatus.INVOICED
    assert credit.invoice.payout_account == assignment.payout_account
    assert summary.exclusions == []


def test_run_writes_an_audit_event_and_its_counts():
    assignment = AssignmentFactory()
    rated_cdr(assignment)
    user = UserFactory()

    summary = run_invoicing(cutoff=CUTOFF, actor=user)

    event = AuditEvent.objects.get(action=AuditAction.INVOICE_RUN)
    assert event.actor == user
    assert event.object_count == 1
    run = InvoiceRun.objects.get(pk=summary.run_id)
    assert (run.cdr_count, run.invoice_count, run.total_payout) == (1, 1, Decimal("9.00"))
    assert run.created_by == user


def test_cdrs_left_out_as_evse_unassigned_by_an_earlier_run_are_reported_again():
    assignment = AssignmentFactory()
    rated_cdr(assignment, excl=Decimal("7.50"))
    close(assignment)
    first = run_invoicing(cutoff=CUTOFF)

    later = run_invoicing(cutoff=CUTOFF)

    assert [(e.reason, e.count, e.amounts) for e in later.exclusions] == [
        (CDRReason.EVSE_UNASSIGNED, 1, {"EUR": Decimal("7.50")})
    ]
    assert later.exclusions == first.exclusions
    assert InvoiceRunExclusion.objects.filter(run_id=later.run_id).count() == 1
    assert CDRRating.objects.count() == 1  # marked once, by the first run


# --- totals ------------------------------------------------------------------------------------


def test_statement_totals_equal_the_sum_of_its_rounded_lines_to_the_cent():
    assignment = AssignmentFactory()
    amounts = [Decimal("3.3350"), Decimal("1.0049"), Decimal("2.0050"), Decimal("-1.1150")]
    for excl in amounts:
        rated_cdr(assignment, excl=excl, incl=excl * Decimal("1.21"), credit=excl < 0)

    run_invoicing(cutoff=CUTOFF)

    statement = Invoice.objects.get()
    lines = list(statement.cdrs.all())
    line_excl = [round_money(cdr.total_cost_excl_vat, "EUR") for cdr in lines]
    line_incl = [round_money(cdr.total_cost_incl_vat, "EUR") for cdr in lines]
    assert statement.total_excl_vat == sum(line_excl) == Decimal("5.23")
    assert statement.total_incl_vat == sum(line_incl)
    assert statement.total_vat == sum(line_incl) - sum(line_excl)
    assert statement.total_fees == sum(cdr.fee for cdr in lines)
    assert statement.net_payout == sum(cdr.payout for cdr in lines)
    assert statement.net_payout + statement.total_fees == statement.total_excl_vat
    assert statement.period_start == min(cdr.start_date_time for cdr in lines)
    assert statement.period_end == max(cdr.end_date_time for cdr in lines)


def _line(account, excl: str, incl: str, fee: str, payout: str, **extra) -> CDR:
    """A rated CDR with exactly these 4-decimal amounts (the database rounds them per line)."""
    assignment = AssignmentFactory(payout_account=account)
    return CDRFactory(
        evse=assignment.evse,
        start_date_time=BEFORE_CUTOFF - timedelta(hours=1),
        end_date_time=BEFORE_CUTOFF,
        currency=account.currency,
        total_cost_excl_vat=Decimal(excl),
        total_cost_incl_vat=Decimal(incl),
        credit=Decimal(excl) < 0,
        status=CDRStatus.RATED,
        payout_account=account,
        assignment=assignment,
        fee=Decimal(fee),
        payout=Decimal(payout),
        rated_at=BEFORE_CUTOFF,
        **extra,
    )


@pytest.mark.parametrize(
    ("currency", "lines"),
    [
        (
            "EUR",
            [
                ("2.6750", "3.2350", "0.2650", "2.4050"),
                ("-2.6750", "-3.2350", "-0.2650", "-2.4050"),
                ("0.0050", "0.0150", "0.0050", "0.0050"),
                ("-0.0050", "-0.0150", "-0.0050", "-0.0050"),
                ("1.0049", "1.2159", "0.1049", "0.9049"),
                ("8.3450", "10.0975", "0.8345", "7.5105"),
                ("-1.1150", "-1.3495", "-0.1115", "-1.0035"),
                ("123456789.1250", "149382714.8425", "12345678.9125", "111111110.2125"),
            ],
        ),
        (
            "JPY",
            [
                ("2.5000", "3.5000", "0.5000", "2.0000"),
                ("-2.5000", "-3.5000", "-0.5000", "-2.0000"),
                ("1.4999", "1.5000", "0.4999", "1.0000"),
            ],
        ),
        (
            "KWD",
            [
                ("1.0005", "1.2105", "0.1005", "0.9000"),
                ("-1.0005", "-1.2105", "-0.1005", "-0.9000"),
                ("0.0015", "0.0025", "0.0005", "0.0010"),
            ],
        ),
    ],
)
def test_statement_totals_round_each_line_half_up_in_the_database_as_money_does(currency, lines):
    """The totals are summed in SQL: ROUND(x, minor unit) there must be money.round_money here,
    for .xx5 values of both signs, on SQLite and on PostgreSQL."""
    account = PayoutAccountFactory(currency=currency)
    for excl, incl, fee, payout in lines:
        _line(account, excl, incl, fee, payout)

    summary = run_invoicing(cutoff=CUTOFF)

    (statement,) = summary.statements
    rounded = [[round_money(Decimal(value), currency) for value in line] for line in lines]
    excl = sum(line[0] for line in rounded)
    incl = sum(line[1] for line in rounded)
    assert statement.cdr_count == len(lines)
    assert statement.total_excl_vat == excl
    assert statement.total_incl_vat == incl
    assert statement.total_vat == incl - excl
    assert statement.total_fees == sum(line[2] for line in rounded)
    assert statement.net_payout == sum(line[3] for line in rounded)
    assert statement.total_credits == sum(line[0] for line in rounded if line[0] < 0)
    saved = Invoice.objects.get()
    if currency == "KWD":  # Invoice has 2 decimal places: a 3-decimal currency does not fit yet
        return
    assert (saved.total_excl_vat, saved.total_incl_vat, saved.total_fees, saved.net_payout) == (
        excl,
        incl,
        statement.total_fees,
        statement.net_payout,
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=2),
            st.decimals(min_value=Decimal("-50"), max_value=Decimal("500"), places=4),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_per_account_net_payouts_plus_fees_equal_collected_excl_vat(lines):
    with transaction.atomic():
        assignments = [AssignmentFactory() for _ in range(3)]
        for account_index, excl in lines:
            rated_cdr(assignments[account_index], excl=excl, credit=excl < 0)

        summary = run_invoicing(cutoff=CUTOFF, dry_run=True)

        assert sum(s.cdr_count for s in summary.statements) == len(lines)
        for statement in summary.statements:
            assert statement.net_payout + statement.total_fees == statement.total_excl_vat
        collected = sum(round_money(excl, "EUR") for _, excl in lines)
        assert sum(s.total_excl_vat for s in summary.statements) == collected
        transaction.set_rollback(True)


# --- dry run -----------------------------------------------------------------------------------


def test_dry_run_shows_the_figures_of_the_real_run_and_writes_nothing():
    kept, moved, gone = AssignmentFactory(), AssignmentFactory(), AssignmentFactory()
    rated_cdr(kept, excl=Decimal("12.3456"))
    rated_cdr(kept, excl=Decimal("-2.00"), credit=True)
    rated_cdr(moved)
    rated_cdr(gone)
    close(moved)
    AssignmentFactory(evse=moved.evse)
    close(gone)
    before = (
        list(CDR.objects.order_by("pk").values()),
        AuditEvent.objects.count(),
        CDRRating.objects.count(),
    )

    dry = run_invoicing(cutoff=CUTOFF, dry_run=True)

    assert dry.run_id is None
    assert (
        list(CDR.objects.order_by("pk").values()),
        AuditEvent.objects.count(),
        CDRRating.objects.count(),
    ) == before
    assert not InvoiceRun.objects.exists()
    assert not Invoice.objects.exists()
    assert not InvoiceRunExclusion.objects.exists()

    real = run_invoicing(cutoff=CUTOFF)

    assert real == dry
    assert real.cdr_count == 2
    assert {e.reason for e in real.exclusions} == {
        CDRReason.ASSIGNMENT_CHANGED,
        CDRReason.EVSE_UNASSIGNED,
    }


# --- finalize and discard ----------------------------------------------------------------------


def test_finalize_numbers_are_gapless_across_statements_and_runs_within_a_year():
    year = timezone.localdate().year
    first_run = [AssignmentFactory() for _ in range(3)]
    for assignment in first_run:
        rated_cdr(assignment)
    run_invoicing(cutoff=CUTOFF)
    user = UserFactory()
    drafts = list(Invoice.objects.order_by("pk"))
    finalize_invoice(invoice=drafts[1], actor=user)
    finalize_invoice(invoice=drafts[0], actor=user)
    discard_invoice(invoice=drafts[2], actor=user)
    later = AssignmentFactory()
    rated_cdr(later)
    rated_cdr(first_run[2])
    second = run_invoicing(cutoff=CUTOFF)
    finalize_run(run=InvoiceRun.objects.get(pk=second.run_id), actor=user)

    numbers = sorted(Invoice.objects.exclude(number=None).values_list("number", flat=True))

    assert numbers == [f"PS-{year}-{n:06d}" for n in range(1, 5)]
    assert AuditEvent.objects.filter(action=AuditAction.INVOICE_FINALIZE).count() == 3


def test_final_statement_is_immutable():
    rated_cdr()
    run_invoicing(cutoff=CUTOFF)
    statement = Invoice.objects.get()
    user = UserFactory()
    finalize_invoice(invoice=statement, actor=user)
    number = Invoice.objects.get().number

    with pytest.raises(InvoicingError, match="only draft statements can be discarded"):
        discard_invoice(invoice=statement, actor=user)
    with pytest.raises(InvoicingError, match="only draft statements can be finalized"):
        finalize_invoice(invoice=statement, actor=user)

    statement.refresh_from_db()
    assert (statement.status, statement.number) == (InvoiceStatus.FINAL, number)
    assert CDR.objects.get().status == CDRStatus.INVOICED


def test_discard_releases_the_cdrs_to_rated_and_a_later_run_takes_them():
    assignment = AssignmentFactory()
    cdrs = [rated_cdr(assignment), rated_cdr(assignment)]
    run_invoicing(cutoff=CUTOFF)
    draft = Invoice.objects.get()
    user = UserFactory()

    released = discard_invoice(invoice=draft, actor=user)

    assert released == 2
    assert draft.status == InvoiceStatus.DISCARDED
    assert set(CDR.objects.values_list("status", "invoice")) == {(CDRStatus.RATED, None)}
    assert AuditEvent.objects.filter(action=AuditAction.INVOICE_DISCARD, actor=user).exists()

    later = run_invoicing(cutoff=CUTOFF)

    assert later.cdr_count == 2
    for cdr in cdrs:
        cdr.refresh_from_db()
        assert cdr.invoice.run_id == later.run_id


def test_the_database_refuses_an_invoiced_cdr_without_a_statement():
    cdr = rated_cdr()
    with pytest.raises(IntegrityError), transaction.atomic():
        CDR.objects.filter(pk=cdr.pk).update(status=CDRStatus.INVOICED)


# --- set-based ---------------------------------------------------------------------------------


def _accounts_with_cdrs(per_account: int) -> None:
    for _ in range(4):
        assignment = AssignmentFactory()
        for _ in range(per_account):
            rated_cdr(assignment)
    gone = AssignmentFactory()
    for _ in range(per_account):
        rated_cdr(gone)
    close(gone)


def test_run_queries_do_not_grow_with_the_number_of_cdrs():
    run_invoicing(cutoff=CUTOFF)  # the first run ever creates its lock row
    query_counts = []
    for per_account in (5, 50):
        _accounts_with_cdrs(per_account)
        with CaptureQueriesContext(connection) as queries:
            summary = run_invoicing(cutoff=CUTOFF)
        assert summary.cdr_count == 4 * per_account
        query_counts.append(len(queries))

    assert query_counts[0] == query_counts[1] <= 25


def test_run_queries_do_not_grow_with_the_number_of_accounts():
    run_invoicing(cutoff=CUTOFF)  # the first run ever creates its lock row
    query_counts = []
    for accounts in (1, 6):
        for _ in range(accounts):
            assignment = AssignmentFactory()
            rated_cdr(assignment)
            rated_cdr(assignment, excl=Decimal("-1.00"), credit=True)
        with CaptureQueriesContext(connection) as queries:
            summary = run_invoicing(cutoff=CUTOFF)
        assert len(summary.statements) == accounts
        query_counts.append(len(queries))

    assert query_counts[0] == query_counts[1]


# --- exactly once, two runs at the same moment (PostgreSQL) ------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_never_put_a_cdr_on_two_statements():
    assert connection.vendor == "postgresql"
    assignments = [AssignmentFactory() for _ in range(5)]
    for assignment in assignments:
        for _ in range(40):
            rated_cdr(assignment)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(run_invoicing(cutoff=CUTOFF, actor_name="thread"))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(summary.cdr_count for summary in results) == [0, 200]
    assert CDR.objects.filter(status=CDRStatus.INVOICED).count() == 200
    assert not CDR.objects.filter(status=CDRStatus.RATED).exists()
    assert (
        Invoice.objects.exclude(status=InvoiceStatus.DISCARDED).values("payout_account").count()
        == 5
    )
    totals = sum(Invoice.objects.values_list("cdr_count", flat=True))
    assert totals == 200
