"""`rerate_cdrs`: the core flow (assign the EVSE, re-rate, rated), filters, dry run, invoiced CDRs."""

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from evse_payout.models import CDR, EVSE, AuditAction, AuditEvent, CDRRating, CDRStatus
from evse_payout.services.assignments import assign_evses
from evse_payout.services.rating import rate_cdr
from tests.factories import AssignmentFactory, CDRFactory, EVSEFactory, PayoutAccountFactory
from tests.services.test_rating import make_invoiced

pytestmark = pytest.mark.django_db


def rerate(*args, **options):
    out, err = StringIO(), StringIO()
    call_command("rerate_cdrs", *args, stdout=out, stderr=err, **options)
    return out.getvalue()


def _reloaded(cdr):
    return CDR.objects.get(pk=cdr.pk)


def test_core_flow_unassigned_evse_then_assign_then_rerate_rates_the_cdr(manager):
    evse = EVSEFactory(evse_id="BE*BEC*E1")
    cdr = CDRFactory(evse=evse)
    rate_cdr(cdr=cdr, actor_name="ocpi:peer")
    assert (_reloaded(cdr).status, _reloaded(cdr).reason) == ("not_invoiceable", "evse_unassigned")
    account = PayoutAccountFactory()

    assign_evses(evses=EVSE.objects.filter(pk=evse.pk), account_id=account.pk, actor=manager)
    output = rerate(evse="BE*BEC*E1")

    cdr = _reloaded(cdr)
    assert (cdr.status, cdr.reason, cdr.payout_account) == ("rated", "", account)
    assert cdr.payout == Decimal("8.35")
    assert output.strip().startswith(
        "Re-rated 1 CDRs: 1 changed status (1 newly rated, 8.35 EUR payout;"
    )
    assert CDRRating.objects.filter(cdr=cdr, actor_label="rerate_cdrs").exists()
    assert AuditEvent.objects.filter(action=AuditAction.RERATE, actor_label="rerate_cdrs").exists()


def test_evse_filter_is_exact():
    evse = EVSEFactory(evse_id="BE*BEC*E1")
    other = EVSEFactory(evse_id="BE*BEC*E10")
    mine, theirs = CDRFactory(evse=evse), CDRFactory(evse=other)

    rerate(evse="be*bec*e1")

    assert _reloaded(mine).status == CDRStatus.NOT_INVOICEABLE
    assert _reloaded(theirs).status == CDRStatus.NEW


def test_status_and_reason_filters():
    unknown = CDRFactory(evse=None, evse_uid="NOPE")
    unassigned = CDRFactory(evse=EVSEFactory())
    rerate()
    AssignmentFactory(evse=unassigned.evse)

    rerate(status="not_invoiceable", reason="evse_unknown")

    assert _reloaded(unassigned).status == CDRStatus.NOT_INVOICEABLE
    assert _reloaded(unknown).reason == "evse_unknown"
    rerate("--status", "not_invoiceable", "--reason", "evse_unassigned")
    assert _reloaded(unassigned).status == CDRStatus.RATED


def test_account_filter_selects_the_cdrs_rated_to_that_account():
    assignment = AssignmentFactory()
    cdr = CDRFactory(evse=assignment.evse)
    other = CDRFactory(evse=AssignmentFactory().evse)
    rerate()
    assignment.payout_account.commission_percent = Decimal("20.00")
    assignment.payout_account.save()

    rerate(account=assignment.payout_account.pk)

    assert _reloaded(cdr).fee == Decimal("2.65")
    assert _reloaded(other).fee == Decimal("1.65")


def test_since_and_until_select_a_half_open_period_on_the_end():
    evse = EVSEFactory()
    before = CDRFactory(
        evse=evse,
        start_date_time=datetime(2026, 3, 31, 22, tzinfo=UTC),
        end_date_time=datetime(2026, 3, 31, 23, 59, tzinfo=UTC),
    )
    inside = CDRFactory(
        evse=evse,
        start_date_time=datetime(2026, 4, 1, tzinfo=UTC),
        end_date_time=datetime(2026, 4, 1, 1, tzinfo=UTC),
    )
    at_until = CDRFactory(
        evse=evse,
        start_date_time=datetime(2026, 4, 30, 23, tzinfo=UTC),
        end_date_time=datetime(2026, 5, 1, tzinfo=UTC),
    )

    rerate(since="2026-04-01", until="2026-05-01")

    assert [_reloaded(c).status for c in (before, inside, at_until)] == [
        "new",
        "not_invoiceable",
        "new",
    ]


def test_dry_run_prints_what_would_change_and_writes_nothing():
    evse = EVSEFactory()
    cdrs = CDRFactory.create_batch(2, evse=evse)
    AssignmentFactory(evse=evse)

    output = rerate("--dry-run")

    assert "Dry run, nothing written" in output
    assert "would change the status of 2 (2 newly rated, 16.70 EUR payout" in output
    assert {_reloaded(cdr).status for cdr in cdrs} == {"new"}
    assert not CDRRating.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.RERATE).exists()


def test_rerate_never_changes_invoiced_cdrs():
    assignment = AssignmentFactory()
    invoiced = make_invoiced(
        CDRFactory(evse=assignment.evse, currency="USD"), assignment.payout_account
    )

    output = rerate()
    rerate(status="new")

    invoiced = _reloaded(invoiced)
    assert invoiced.status == CDRStatus.INVOICED and invoiced.fee == Decimal("1.00")
    assert "Re-rated 0 CDRs" in output


def test_progress_bar_goes_to_stderr_and_batches_cover_every_cdr():
    CDRFactory.create_batch(5, evse=EVSEFactory())
    out, err = StringIO(), StringIO()

    call_command("rerate_cdrs", batch_size=2, stdout=out, stderr=err)

    assert "Re-rating CDRs" in err.getvalue()
    assert "Re-rated 5 CDRs" in out.getvalue()
    assert not CDR.objects.filter(status=CDRStatus.NEW).exists()


def test_invalid_filters_fail_with_a_message():
    with pytest.raises(CommandError, match="account"):
        rerate(account=999999)
    with pytest.raises(CommandError, match="--since yesterday: Enter a valid date"):
        rerate(since="yesterday")
