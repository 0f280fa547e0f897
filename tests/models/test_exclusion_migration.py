"""0005_perf_compact_exclusions folds the per-CDR exclusion rows of earlier runs into one row per
run, reason, account and currency, keeping every count and amount."""

from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from tests.factories import CDRFactory, PayoutAccountFactory

BEFORE = [("evse_payout", "0008_audit_actions_of_all_branches")]
AFTER = [("evse_payout", "0005_perf_compact_exclusions")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def back_to_latest():
    yield
    executor = MigrationExecutor(connection)
    migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("back_to_latest")
def test_per_cdr_rows_become_one_row_per_reason_account_and_currency():
    # The CDRs are made with today's models, then the schema goes back to before the migration.
    account = PayoutAccountFactory()
    rated = [CDRFactory(payout_account=account, currency="EUR") for _ in range(3)]
    unknown = CDRFactory(payout_account=None, currency="EUR")
    old_apps = migrate(BEFORE)
    Run = old_apps.get_model("evse_payout", "InvoiceRun")
    Exclusion = old_apps.get_model("evse_payout", "InvoiceRunExclusion")
    run = Run.objects.create(cutoff=timezone.now().date(), created_at=timezone.now())
    for cdr, amount in zip(rated, ("1.25", "2.50", "3.00"), strict=True):
        Exclusion.objects.create(
            run=run, cdr_id=cdr.pk, reason="assignment_changed", amount_excl_vat=Decimal(amount)
        )
    Exclusion.objects.create(
        run=run, cdr_id=unknown.pk, reason="evse_unknown", amount_excl_vat=Decimal("4.00")
    )

    new_apps = migrate(AFTER)

    rows = new_apps.get_model("evse_payout", "InvoiceRunExclusion").objects.order_by("reason")
    assert [
        (r.run_id, r.reason, r.payout_account_id, r.currency, r.cdr_count, r.amount_excl_vat)
        for r in rows
    ] == [
        (run.pk, "assignment_changed", account.pk, "EUR", 3, Decimal("6.75")),
        (run.pk, "evse_unknown", None, "EUR", 1, Decimal("4.00")),
    ]
