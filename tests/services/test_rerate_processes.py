"""A large re-rate split over processes (PostgreSQL, outside a transaction): the same outcome as
one process, every CDR once, credits after their originals, one audit event."""

from decimal import Decimal

import pytest

from evse_payout.models import CDR, AuditAction, AuditEvent, CDRRating, CDRStatus
from evse_payout.services import rating
from evse_payout.services.processes import PartFailed
from evse_payout.services.rating import rerate_cdrs
from tests.factories import AssignmentFactory, CDRFactory, EVSEFactory
from tests.services.test_rating import _account, _credit_of

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def small_parallel_threshold(monkeypatch):
    monkeypatch.setattr(rating, "PARALLEL_MIN_CDRS", 10)


def _world():
    """30 new charges on two assigned EVSEs and one unassigned one, and a credit whose original
    is among the first CDRs (the first process's key range) while the credit is the last CDR."""
    account = _account()
    assigned = [AssignmentFactory(payout_account=account).evse for _ in range(2)]
    unassigned = EVSEFactory()
    charges = [CDRFactory(evse=(assigned + [unassigned])[n % 3]) for n in range(30)]
    credit = _credit_of(charges[0])
    return charges, credit


@pytest.mark.usefixtures("small_parallel_threshold")
def test_two_processes_rate_every_cdr_once_and_credits_after_their_originals():
    charges, credit = _world()
    reported = []

    summary = rerate_cdrs(
        cdrs=CDR.objects.all(), actor_name="test", workers=2, batch_size=4,
        progress=reported.append,
    )  # fmt: skip

    assert summary.total == 31 == sum(reported)
    assert summary.by_status == {CDRStatus.RATED: 21, CDRStatus.NOT_INVOICEABLE: 10}
    assert summary.newly_rated == 21 and summary.became_not_invoiceable == 10
    # 20 charges of 10.00 EUR, 20 kWh: fee 1.00 + 0.40 + 0.25 = 1.65, payout 8.35 each; the
    # credit reverses the first charge: −8.35 (its original was rated before it, in process 1).
    assert summary.newly_rated_payout == Decimal("158.6500")
    credit.refresh_from_db()
    assert (credit.status, credit.payout) == (CDRStatus.RATED, Decimal("-8.3500"))
    assert CDR.objects.filter(status=CDRStatus.NEW).count() == 0
    # Credits are re-rated here once both processes are done: after every charge.
    latest_charge = CDRRating.objects.filter(cdr__credit=False).latest("at").at
    assert CDRRating.objects.get(cdr=credit).at > latest_charge
    assert AuditEvent.objects.filter(action=AuditAction.RERATE).count() == 1


@pytest.mark.usefixtures("small_parallel_threshold")
def test_a_process_that_fails_stops_the_rerate_with_its_error(monkeypatch):
    _world()

    def broken(*args, **kwargs):
        raise RuntimeError("rating broke")

    monkeypatch.setattr(rating, "rate_batch", broken)
    with pytest.raises(PartFailed, match="RuntimeError: rating broke"):
        rerate_cdrs(cdrs=CDR.objects.all(), workers=2, batch_size=4)
    assert not AuditEvent.objects.filter(action=AuditAction.RERATE).exists()
