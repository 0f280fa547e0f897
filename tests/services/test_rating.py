"""R5: every branch of the rating rules, the rating history, and batched re-rating."""

import sqlite3
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from evse_payout.models import (
    CDR,
    AuditAction,
    AuditEvent,
    CDRRating,
    CDRReason,
    CDRStatus,
    EVSEStatus,
    Invoice,
    InvoiceRun,
    PayoutAccount,
    StatementLine,
)
from evse_payout.services.rating import rate_cdr, rerate_cdrs
from tests.factories import (
    AssignmentFactory,
    CDRFactory,
    EVSEFactory,
    LocationFactory,
    PayoutAccountFactory,
)

pytestmark = pytest.mark.django_db


def _account(**kwargs):
    defaults = {
        "commission_percent": Decimal("10.00"),
        "fee_per_kwh": Decimal("0.0200"),
        "fee_per_session": Decimal("0.25"),
    }
    return PayoutAccountFactory(**{**defaults, **kwargs})


def _assigned_evse(account=None, **kwargs):
    assignment = AssignmentFactory(evse=EVSEFactory(**kwargs), payout_account=account or _account())
    return assignment.evse, assignment


def _reloaded(cdr):
    return CDR.objects.get(pk=cdr.pk)


def make_invoiced(cdr, account):
    run = InvoiceRun.objects.create(cutoff=timezone.now().date(), created_at=timezone.now())
    invoice = Invoice.objects.create(
        run=run, payout_account=account, currency="EUR", created_at=timezone.now()
    )
    CDR.objects.filter(pk=cdr.pk).update(
        rating_status=CDRStatus.RATED,
        payout_account=account,
        fee=Decimal("1.00"),
        payout=Decimal("9.00"),
        terms_commission_percent=Decimal("10.00"),
        terms_fee_per_kwh=Decimal("0"),
        terms_fee_per_session=Decimal("0"),
        terms_currency="EUR",
    )
    StatementLine.objects.create(cdr_id=cdr.pk, invoice=invoice)
    return _reloaded(cdr)


# The rated branch


def test_rated_cdr_records_account_assignment_fee_and_payout():
    evse, assignment = _assigned_evse()
    cdr = CDRFactory(
        evse=evse, total_cost_excl_vat=Decimal("10.0000"), total_energy=Decimal("20.0000")
    )

    rate_cdr(cdr=cdr, actor_name="test")

    cdr = _reloaded(cdr)
    assert cdr.status == CDRStatus.RATED
    assert cdr.reason == ""
    assert cdr.payout_account == assignment.payout_account
    assert cdr.assignment == assignment
    # 10 % × 10.00 + 0.02 × 20 + 0.25 = 1.00 + 0.40 + 0.25
    assert cdr.fee == Decimal("1.65")
    assert cdr.payout == Decimal("8.35")
    assert cdr.rated_at is not None


def test_fee_is_kept_at_four_decimals_not_rounded_per_cdr():
    account = _account(
        commission_percent=Decimal("50.00"), fee_per_kwh=Decimal("0"), fee_per_session=Decimal("0")
    )
    evse, _ = _assigned_evse(account)
    cdr = CDRFactory(evse=evse, total_cost_excl_vat=Decimal("10.0050"))

    rate_cdr(cdr=cdr)

    # Issue 12 (4): not 5.00 + 5.01 any more; the statement rounds once.
    cdr = _reloaded(cdr)
    assert cdr.fee == Decimal("5.0025")
    assert cdr.payout == Decimal("5.0025")


def test_payout_keeps_a_sub_cent_total():
    account = _account(
        commission_percent=Decimal("0"), fee_per_kwh=Decimal("0"), fee_per_session=Decimal("0")
    )
    evse, _ = _assigned_evse(account)
    cdr = CDRFactory(evse=evse, total_cost_excl_vat=Decimal("7.1250"))

    rate_cdr(cdr=cdr)

    assert _reloaded(cdr).payout == Decimal("7.1250")


def test_rating_stores_the_fee_terms_it_applied_on_the_cdr_and_its_history():
    account = _account(
        commission_percent=Decimal("12.50"),
        fee_per_kwh=Decimal("0.0300"),
        fee_per_session=Decimal("0.40"),
    )
    evse, _ = _assigned_evse(account)
    cdr = CDRFactory(evse=evse)

    rate_cdr(cdr=cdr)

    cdr = _reloaded(cdr)
    expected = (Decimal("12.50"), Decimal("0.0300"), Decimal("0.40"), "EUR")
    assert (
        cdr.terms_commission_percent,
        cdr.terms_fee_per_kwh,
        cdr.terms_fee_per_session,
        cdr.terms_currency,
    ) == expected
    history = CDRRating.objects.get(cdr=cdr)
    assert (
        history.terms_commission_percent,
        history.terms_fee_per_kwh,
        history.terms_fee_per_session,
        history.terms_currency,
    ) == expected


# The not-invoiceable branches


def test_cdr_of_unknown_evse_is_not_invoiceable_evse_unknown():
    cdr = CDRFactory(evse=None, evse_uid="NOPE", evse_id_raw="BE*BEC*E404")

    rate_cdr(cdr=cdr)

    cdr = _reloaded(cdr)
    assert (cdr.status, cdr.reason) == (CDRStatus.NOT_INVOICEABLE, CDRReason.EVSE_UNKNOWN)
    assert "BE*BEC*E404" in cdr.reason_detail
    assert cdr.payout_account is None and cdr.fee is None and cdr.payout is None


def test_cdr_of_unassigned_evse_is_not_invoiceable_evse_unassigned():
    evse = EVSEFactory(evse_id="BE*BEC*E1")
    cdr = CDRFactory(evse=evse)

    rate_cdr(cdr=cdr)

    cdr = _reloaded(cdr)
    assert (cdr.status, cdr.reason) == (CDRStatus.NOT_INVOICEABLE, CDRReason.EVSE_UNASSIGNED)
    assert cdr.reason_detail == (
        "EVSE BE*BEC*E1 is not assigned to a payout account — assign it, then re-rate."
    )


def test_cdr_in_another_currency_than_the_account_is_currency_mismatch():
    evse, _ = _assigned_evse(_account(currency="EUR"))
    cdr = CDRFactory(evse=evse, currency="USD")

    rate_cdr(cdr=cdr)

    cdr = _reloaded(cdr)
    assert (cdr.status, cdr.reason) == (CDRStatus.NOT_INVOICEABLE, CDRReason.CURRENCY_MISMATCH)
    assert "USD" in cdr.reason_detail and "EUR" in cdr.reason_detail


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"end_date_time": timezone.now() - timedelta(days=3)}, "end before start"),
        (
            {
                "start_date_time": timezone.now() + timedelta(hours=1),
                "end_date_time": timezone.now() + timedelta(hours=2),
            },
            "end in the future",
        ),
        ({"total_energy": Decimal("-1.0000")}, "negative energy"),
        ({"total_energy": Decimal("1000.0001")}, "more than 1,000 kWh"),
        ({"evse_id_raw": "NL*ABC*E1"}, "operator prefix"),
    ],
)
def test_cdr_breaking_a_sanity_rule_fails_validation_naming_the_rule(changes, rule):
    evse, _ = _assigned_evse(evse_id="BE*BEC*E1")
    start = changes.pop("start_date_time", timezone.now() - timedelta(days=2))
    cdr = CDRFactory(evse=evse, start_date_time=start, **changes)

    rate_cdr(cdr=cdr)

    cdr = _reloaded(cdr)
    assert (cdr.status, cdr.reason) == (CDRStatus.NOT_INVOICEABLE, CDRReason.FAILED_VALIDATION)
    assert f"Rule “{rule}”" in cdr.reason_detail


def test_exactly_1000_kwh_is_allowed():
    evse, _ = _assigned_evse()
    cdr = CDRFactory(evse=evse, total_energy=Decimal("1000.0000"))

    rate_cdr(cdr=cdr)

    assert _reloaded(cdr).status == CDRStatus.RATED


def test_cdr_only_sanity_rules_come_before_the_evse_rules():
    cdr = CDRFactory(evse=None, evse_uid="NOPE", total_energy=Decimal("-5"))

    rate_cdr(cdr=cdr)

    cdr = _reloaded(cdr)
    assert cdr.reason == CDRReason.FAILED_VALIDATION
    assert "negative energy" in cdr.reason_detail


def test_unmatched_cdr_is_matched_to_an_evse_created_since_by_uid():
    location = LocationFactory()
    cdr = CDRFactory(evse=None, evse_uid="LATE-UID", evse_id_raw="BE*BEC*E777")
    rate_cdr(cdr=cdr)
    assert _reloaded(cdr).reason == CDRReason.EVSE_UNKNOWN
    evse, _ = _assigned_evse(location=location, uid="LATE-UID", evse_id="BE*BEC*E777")

    rate_cdr(cdr=_reloaded(cdr))

    cdr = _reloaded(cdr)
    assert cdr.evse == evse
    assert cdr.status == CDRStatus.RATED


def test_unmatched_cdr_is_matched_by_upper_cased_evse_id_but_not_to_a_removed_evse():
    EVSEFactory(evse_id="BE*BEC*E888", status=EVSEStatus.REMOVED)
    cdr = CDRFactory(evse=None, evse_uid="OTHER", evse_id_raw="be*bec*e888")
    rate_cdr(cdr=cdr)
    assert _reloaded(cdr).evse is None

    live, _ = _assigned_evse(evse_id="BE*BEC*E888")
    rate_cdr(cdr=_reloaded(cdr))

    assert _reloaded(cdr).evse == live


def test_changing_status_clears_the_stale_rating():
    evse, assignment = _assigned_evse()
    cdr = CDRFactory(evse=evse)
    rate_cdr(cdr=cdr)
    assignment.unassigned_at = timezone.now()
    assignment.unassign_reason = "manual"
    assignment.save()

    rate_cdr(cdr=_reloaded(cdr))

    cdr = _reloaded(cdr)
    assert cdr.reason == CDRReason.EVSE_UNASSIGNED
    assert (cdr.payout_account, cdr.assignment, cdr.fee, cdr.payout, cdr.rated_at) == (
        None,
        None,
        None,
        None,
        None,
    )


# Credits


def _credit_of(original, **kwargs):
    return CDRFactory(
        evse=original.evse,
        credit=True,
        credit_reference_id=original.cdr_id,
        total_cost_excl_vat=-original.total_cost_excl_vat,
        total_cost_incl_vat=-original.total_cost_incl_vat,
        total_energy=-original.total_energy,
        **kwargs,
    )


def test_credit_is_rated_against_the_originals_account_and_reverses_its_amounts():
    evse, assignment = _assigned_evse()
    original = CDRFactory(evse=evse)
    rate_cdr(cdr=original)
    original = _reloaded(original)
    # The EVSE has moved on since: the credit still goes to the original's account.
    assignment.unassigned_at = timezone.now()
    assignment.unassign_reason = "manual"
    assignment.save()
    credit = _credit_of(original)

    rate_cdr(cdr=credit)

    credit = _reloaded(credit)
    assert credit.status == CDRStatus.RATED
    assert credit.credited_cdr == original
    assert credit.payout_account == original.payout_account
    assert credit.assignment == original.assignment
    assert credit.fee == -original.fee == Decimal("-1.65")
    assert credit.payout == -original.payout == Decimal("-8.35")


def test_credit_of_an_invoiced_original_is_rated():
    evse, assignment = _assigned_evse()
    original = make_invoiced(CDRFactory(evse=evse), assignment.payout_account)
    credit = _credit_of(original)

    rate_cdr(cdr=credit)

    assert _reloaded(credit).payout_account == assignment.payout_account


def test_credit_of_an_unknown_original_is_held_credit_original_unknown():
    credit = CDRFactory(
        credit=True,
        credit_reference_id="NEVER-SEEN",
        total_cost_excl_vat=Decimal("-10"),
        total_energy=Decimal("-20"),
    )

    rate_cdr(cdr=credit)

    credit = _reloaded(credit)
    assert (credit.status, credit.reason) == (
        CDRStatus.NOT_INVOICEABLE,
        CDRReason.CREDIT_ORIGINAL_UNKNOWN,
    )
    assert "NEVER-SEEN" in credit.reason_detail


def test_credit_of_a_not_invoiceable_original_is_held():
    original = CDRFactory(evse=EVSEFactory())
    rate_cdr(cdr=original)
    credit = _credit_of(_reloaded(original))

    rate_cdr(cdr=credit)

    credit = _reloaded(credit)
    assert credit.reason == CDRReason.ORIGINAL_NOT_INVOICED
    assert "rate the original first" in credit.reason_detail


# Credits (issue 12, case 1): original 20.00 at 10 % + 0.45 per session → fee 2.45, payout 17.55.


def _original_20_at_10_percent():
    account = _account(
        commission_percent=Decimal("10.00"),
        fee_per_kwh=Decimal("0"),
        fee_per_session=Decimal("0.45"),
    )
    evse, _ = _assigned_evse(account)
    original = CDRFactory(
        evse=evse,
        total_cost_excl_vat=Decimal("20.0000"),
        total_cost_incl_vat=Decimal("24.2000"),
        total_energy=Decimal("40.0000"),
    )
    rate_cdr(cdr=original)
    original = _reloaded(original)
    assert (original.fee, original.payout) == (Decimal("2.4500"), Decimal("17.5500"))
    return account, original


def _credit(original, amount, energy, cdr_id=None):
    return CDRFactory(
        evse=original.evse,
        credit=True,
        credit_reference_id=original.cdr_id,
        total_cost_excl_vat=Decimal(amount),
        total_cost_incl_vat=Decimal(amount),
        total_energy=Decimal(energy),
        **({"cdr_id": cdr_id} if cdr_id else {}),
    )


def test_full_credit_reverses_the_original_exactly_after_the_terms_changed():
    account, original = _original_20_at_10_percent()
    PayoutAccount.objects.filter(pk=account.pk).update(commission_percent=Decimal("20.00"))
    credit = _credit(original, "-20.00", "-40")

    rate_cdr(cdr=credit)

    credit = _reloaded(credit)
    assert (credit.fee, credit.payout) == (Decimal("-2.4500"), Decimal("-17.5500"))
    assert credit.terms_commission_percent == Decimal("10.00")


def test_partial_credit_reverses_commission_and_per_kwh_parts_not_the_session_fee():
    account, original = _original_20_at_10_percent()
    PayoutAccount.objects.filter(pk=account.pk).update(
        commission_percent=Decimal("20.00"), fee_per_kwh=Decimal("0.5000")
    )
    credit = _credit(original, "-10.00", "-20")

    rate_cdr(cdr=credit)

    # The original's terms: 10 % of 10.00 = 1.00; no per-kWh fee then; no session fee back.
    credit = _reloaded(credit)
    assert (credit.fee, credit.payout) == (Decimal("-1.0000"), Decimal("-9.0000"))


def test_credit_larger_than_its_original_is_held_credit_exceeds_original():
    account = _account(commission_percent=Decimal("10.00"))
    evse, _ = _assigned_evse(account)
    original = CDRFactory(
        evse=evse, total_cost_excl_vat=Decimal("5.00"), total_energy=Decimal("10")
    )
    rate_cdr(cdr=original)
    credit = _credit(_reloaded(original), "-50.00", "-10")

    rate_cdr(cdr=credit)

    credit = _reloaded(credit)
    assert (credit.status, credit.reason) == (
        CDRStatus.NOT_INVOICEABLE,
        CDRReason.CREDIT_EXCEEDS_ORIGINAL,
    )
    assert "more than the original's 5 EUR" in credit.reason_detail
    assert credit.fee is None


def test_second_full_credit_of_the_same_original_exceeds_it():
    _, original = _original_20_at_10_percent()
    first = _credit(original, "-20.00", "-40", cdr_id="CREDIT-1")
    second = _credit(original, "-20.00", "-40", cdr_id="CREDIT-2")

    rate_cdr(cdr=first)
    rate_cdr(cdr=second)

    assert _reloaded(first).status == CDRStatus.RATED
    assert _reloaded(second).reason == CDRReason.CREDIT_EXCEEDS_ORIGINAL


def test_two_partial_credits_in_one_batch_may_not_exceed_the_original_together():
    _, original = _original_20_at_10_percent()
    _credit(original, "-15.00", "-10", cdr_id="CREDIT-1")
    _credit(original, "-15.00", "-10", cdr_id="CREDIT-2")

    rerate_cdrs(cdrs=CDR.objects.filter(credit=True))

    reasons = list(CDR.objects.filter(credit=True).order_by("pk").values_list("reason", flat=True))
    assert reasons == ["", CDRReason.CREDIT_EXCEEDS_ORIGINAL]


# History and invoiced CDRs


def test_every_rating_is_recorded_in_the_history(manager):
    evse = EVSEFactory()
    cdr = CDRFactory(evse=evse)
    rate_cdr(cdr=cdr, actor_name="ocpi:peer")
    AssignmentFactory(evse=evse, payout_account=_account())

    rerate_cdrs(cdrs=CDR.objects.filter(pk=cdr.pk), actor=manager)

    first, second = CDRRating.objects.filter(cdr=cdr).order_by("pk")
    assert (first.actor_label, first.status, first.reason) == (
        "ocpi:peer",
        CDRStatus.NOT_INVOICEABLE,
        CDRReason.EVSE_UNASSIGNED,
    )
    assert (second.actor, second.actor_label, second.status) == (
        manager,
        "manager",
        CDRStatus.RATED,
    )
    assert second.fee == Decimal("1.65") and second.payout == Decimal("8.35")


def test_rate_cdr_never_touches_an_invoiced_cdr():
    evse, assignment = _assigned_evse()
    cdr = make_invoiced(CDRFactory(evse=evse, currency="USD"), assignment.payout_account)

    rate_cdr(cdr=cdr)

    cdr = _reloaded(cdr)
    assert (cdr.status, cdr.fee, cdr.payout) == (
        CDRStatus.INVOICED,
        Decimal("1.00"),
        Decimal("9.00"),
    )
    assert not CDRRating.objects.filter(cdr=cdr).exists()


def test_rerate_never_touches_invoiced_cdrs():
    evse, assignment = _assigned_evse()
    invoiced = make_invoiced(CDRFactory(evse=evse, currency="USD"), assignment.payout_account)
    other = CDRFactory(evse=evse)

    summary = rerate_cdrs(cdrs=CDR.objects.all(), actor_name="test")

    assert summary.total == 1
    invoiced = _reloaded(invoiced)
    assert (invoiced.status, invoiced.fee) == (CDRStatus.INVOICED, Decimal("1.00"))
    assert not CDRRating.objects.filter(cdr=invoiced).exists()
    assert _reloaded(other).status == CDRStatus.RATED


# Batched re-rating


def test_rerate_rates_cdrs_of_a_newly_assigned_evse_and_summarises():
    evse = EVSEFactory()
    cdrs = CDRFactory.create_batch(3, evse=evse)
    rerate_cdrs(cdrs=CDR.objects.all(), actor_name="test")
    AssignmentFactory(evse=evse, payout_account=_account())
    held = CDRFactory(evse=None, evse_uid="NOPE")

    summary = rerate_cdrs(cdrs=CDR.objects.all(), actor_name="rerate_cdrs", batch_size=2)

    assert summary.total == 4
    assert summary.changed == 4  # three newly rated, one `new` → not invoiceable
    assert summary.newly_rated == 3
    assert summary.newly_rated_payout == Decimal("25.05")
    assert summary.became_not_invoiceable == 1
    assert summary.by_status == {CDRStatus.RATED: 3, CDRStatus.NOT_INVOICEABLE: 1}
    assert summary.by_reason == {CDRReason.EVSE_UNKNOWN: 1}
    assert {c.status for c in CDR.objects.filter(pk__in=[c.pk for c in cdrs])} == {"rated"}
    assert _reloaded(held).reason == CDRReason.EVSE_UNKNOWN
    event = AuditEvent.objects.get(action=AuditAction.RERATE, actor_label="rerate_cdrs")
    assert event.object_count == 4
    assert event.summary == summary.message()


def test_rerate_reports_batches_to_progress():
    CDRFactory.create_batch(5, evse=EVSEFactory())
    seen = []

    rerate_cdrs(cdrs=CDR.objects.all(), batch_size=2, progress=seen.append)

    assert seen == [2, 2, 1]


def test_rerate_dry_run_writes_nothing():
    evse = EVSEFactory()
    cdr = CDRFactory(evse=evse)
    AssignmentFactory(evse=evse, payout_account=_account())

    summary = rerate_cdrs(cdrs=CDR.objects.all(), dry_run=True)

    assert summary.newly_rated == 1 and summary.newly_rated_payout == Decimal("8.35")
    assert _reloaded(cdr).status == CDRStatus.NEW
    assert not CDRRating.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.RERATE).exists()


def test_rerate_writes_only_cdrs_whose_rating_changed(django_assert_num_queries):
    evse, _ = _assigned_evse()
    cdr = CDRFactory(evse=evse)
    rate_cdr(cdr=cdr)
    rated_at = _reloaded(cdr).rated_at

    summary = rerate_cdrs(cdrs=CDR.objects.all())

    assert summary.changed == 0
    assert _reloaded(cdr).rated_at == rated_at
    # A re-rate that changes nothing leaves no history row: only the intake rating is there.
    assert CDRRating.objects.filter(cdr=cdr).count() == 1


@pytest.fixture
def real_sqlite_parameter_limit(monkeypatch):
    """Django assumes SQLite's old compile-time limit of 999 parameters and splits bulk writes
    by it; the linked SQLite allows far more. Use the real limit so the test measures the
    service's own queries (PostgreSQL has no such split)."""
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        monkeypatch.setattr(connection.features, "max_query_params", limit)


@pytest.mark.parametrize("count", [20, 200])
def test_rerate_query_count_does_not_grow_with_the_cdrs_in_a_batch(
    count, real_sqlite_parameter_limit, django_assert_max_num_queries
):
    account = _account()
    evses = [AssignmentFactory(payout_account=account).evse for _ in range(4)]
    unassigned = EVSEFactory()
    original = CDRFactory(evse=evses[0])
    rate_cdr(cdr=original)
    for index in range(count):
        CDRFactory(evse=(evses + [unassigned])[index % 5])
    CDRFactory(evse=None, evse_uid="NOPE")
    _credit_of(_reloaded(original))

    # 12, the batch's statement lines, and on PostgreSQL the rating lock held in share mode
    with django_assert_max_num_queries(13 + (connection.vendor == "postgresql")):
        summary = rerate_cdrs(cdrs=CDR.objects.all(), batch_size=5000)

    assert summary.total == count + 3


def test_credit_rerated_with_its_original_in_one_batch_sees_the_originals_new_rating():
    evse = EVSEFactory()
    original = CDRFactory(evse=evse)
    credit = _credit_of(original)
    AssignmentFactory(evse=evse, payout_account=_account())

    rerate_cdrs(cdrs=CDR.objects.all())

    assert _reloaded(original).status == CDRStatus.RATED
    credit = _reloaded(credit)
    assert credit.status == CDRStatus.RATED
    assert credit.payout == Decimal("-8.35")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_rerate_locks_each_batch_of_cdrs_with_one_query():
    from django.test.utils import CaptureQueriesContext

    CDRFactory.create_batch(2, evse=EVSEFactory())

    with CaptureQueriesContext(connection) as queries:
        rerate_cdrs(cdrs=CDR.objects.all())

    locking = [
        q["sql"] for q in queries if "FOR NO KEY UPDATE" in q["sql"] or "FOR UPDATE" in q["sql"]
    ]
    assert len(locking) == 1
    # Statement lines are looked up after the lock, by the batch's key range, not joined in it.
    assert "evse_payout_statementline" not in locking[0]


# What keeps re-rating fast: only changed CDRs are written, set-based, without the raw JSON.


def _cdr_writes(queries):
    return [q["sql"] for q in queries if q["sql"].startswith('UPDATE "evse_payout_cdr"')]


def _history_writes(queries):
    # One INSERT … SELECT, or one COPY on PostgreSQL.
    return [
        q["sql"]
        for q in queries
        if q["sql"].startswith(
            ('INSERT INTO "evse_payout_cdrrating"', 'COPY "evse_payout_cdrrating"')
        )
    ]


def test_rerate_writes_only_changed_cdrs_in_one_update_and_history_only_for_them():
    from django.test.utils import CaptureQueriesContext

    account = _account()
    evse, _ = _assigned_evse(account)
    unassigned = EVSEFactory()
    same = [CDRFactory(evse=evse, total_cost_excl_vat=Decimal(n)) for n in (10, 20, 30)]
    moving = [CDRFactory(evse=unassigned, total_cost_excl_vat=Decimal(n)) for n in (40, 50)]
    rerate_cdrs(cdrs=CDR.objects.all())
    rated_at = {cdr.pk: _reloaded(cdr).rated_at for cdr in same}
    AssignmentFactory(evse=unassigned, payout_account=account)

    with CaptureQueriesContext(connection) as queries:
        summary = rerate_cdrs(cdrs=CDR.objects.all())

    assert (summary.total, summary.changed, summary.newly_rated) == (5, 2, 2)
    assert len(_cdr_writes(queries)) == 1 and len(_history_writes(queries)) == 1
    # Each changed CDR got its own amounts from the one statement: 40 → fee 4.00 + 0.40 + 0.25.
    assert [(_reloaded(c).status, _reloaded(c).fee) for c in moving] == [
        (CDRStatus.RATED, Decimal("4.65")),
        (CDRStatus.RATED, Decimal("5.65")),
    ]
    assert {cdr.pk: _reloaded(cdr).rated_at for cdr in same} == rated_at
    assert [CDRRating.objects.filter(cdr=cdr).count() for cdr in same + moving] == [1, 1, 1, 2, 2]


def test_rerate_that_changes_nothing_writes_nothing_but_its_audit_event():
    from django.test.utils import CaptureQueriesContext

    evse, _ = _assigned_evse()
    CDRFactory.create_batch(3, evse=evse)
    CDRFactory(evse=None, evse_uid="NOPE")
    rerate_cdrs(cdrs=CDR.objects.all())

    with CaptureQueriesContext(connection) as queries:
        summary = rerate_cdrs(cdrs=CDR.objects.all(), actor_name="again")

    assert (summary.total, summary.changed) == (4, 0)
    assert not _cdr_writes(queries) and not _history_writes(queries)
    assert CDRRating.objects.count() == 4
    assert AuditEvent.objects.filter(action=AuditAction.RERATE, actor_label="again").exists()


def test_rerate_never_loads_the_raw_json():
    from django.test.utils import CaptureQueriesContext

    CDRFactory.create_batch(2, evse=EVSEFactory())

    with CaptureQueriesContext(connection) as queries:
        rerate_cdrs(cdrs=CDR.objects.all())

    reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT")]
    assert reads and not any('"raw"' in sql for sql in reads)


def test_rerate_keeps_each_credit_with_its_original_across_batches():
    evse = EVSEFactory()
    originals = CDRFactory.create_batch(3, evse=evse)
    credits = [_credit_of(original) for original in originals]
    AssignmentFactory(evse=evse, payout_account=_account())

    rerate_cdrs(cdrs=CDR.objects.all(), batch_size=2)

    assert {_reloaded(cdr).status for cdr in originals + credits} == {CDRStatus.RATED}
    assert [_reloaded(credit).credited_cdr_id for credit in credits] == [o.pk for o in originals]
