"""`seed_demo`: a realistic network, deterministic with --seed, and safe to run twice."""

import hashlib
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, F, Q

from evse_payout.models import (
    CDR,
    EVSE,
    Assignment,
    AuditAction,
    AuditEvent,
    CDRRating,
    CDRReason,
    CDRStatus,
    Connector,
    Location,
    PayoutAccount,
    PowerType,
    SubCPO,
)
from evse_payout.services.ocpi_ingest import ingest_cdr
from evse_payout.validators import validate_evse_id
from tests.factories import LocationFactory

pytestmark = pytest.mark.django_db

SMALL = {"evses": 60, "cdrs": 300}


def seed(**options):
    out = StringIO()
    call_command("seed_demo", stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def digest():
    """What the same seed must reproduce: ids, outputs, owners, assignments and amounts."""
    rows = [
        *EVSE.objects.order_by("evse_id").values_list(
            "evse_id", "uid", "output_kw", "power_type", "location__city", "location__owner__name"
        ),
        *PayoutAccount.objects.order_by("name").values_list("name", "iban", "commission_percent"),
        *Assignment.objects.order_by("evse__evse_id", "assigned_at").values_list(
            "evse__evse_id", "payout_account__name", "unassign_reason"
        ),
        *CDR.objects.order_by("cdr_id").values_list(
            "cdr_id", "evse_id_raw", "total_energy", "total_cost_excl_vat", "status", "payout"
        ),
    ]
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def delete_everything():
    CDR.objects.update(credited_cdr=None)
    for model in (CDR, AuditEvent, Assignment, PayoutAccount, Connector, EVSE, Location, SubCPO):
        model.objects.all().delete()


def test_seed_demo_is_deterministic_with_a_seed():
    seed(seed=7, **SMALL)
    first = digest()
    delete_everything()

    seed(seed=7, **SMALL)

    assert digest() == first
    delete_everything()
    seed(seed=8, **SMALL)
    assert digest() != first


def test_running_seed_demo_twice_adds_nothing_and_says_so():
    seed(**SMALL)
    before = digest()

    output = seed(**SMALL)

    assert "Demo data already loaded (60 EVSEs, 300 CDRs): nothing added." in output
    assert digest() == before


def test_if_empty_leaves_a_database_with_network_data_alone():
    LocationFactory()
    output = seed(if_empty=True, **SMALL)
    assert "no demo data loaded" in output
    assert not EVSE.objects.exists()


def test_if_empty_seeds_an_empty_database():
    output = seed(if_empty=True, **SMALL)
    assert output.startswith("Loaded demo data: 8 Sub-CPOs")
    assert EVSE.objects.count() == 60


def test_seed_demo_builds_a_valid_network_and_rates_its_cdrs():
    output = seed(**SMALL)

    assert EVSE.objects.count() == 60
    assert CDR.objects.count() == 300
    assert SubCPO.objects.count() == 8
    for evse_id in EVSE.objects.values_list("evse_id", flat=True):
        validate_evse_id(evse_id)
    assert set(EVSE.objects.values_list("power_type", flat=True)) == set(PowerType.values)
    outputs = set(EVSE.objects.values_list("output_kw", flat=True))
    assert min(outputs) >= Decimal("3.7") and max(outputs) <= 350
    sizes = Location.objects.annotate(n=Count("evses")).values_list("n", flat=True)
    assert max(sizes) <= 12
    for account in PayoutAccount.objects.all():
        account.full_clean()
    assert PayoutAccount.objects.filter(holder=None).exists()
    # R2: every assignment is to an account of the EVSE's owner; at most one open per EVSE.
    assert not Assignment.objects.exclude(
        Q(payout_account__holder=F("evse__location__owner"))
        | Q(payout_account__holder=None, evse__location__owner=None)
    ).exists()
    assert Assignment.objects.exclude(unassigned_at=None).exists()
    assert 0.4 <= Assignment.objects.open().count() / 60 <= 0.8
    assert not CDR.objects.filter(status=CDRStatus.NEW).exists()
    statuses = set(CDR.objects.values_list("status", "reason"))
    assert {
        (CDRStatus.RATED, ""),
        (CDRStatus.NOT_INVOICEABLE, CDRReason.EVSE_UNASSIGNED),
        (CDRStatus.NOT_INVOICEABLE, CDRReason.EVSE_UNKNOWN),
    } <= statuses
    assert "60 EVSEs" in output and "300 CDRs" in output


def test_demo_assignments_and_accounts_carry_audit_rows_like_real_data():
    seed(**SMALL)

    events = AuditEvent.objects.filter(action=AuditAction.ASSIGN)
    assert sum(events.values_list("object_count", flat=True)) == Assignment.objects.count()
    assert AuditEvent.objects.filter(action=AuditAction.ACCOUNT_CREATE).count() == (
        PayoutAccount.objects.count()
    )
    retired = PayoutAccount.objects.get(is_active=False)
    assert AuditEvent.objects.filter(
        action=AuditAction.ACCOUNT_DEACTIVATE, payout_account=retired
    ).exists()
    closed = Assignment.objects.exclude(unassigned_at=None)
    assert closed.exists()
    assert not closed.filter(unassigned_at__lt=F("assigned_at")).exists()


def test_every_demo_cdr_is_rated_once_by_seed_demo():
    seed(**SMALL)

    assert CDRRating.objects.count() == CDR.objects.count()
    assert set(CDRRating.objects.values_list("actor_label", flat=True)) == {"seed_demo"}


def test_default_scale_network_spans_countries_and_cities():
    seed(evses=2000, cdrs=0)
    assert Location.objects.values("country").distinct().count() >= 5
    assert Location.objects.values("city").distinct().count() >= 20
    assert 150 <= Location.objects.count() <= 500
    owned = Location.objects.exclude(owner=None).count() / Location.objects.count()
    assert 0.3 <= owned <= 0.7
    assigned = Assignment.objects.open().count() / EVSE.objects.count()
    assert 0.5 <= assigned <= 0.7


def test_cdr_amounts_are_realistic():
    seed(evses=60, cdrs=500)
    sessions = CDR.objects.filter(credit=False)
    for energy, excl, incl in sessions.values_list(
        "total_energy", "total_cost_excl_vat", "total_cost_incl_vat"
    ):
        assert 2 <= energy <= 80
        assert Decimal("0.34") <= excl / energy <= Decimal("0.70")
        assert abs(incl - excl * Decimal("1.21")) <= Decimal("0.005")
    assert CDR.objects.filter(credit=True, total_cost_excl_vat__lt=0).exists()
    unknown = CDR.objects.filter(reason=CDRReason.EVSE_UNKNOWN).count()
    assert 1 <= unknown <= 30


def test_a_demo_cdr_sent_again_over_ocpi_is_recognised_as_the_same():
    seed(**SMALL)
    cdr = CDR.objects.filter(credit=False).first()

    result = ingest_cdr(payload=cdr.raw, actor_name="test")

    assert not result.created
    assert result.cdr.pk == cdr.pk
    assert Decimal(str(cdr.raw["total_cost"]["excl_vat"])) == cdr.total_cost_excl_vat


def test_impossible_scale_fails_with_a_message():
    with pytest.raises(CommandError, match="--evses must be at least 1"):
        seed(evses=0, cdrs=10)
