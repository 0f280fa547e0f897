"""`run_invoicing --cutoff YYYY-MM-DD [--dry-run]`: a thin command around the invoice run service."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from evse_payout.models import CDR, CDRStatus, Invoice, InvoiceRun
from tests.factories import AssignmentFactory, PayoutAccountFactory
from tests.services.test_invoicing import close, rated_cdr

pytestmark = pytest.mark.django_db


def run_command(*args):
    out, err = StringIO(), StringIO()
    call_command("run_invoicing", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def cdrs():
    account = PayoutAccountFactory(name="Hotel Zeezicht")
    assignment = AssignmentFactory(payout_account=account)
    for _ in range(3):
        rated_cdr(assignment, excl=Decimal("500.00"))
    gone = AssignmentFactory()
    rated_cdr(gone, excl=Decimal("1234.56"))
    close(gone)


def test_run_prints_statements_and_exclusions_with_thousands_separators(cdrs):
    out, err = run_command("--cutoff", "2026-03-01")

    assert "Hotel Zeezicht" in out
    assert "1,500.00 EUR" in out
    assert "1,350.00 EUR" in out
    assert "EVSE unassigned" in out
    assert "1,234.56 EUR" in out
    assert "1 statements drafted with 3 CDRs; 1 CDRs left out." in out
    assert "CDRs" in err
    assert Invoice.objects.count() == 1
    assert CDR.objects.filter(status=CDRStatus.INVOICED).count() == 3


def test_dry_run_prints_the_same_figures_and_writes_nothing(cdrs):
    dry, _ = run_command("--cutoff", "2026-03-01", "--dry-run")

    assert "Dry run — nothing was written" in dry
    assert not InvoiceRun.objects.exists()
    assert not CDR.objects.filter(status=CDRStatus.INVOICED).exists()

    real, _ = run_command("--cutoff", "2026-03-01")

    figures = lambda text: text.split("\n", 1)[1].replace("would draft", "drafted")  # noqa: E731
    assert figures(dry) == figures(real)


def test_invalid_cutoff_is_refused():
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        run_command("--cutoff", "01/03/2026")


def test_account_option_invoices_that_account_alone_up_to_today():
    settled = AssignmentFactory()
    other = AssignmentFactory()
    mine = rated_cdr(settled, excl=Decimal("10.00"))
    theirs = rated_cdr(other, excl=Decimal("10.00"))

    out, _ = run_command("--account", str(settled.payout_account_id))

    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.status == CDRStatus.INVOICED
    assert theirs.status == CDRStatus.RATED
    run = InvoiceRun.objects.get()
    assert run.payout_account_id == settled.payout_account_id
    assert "1 statements drafted" in out


def test_unknown_account_is_refused_by_name():
    with pytest.raises(CommandError, match="--account 999999: no payout account"):
        run_command("--account", "999999")


def test_cutoff_is_required_without_account():
    with pytest.raises(CommandError, match="--cutoff is required"):
        run_command()
