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
    StatementLine,
)
from evse_payout.services.invoicing import (
    InvoicingError,
    discard_invoice,
    finalize_invoice,
    finalize_run,
    left_out_cdrs,
    run_invoicing,
)
from tests.factories import (
    AssignmentFactory,
    CDRFactory,
    PartnerAccountFactory,
    PartnerAssignmentFactory,
    SubCPOFactory,
    UserFactory,
)

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
    """A CDR as the rating service leaves it: rated for the EVSE's assignment, fee and payout at
    line precision (4 decimals).

    The fee is 10 % of the collected excl.-VAT amount; the payout is the rest, so fee + payout is
    exactly the collected amount, as rating defines it.
    """
    assignment = assignment or PartnerAssignmentFactory()
    account = assignment.payout_account
    fee = (excl * Decimal("0.10")).quantize(Decimal("0.0001"))
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
        payout=excl - fee,
        rated_at=ended + timedelta(minutes=5),
        **extra,
    )


def close(assignment):
    Assignment.objects.filter(pk=assignment.pk).update(
        unassigned_at=timezone.now(), unassign_reason="manual"
    )


# --- what a run takes (R6) ---------------------------------------------------------------------


def test_run_takes_rated_cdrs_of_assigned_evses_onto_one_draft_per_account():
    first, second = PartnerAssignmentFactory(), PartnerAssignmentFactory()
    cdrs = [rated_cdr(first), rated_cdr(first), rated_cdr(second)]

    summary = run_invoicing(cutoff=CUTOFF)

    assert summary.cdr_count == 3
    assert Invoice.objects.filter(run_id=summary.run_id, status=InvoiceStatus.DRAFT).count() == 2
    for cdr in cdrs:
        cdr.refresh_from_db()
        assert cdr.status == CDRStatus.INVOICED
        assert cdr.statement.payout_account_id == cdr.payout_account_id
    statement = Invoice.objects.get(payout_account=first.payout_account)
    assert statement.cdr_count == 2
    assert statement.net_payout == Decimal("18.00")
    assert statement.total_fees == Decimal("2.00")


def test_cutoff_is_midnight_in_the_business_time_zone_not_utc(settings):
    settings.BUSINESS_TIME_ZONE = "Europe/Brussels"
    assignment = PartnerAssignmentFactory()
    # 1 March 00:00 in Brussels (winter time, UTC+1) is 28 February 23:00 UTC.
    at_cutoff = rated_cdr(assignment, ended=datetime(2026, 2, 28, 23, 0, tzinfo=UTC))
    just_before = rated_cdr(assignment, ended=datetime(2026, 2, 28, 22, 59, 59, tzinfo=UTC))

    run_invoicing(cutoff=CUTOFF)

    at_cutoff.refresh_from_db()
    just_before.refresh_from_db()
    assert at_cutoff.status == CDRStatus.RATED and at_cutoff.statement is None
    assert just_before.status == CDRStatus.INVOICED
    assert InvoiceRun.objects.get().time_zone == "Europe/Brussels"


def test_cutoff_follows_summer_time(settings):
    settings.BUSINESS_TIME_ZONE = "Europe/Brussels"
    assignment = PartnerAssignmentFactory()
    # 1 April 00:00 in Brussels (summer time, UTC+2) is 31 March 22:00 UTC.
    at_cutoff = rated_cdr(assignment, ended=datetime(2026, 3, 31, 22, 0, tzinfo=UTC))
    just_before = rated_cdr(assignment, ended=datetime(2026, 3, 31, 21, 59, 59, tzinfo=UTC))

    run_invoicing(cutoff=date(2026, 4, 1))

    at_cutoff.refresh_from_db()
    just_before.refresh_from_db()
    assert at_cutoff.statement is None
    assert just_before.status == CDRStatus.INVOICED


def test_business_time_zone_defaults_to_the_display_time_zone():
    from django.conf import settings as django_settings

    assert django_settings.BUSINESS_TIME_ZONE == django_settings.TIME_ZONE


def test_cdr_whose_evse_was_unassigned_since_rating_becomes_not_invoiceable():
    assignment = PartnerAssignmentFactory()
    cdr = rated_cdr(assignment, excl=Decimal("7.50"))
    close(assignment)
    finance = UserFactory()

    summary = run_invoicing(cutoff=CUTOFF, actor=finance)

    cdr.refresh_from_db()
    assert cdr.status == CDRStatus.NOT_INVOICEABLE
    assert cdr.reason == CDRReason.EVSE_UNASSIGNED
    assert cdr.statement is None
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
    # Stored compactly: one row per reason, account and currency, no row per CDR; the account is
    # gone because the CDR no longer names one (it is not invoiceable now).
    row = InvoiceRunExclusion.objects.get(run_id=summary.run_id)
    assert (row.reason, row.payout_account, row.currency, row.cdr_count, row.amount_excl_vat) == (
        CDRReason.EVSE_UNASSIGNED,
        None,
        "EUR",
        1,
        Decimal("7.50"),
    )
    assert list(left_out_cdrs(InvoiceRun.objects.get(pk=summary.run_id))) == [cdr]


def test_cdr_whose_evse_moved_to_another_account_stays_rated_as_assignment_changed():
    assignment = PartnerAssignmentFactory()
    cdr = rated_cdr(assignment)
    close(assignment)
    PartnerAssignmentFactory(evse=assignment.evse)

    summary = run_invoicing(cutoff=CUTOFF)

    cdr.refresh_from_db()
    assert cdr.status == CDRStatus.RATED
    assert cdr.statement is None
    assert [(e.reason, e.count) for e in summary.exclusions] == [(CDRReason.ASSIGNMENT_CHANGED, 1)]
    assert not Invoice.objects.exists()
    row = InvoiceRunExclusion.objects.get(run_id=summary.run_id)
    assert (row.reason, row.payout_account, row.cdr_count) == (
        CDRReason.ASSIGNMENT_CHANGED,
        assignment.payout_account,
        1,
    )
    left_out = left_out_cdrs(InvoiceRun.objects.get(pk=summary.run_id))
    assert [(c, c.left_out_reason) for c in left_out] == [(cdr, CDRReason.ASSIGNMENT_CHANGED)]


def test_exclusions_are_one_row_per_reason_account_and_currency_not_per_cdr():
    first, second = PartnerAssignmentFactory(), PartnerAssignmentFactory()
    for assignment, amounts in ((first, ("1.00", "2.25", "3.50")), (second, ("4.00",))):
        for amount in amounts:
            rated_cdr(assignment, excl=Decimal(amount))
        close(assignment)
        PartnerAssignmentFactory(evse=assignment.evse)

    summary = run_invoicing(cutoff=CUTOFF)

    rows = InvoiceRunExclusion.objects.filter(run_id=summary.run_id).order_by("cdr_count")
    assert [(r.reason, r.payout_account, r.cdr_count, r.amount_excl_vat) for r in rows] == [
        (CDRReason.ASSIGNMENT_CHANGED, second.payout_account, 1, Decimal("4.00")),
        (CDRReason.ASSIGNMENT_CHANGED, first.payout_account, 3, Decimal("6.75")),
    ]
    assert [(e.reason, e.count, e.amounts) for e in summary.exclusions] == [
        (CDRReason.ASSIGNMENT_CHANGED, 4, {"EUR": Decimal("10.75")})
    ]


def test_a_run_of_one_account_finds_the_cdrs_it_held_back_but_not_other_accounts():
    mine, other = PartnerAssignmentFactory(), PartnerAssignmentFactory()
    held = rated_cdr(mine, excl=Decimal("5.00"))
    rated_cdr(other)
    close(mine)
    close(other)
    run_invoicing(cutoff=CUTOFF)  # the other account's CDR becomes not invoiceable first
    rated_cdr(mine, excl=Decimal("1.00"))  # a second CDR of a closed assignment: held below
    mine_run = run_invoicing(cutoff=CUTOFF, account=mine.payout_account)

    run = InvoiceRun.objects.get(pk=mine_run.run_id)
    left_out = {(cdr.pk, cdr.left_out_reason) for cdr in left_out_cdrs(run)}
    newer = CDR.objects.exclude(pk=held.pk).get(total_cost_excl_vat=Decimal("1.00"))
    assert left_out == {(newer.pk, CDRReason.EVSE_UNASSIGNED)}
    assert [(e.reason, e.count, e.amounts) for e in mine_run.exclusions] == [
        (CDRReason.EVSE_UNASSIGNED, 1, {"EUR": Decimal("1.00")})
    ]


def test_a_cdr_rated_after_the_run_is_not_listed_as_left_out_by_it():
    assignment = PartnerAssignmentFactory()
    summary = run_invoicing(cutoff=CUTOFF)
    rated_cdr(assignment)  # eligible: the next run takes it; this run did not leave it out

    assert list(left_out_cdrs(InvoiceRun.objects.get(pk=summary.run_id))) == []


def test_evse_assigned_again_to_the_same_account_still_pays_that_account():
    assignment = PartnerAssignmentFactory()
    cdr = rated_cdr(assignment)
    close(assignment)
    PartnerAssignmentFactory(evse=assignment.evse, payout_account=assignment.payout_account)

    run_invoicing(cutoff=CUTOFF)

    cdr.refresh_from_db()
    assert cdr.status == CDRStatus.INVOICED
    assert cdr.statement.payout_account == assignment.payout_account


def test_cdr_whose_account_changed_currency_is_left_out_for_re_rating():
    assignment = PartnerAssignmentFactory()
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
    assignment = PartnerAssignmentFactory()
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
    assignment = PartnerAssignmentFactory()
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
    assert credit.statement.payout_account == assignment.payout_account
    assert summary.exclusions == []


def test_run_writes_an_audit_event_and_its_counts():
    assignment = PartnerAssignmentFactory()
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
    assignment = PartnerAssignmentFactory()
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


def test_statement_totals_are_the_exact_sums_of_their_lines_rounded_once():
    assignment = PartnerAssignmentFactory()
    first = rated_cdr(assignment, excl=Decimal("3.3350"), incl=Decimal("4.0354"))
    rated_cdr(assignment, excl=Decimal("1.0049"), incl=Decimal("1.2159"))
    rated_cdr(assignment, excl=Decimal("2.0050"), incl=Decimal("2.4261"))
    rated_cdr(
        assignment,
        excl=Decimal("-1.1150"),
        incl=Decimal("-1.3492"),
        credit=True,
        credited_cdr=first,
    )

    run_invoicing(cutoff=CUTOFF)

    statement = Invoice.objects.get()
    # 3.3350 + 1.0049 + 2.0050 − 1.1150 = 5.2299 → 5.23 (per-line rounding gave 5.23 too, by luck)
    assert statement.total_excl_vat == Decimal("5.23")
    # 4.0354 + 1.2159 + 2.4261 − 1.3492 = 6.3282 → 6.33
    assert statement.total_incl_vat == Decimal("6.33")
    assert statement.total_vat == Decimal("1.10")
    assert statement.total_credits == Decimal("-1.12")  # −1.1150 → −1.12 (half away from zero)
    lines = list(statement.cdrs.all())
    assert statement.period_start == min(cdr.start_date_time for cdr in lines)
    assert statement.period_end == max(cdr.end_date_time for cdr in lines)


def _line(account, excl: str, incl: str, fee: str, payout: str, **extra) -> CDR:
    """A rated CDR with exactly these 4-decimal amounts."""
    assignment = PartnerAssignmentFactory(payout_account=account)
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


def test_three_half_cent_lines_and_a_half_cent_credit_give_one_cent_not_two():
    """Issue 12 (4): per-line rounding made 0.02 of 0.0100 collected."""
    account = PartnerAccountFactory()
    first = _line(account, "0.0050", "0.0050", "0.0000", "0.0050")
    _line(account, "0.0050", "0.0050", "0.0000", "0.0050")
    _line(account, "0.0050", "0.0050", "0.0000", "0.0050")
    _line(account, "-0.0050", "-0.0050", "0.0000", "-0.0050", credited_cdr=first)

    (statement,) = run_invoicing(cutoff=CUTOFF).statements

    assert statement.total_excl_vat == Decimal("0.01")
    assert statement.net_payout == Decimal("0.01")


def test_half_a_cent_split_by_a_50_percent_fee_is_rounded_once_per_figure():
    """Issue 12 (4): 10.0050 at 50 % gave fee 5.00 + payout 5.01 from per-CDR rounding."""
    account = PartnerAccountFactory()
    _line(account, "10.0050", "12.1061", "5.0025", "5.0025")

    (statement,) = run_invoicing(cutoff=CUTOFF).statements

    assert (statement.total_excl_vat, statement.total_fees, statement.net_payout) == (
        Decimal("10.01"),
        Decimal("5.00"),
        Decimal("5.00"),
    )


def test_a_three_decimal_currency_keeps_its_third_decimal_on_the_statement():
    """Issue 12 (4): KWD lines 6.002 / 0.600 / 5.402 were stored as 6.00 / 0.60 / 5.40."""
    account = PartnerAccountFactory(currency="KWD")
    _line(account, "6.0020", "6.0020", "0.6000", "5.4020")

    run_invoicing(cutoff=CUTOFF)

    saved = Invoice.objects.get()
    assert (saved.total_excl_vat, saved.total_fees, saved.net_payout) == (
        Decimal("6.002"),
        Decimal("0.600"),
        Decimal("5.402"),
    )
    assert str(saved.net_payout) == "5.4020"


def test_a_zero_decimal_currency_rounds_the_exact_sum_to_whole_units():
    account = PartnerAccountFactory(currency="JPY")
    _line(account, "100.4000", "110.4000", "10.0400", "90.3600")
    _line(account, "200.4000", "220.4000", "20.0400", "180.3600")

    (statement,) = run_invoicing(cutoff=CUTOFF).statements

    # 300.8 → 301 (per line: 100 + 200 = 300); fees 30.08 → 30; payout 270.72 → 271
    assert (statement.total_excl_vat, statement.total_fees, statement.net_payout) == (
        Decimal("301"),
        Decimal("30"),
        Decimal("271"),
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
            st.decimals(min_value=Decimal("0"), max_value=Decimal("500"), places=4),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_statement_figures_are_within_half_a_cent_of_the_exact_sums(lines):
    with transaction.atomic():
        assignments = [PartnerAssignmentFactory() for _ in range(3)]
        for account_index, excl in lines:
            rated_cdr(assignments[account_index], excl=excl)

        summary = run_invoicing(cutoff=CUTOFF, dry_run=True)

        assert sum(s.cdr_count for s in summary.statements) == len(lines)
        half_cent = Decimal("0.005")
        for statement in summary.statements:
            exact = sum(
                excl
                for index, excl in lines
                if assignments[index].payout_account_id == statement.account_id
            )
            assert abs(statement.total_excl_vat - exact) <= half_cent
        transaction.set_rollback(True)


# --- dry run -----------------------------------------------------------------------------------


def test_dry_run_shows_the_figures_of_the_real_run_and_writes_nothing():
    kept, moved, gone = (
        PartnerAssignmentFactory(),
        PartnerAssignmentFactory(),
        PartnerAssignmentFactory(),
    )
    original = rated_cdr(kept, excl=Decimal("12.3456"))
    rated_cdr(kept, excl=Decimal("-2.00"), credit=True, credited_cdr=original)
    rated_cdr(moved)
    rated_cdr(gone)
    close(moved)
    PartnerAssignmentFactory(evse=moved.evse)
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
    first_run = [PartnerAssignmentFactory() for _ in range(3)]
    for assignment in first_run:
        rated_cdr(assignment)
    run_invoicing(cutoff=CUTOFF)
    user = UserFactory()
    drafts = list(Invoice.objects.order_by("pk"))
    finalize_invoice(invoice=drafts[1], actor=user)
    finalize_invoice(invoice=drafts[0], actor=user)
    discard_invoice(invoice=drafts[2], actor=user)
    later = PartnerAssignmentFactory()
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
    assignment = PartnerAssignmentFactory()
    cdrs = [rated_cdr(assignment), rated_cdr(assignment)]
    run_invoicing(cutoff=CUTOFF)
    draft = Invoice.objects.get()
    user = UserFactory()

    released = discard_invoice(invoice=draft, actor=user)

    assert released == 2
    assert draft.status == InvoiceStatus.DISCARDED
    assert set(CDR.objects.values_list("status", "statement_line")) == {(CDRStatus.RATED, None)}
    assert AuditEvent.objects.filter(action=AuditAction.INVOICE_DISCARD, actor=user).exists()

    later = run_invoicing(cutoff=CUTOFF)

    assert later.cdr_count == 2
    for cdr in cdrs:
        cdr.refresh_from_db()
        assert cdr.statement.run_id == later.run_id


def test_the_database_keeps_a_cdr_on_one_statement():
    cdr = rated_cdr()
    first = run_invoicing(cutoff=CUTOFF)
    other = Invoice.objects.create(
        run=InvoiceRun.objects.get(pk=first.run_id),
        payout_account=PartnerAccountFactory(),
        currency="EUR",
        created_at=timezone.now(),
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        StatementLine.objects.create(cdr=cdr, invoice=other)


# --- set-based ---------------------------------------------------------------------------------


def _accounts_with_cdrs(per_account: int) -> None:
    for _ in range(4):
        assignment = PartnerAssignmentFactory()
        for _ in range(per_account):
            rated_cdr(assignment)
    gone = PartnerAssignmentFactory()
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
            assignment = PartnerAssignmentFactory()
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
    assignments = [PartnerAssignmentFactory() for _ in range(5)]
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


# --- settlement (issue 12) ----------------------------------------------------------------------


def test_credit_is_held_while_its_original_is_held_back_and_released_by_re_rating():
    """Issue 12 (2): the run invoiced the credit alone, a statement of net −35.35."""
    from evse_payout.services.rating import rate_cdr, rerate_cdrs

    account = PartnerAccountFactory(
        commission_percent=Decimal("0"), fee_per_kwh=Decimal("0"), fee_per_session=Decimal("0")
    )
    assignment = PartnerAssignmentFactory(payout_account=account)
    original = CDRFactory(
        evse=assignment.evse,
        end_date_time=BEFORE_CUTOFF,
        start_date_time=BEFORE_CUTOFF - timedelta(hours=1),
        total_cost_excl_vat=Decimal("35.35"),
    )
    rate_cdr(cdr=original)
    credit = CDRFactory(
        evse=assignment.evse,
        end_date_time=BEFORE_CUTOFF,
        start_date_time=BEFORE_CUTOFF - timedelta(hours=1),
        credit=True,
        credit_reference_id=original.cdr_id,
        total_cost_excl_vat=Decimal("-35.35"),
        total_energy=Decimal("-20"),
    )
    rate_cdr(cdr=credit)
    close(assignment)

    summary = run_invoicing(cutoff=CUTOFF)

    assert summary.statements == []
    assert not Invoice.objects.exists()
    credit.refresh_from_db()
    assert (credit.status, credit.reason) == (
        CDRStatus.NOT_INVOICEABLE,
        CDRReason.ORIGINAL_NOT_INVOICED,
    )
    assert {(e.reason, e.count) for e in summary.exclusions} == {
        (CDRReason.EVSE_UNASSIGNED, 1),
        (CDRReason.ORIGINAL_NOT_INVOICED, 1),
    }
    # Assigned again and re-rated, both go on one statement that nets to 0.
    PartnerAssignmentFactory(evse=assignment.evse, payout_account=account)
    rerate_cdrs(cdrs=CDR.objects.all())
    (statement,) = run_invoicing(cutoff=CUTOFF).statements
    assert (statement.cdr_count, statement.net_payout, statement.total_fees) == (
        2,
        Decimal("0.00"),
        Decimal("0.00"),
    )


def reverse_charge_holder():
    """A Sub-CPO VAT-registered in the Netherlands: its documents carry no VAT (reverse charge),
    so what it is paid is its net payout, as in issue 12's figures (VAT cases: tests/documents)."""
    return SubCPOFactory(country="NLD", vat_number="NL812345605B01")


def test_statement_with_net_payout_below_zero_is_carried_forward_into_the_next_one():
    """Issue 12 (3): the −4.50 owed was dropped; now the next statement pays 9.00 − 4.50."""
    assignment = PartnerAssignmentFactory(payout_account__holder=reverse_charge_holder())
    original = rated_cdr(assignment, excl=Decimal("5.00"))  # fee 0.50, payout 4.50
    finalize_run(run=InvoiceRun.objects.get(pk=run_invoicing(cutoff=CUTOFF).run_id), actor=None)
    rated_cdr(assignment, excl=Decimal("-5.00"), credit=True, credited_cdr=original)
    second = InvoiceRun.objects.get(pk=run_invoicing(cutoff=CUTOFF).run_id)
    (owing,) = finalize_run(run=second, actor=None)
    assert (owing.net_payout, owing.payable, owing.carried_forward) == (
        Decimal("-4.50"),
        Decimal("-4.50"),
        True,
    )

    rated_cdr(assignment, excl=Decimal("10.00"))  # payout 9.00
    (following,) = run_invoicing(cutoff=CUTOFF).statements

    statement = Invoice.objects.get(run__pk=InvoiceRun.objects.latest("pk").pk)
    assert statement.brought_forward_from == owing
    assert (following.net_payout, following.balance_brought_forward, following.payable) == (
        Decimal("9.00"),
        Decimal("-4.50"),
        Decimal("4.50"),
    )


def test_statement_below_the_minimum_payout_is_carried_forward():
    account = PartnerAccountFactory(minimum_payout=Decimal("25.00"), holder=reverse_charge_holder())
    rated_cdr(PartnerAssignmentFactory(payout_account=account), excl=Decimal("20.00"))
    run = InvoiceRun.objects.get(pk=run_invoicing(cutoff=CUTOFF).run_id)

    (statement,) = finalize_run(run=run, actor=None)

    assert statement.payable == Decimal("18.00")
    assert statement.carried_forward


def test_discarding_a_statement_reopens_the_balance_it_brought_forward():
    assignment = PartnerAssignmentFactory(payout_account__holder=reverse_charge_holder())
    original = rated_cdr(assignment, excl=Decimal("5.00"))
    finalize_run(run=InvoiceRun.objects.get(pk=run_invoicing(cutoff=CUTOFF).run_id), actor=None)
    rated_cdr(assignment, excl=Decimal("-5.00"), credit=True, credited_cdr=original)
    second = InvoiceRun.objects.get(pk=run_invoicing(cutoff=CUTOFF).run_id)
    (owing,) = finalize_run(run=second, actor=None)
    rated_cdr(assignment, excl=Decimal("10.00"))
    run_invoicing(cutoff=CUTOFF)
    draft = Invoice.objects.get(brought_forward_from=owing)

    discard_invoice(invoice=draft, actor=None)

    (again,) = run_invoicing(cutoff=CUTOFF).statements
    assert again.balance_brought_forward == Decimal("-4.50")


def test_the_cpo_own_account_gets_an_unnumbered_revenue_report_and_its_cdrs_end_invoiced():
    """Issue 12 (6): the CPO self-billed itself a numbered statement."""
    own = AssignmentFactory()  # the CPO's own account (no holder)
    cdr = rated_cdr(own, excl=Decimal("100.00"))
    run = InvoiceRun.objects.get(pk=run_invoicing(cutoff=CUTOFF).run_id)

    (report,) = finalize_run(run=run, actor=None)

    assert report.kind == "revenue_report"
    assert report.number is None
    assert report.status == InvoiceStatus.FINAL
    assert not report.carried_forward
    cdr.refresh_from_db()
    assert cdr.status == CDRStatus.INVOICED


def test_finalize_freezes_payee_and_fee_terms_on_the_statement():
    account = PartnerAccountFactory(
        account_holder_name="Hotel Zeezicht BV",
        vat_number="BE0999999999",
        commission_percent=Decimal("12.50"),
    )
    rated_cdr(PartnerAssignmentFactory(payout_account=account))
    run = InvoiceRun.objects.get(pk=run_invoicing(cutoff=CUTOFF).run_id)

    (statement,) = finalize_run(run=run, actor=None)
    iban = account.iban
    PartnerAccountFactory._meta.model.objects.filter(pk=account.pk).update(
        iban="BE71096123456769", account_holder_name="Other", commission_percent=Decimal("1")
    )

    statement.refresh_from_db()
    assert (statement.payee_iban, statement.payee_account_holder_name) == (
        iban,
        "Hotel Zeezicht BV",
    )
    assert statement.payee_vat_number == "BE0999999999"
    assert statement.payee_name == account.holder.name
    assert statement.terms_commission_percent == Decimal("12.50")
