"""Each named database constraint refuses its bad row, whatever code path wrote it."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from evse_payout.models import (
    CDR,
    EVSE,
    Assignment,
    CDRStatus,
    EVSEStatus,
    Invoice,
    InvoiceRun,
    InvoiceRunExclusion,
    InvoiceStatus,
    PayoutAccount,
    StatementLine,
    UnassignReason,
)
from tests.factories import (
    AssignmentFactory,
    CDRFactory,
    ConnectorFactory,
    EVSEFactory,
    LocationFactory,
    PayoutAccountFactory,
)

pytestmark = pytest.mark.django_db


def assert_refused(constraint, write, *, unique=False):
    """The write raises IntegrityError; the database names the constraint where it reports names.

    SQLite names check constraints but reports unique ones by their columns.
    """
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        write()
    if not unique or connection.vendor == "postgresql":
        assert constraint in str(excinfo.value)


def make_run():
    return InvoiceRun.objects.create(cutoff=timezone.now().date(), created_at=timezone.now())


def make_invoice(account, run=None, **fields):
    return Invoice.objects.create(
        run=run or make_run(),
        payout_account=account,
        currency="EUR",
        created_at=timezone.now(),
        **fields,
    )


# Assignments


def test_second_open_assignment_of_an_evse_is_refused():
    first = AssignmentFactory()
    assert_refused(
        "one_open_assignment_per_evse",
        lambda: AssignmentFactory(evse=first.evse),
        unique=True,
    )


def test_closed_assignments_do_not_block_a_new_open_one():
    now = timezone.now()
    first = AssignmentFactory(
        unassigned_at=now, unassign_reason=UnassignReason.MANUAL, assigned_at=now
    )
    AssignmentFactory(evse=first.evse)
    assert Assignment.objects.filter(evse=first.evse).count() == 2


def test_assignment_cannot_end_before_it_starts():
    now = timezone.now()
    assert_refused(
        "assignment_unassigned_after_assigned",
        lambda: AssignmentFactory(
            assigned_at=now,
            unassigned_at=now - timedelta(seconds=1),
            unassign_reason=UnassignReason.MANUAL,
        ),
    )


def test_open_assignment_cannot_have_an_unassign_reason():
    assert_refused(
        "assignment_reason_iff_closed",
        lambda: AssignmentFactory(unassign_reason=UnassignReason.MANUAL),
    )


def test_closed_assignment_needs_an_unassign_reason():
    assert_refused(
        "assignment_reason_iff_closed",
        lambda: AssignmentFactory(unassigned_at=timezone.now(), unassign_reason=""),
    )


# Network


def test_evse_uid_is_unique_per_party():
    evse = EVSEFactory()
    assert_refused(
        "evse_unique_ocpi_uid",
        lambda: EVSEFactory(location=evse.location, uid=evse.uid, evse_id="BE*BEC*E999"),
        unique=True,
    )


def test_same_evse_uid_at_another_party_is_accepted():
    evse = EVSEFactory()
    EVSEFactory(
        uid=evse.uid,
        location=LocationFactory(country_code="NL", party_id="ALF"),
        evse_id="NL*ALF*E1",
    )
    assert EVSE.objects.filter(uid=evse.uid).count() == 2


def test_evse_id_is_unique_among_evses_not_removed():
    evse = EVSEFactory(evse_id="BE*BEC*E041503003")
    assert_refused(
        "evse_id_unique_unless_removed",
        lambda: EVSEFactory(evse_id=evse.evse_id),
        unique=True,
    )


def test_evse_id_of_a_removed_evse_can_be_reused():
    EVSEFactory(evse_id="BE*BEC*E041503003", status=EVSEStatus.REMOVED)
    EVSEFactory(evse_id="BE*BEC*E041503003", status=EVSEStatus.REMOVED)
    EVSEFactory(evse_id="BE*BEC*E041503003")
    assert EVSE.objects.filter(evse_id="BE*BEC*E041503003").count() == 3


def test_reviving_a_removed_evse_whose_id_was_reused_is_refused():
    removed = EVSEFactory(evse_id="BE*BEC*E041503003", status=EVSEStatus.REMOVED)
    EVSEFactory(evse_id="BE*BEC*E041503003")
    assert_refused(
        "evse_id_unique_unless_removed",
        lambda: EVSE.objects.filter(pk=removed.pk).update(status=EVSEStatus.AVAILABLE),
        unique=True,
    )


def test_evse_output_cannot_be_negative():
    assert_refused("evse_output_non_negative", lambda: EVSEFactory(output_kw=Decimal("-1")))


def test_evse_power_type_must_be_an_ocpi_value():
    assert_refused("evse_power_type_valid", lambda: EVSEFactory(power_type="AC_4_PHASE"))


def test_location_ocpi_id_is_unique_per_party():
    location = LocationFactory()
    assert_refused(
        "location_unique_ocpi_id",
        lambda: LocationFactory(location_id=location.location_id),
        unique=True,
    )


def test_connector_id_is_unique_per_evse():
    connector = ConnectorFactory()
    assert_refused(
        "connector_unique_per_evse",
        lambda: ConnectorFactory(evse=connector.evse, connector_id=connector.connector_id),
        unique=True,
    )


# Payout accounts


@pytest.mark.parametrize(
    ("constraint", "field", "value"),
    [
        ("account_commission_between_0_and_100", "commission_percent", Decimal("-0.01")),
        ("account_commission_between_0_and_100", "commission_percent", Decimal("100.01")),
        ("account_fee_per_kwh_non_negative", "fee_per_kwh", Decimal("-0.0001")),
        ("account_fee_per_session_non_negative", "fee_per_session", Decimal("-0.01")),
    ],
)
def test_fee_terms_out_of_range_are_refused(constraint, field, value):
    account = PayoutAccountFactory()
    assert_refused(
        constraint, lambda: PayoutAccount.objects.filter(pk=account.pk).update(**{field: value})
    )


def test_fee_terms_at_their_bounds_are_accepted():
    account = PayoutAccountFactory(
        commission_percent=Decimal("100"), fee_per_kwh=Decimal("0"), fee_per_session=Decimal("0")
    )
    PayoutAccount.objects.filter(pk=account.pk).update(commission_percent=Decimal("0"))


# CDRs


def test_cdr_ocpi_id_is_unique_per_party():
    cdr = CDRFactory()
    assert_refused("cdr_unique_ocpi_id", lambda: CDRFactory(cdr_id=cdr.cdr_id), unique=True)


def test_same_cdr_id_from_another_party_is_accepted():
    cdr = CDRFactory()
    CDRFactory(cdr_id=cdr.cdr_id, party_id="ALF", country_code="NL")
    assert CDR.objects.filter(cdr_id=cdr.cdr_id).count() == 2


def test_cdr_status_must_be_known():
    assert_refused("cdr_rating_status_valid", lambda: CDRFactory(status="lost"))


def test_invoiced_is_not_stored_on_the_cdr_row():
    # `invoiced` is derived from a statement line; the row only stores the rating status.
    cdr = CDRFactory()
    assert_refused(
        "cdr_rating_status_valid",
        lambda: CDR.objects.filter(pk=cdr.pk).update(rating_status=CDRStatus.INVOICED),
    )


def test_a_cdr_is_on_one_statement_at_most():
    account = PayoutAccountFactory()
    first, second = make_invoice(account), make_invoice(account)
    cdr = CDRFactory(
        status=CDRStatus.RATED, payout_account=account, fee=Decimal("1"), payout=Decimal("9")
    )
    StatementLine.objects.create(cdr=cdr, invoice=first)
    assert_refused(
        "evse_payout_statementline_pkey",
        lambda: StatementLine.objects.create(cdr=cdr, invoice=second),
        unique=True,
    )
    assert CDR.objects.get(pk=cdr.pk).status == CDRStatus.INVOICED
    assert CDR.objects.with_status(CDRStatus.INVOICED).get() == cdr
    assert not CDR.objects.with_status(CDRStatus.RATED).exists()


def test_rated_cdr_needs_account_fee_and_payout():
    assert_refused("cdr_rated_has_account_and_amounts", lambda: CDRFactory(status=CDRStatus.RATED))


def test_not_invoiceable_cdr_needs_a_reason():
    assert_refused(
        "cdr_not_invoiceable_has_reason",
        lambda: CDRFactory(status=CDRStatus.NOT_INVOICEABLE, reason=""),
    )


# Invoicing


def test_final_statement_needs_a_number():
    assert_refused(
        "invoice_final_has_number",
        lambda: make_invoice(
            PayoutAccountFactory(), status=InvoiceStatus.FINAL, payee_iban="BE68539007547034"
        ),
    )


def test_statement_numbers_are_unique():
    account = PayoutAccountFactory()
    frozen = {"payee_iban": account.iban}
    make_invoice(account, status=InvoiceStatus.FINAL, number="2026-000001", **frozen)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_invoice(account, status=InvoiceStatus.FINAL, number="2026-000001", **frozen)


def test_final_statement_needs_its_frozen_payee_data():
    assert_refused(
        "invoice_final_has_frozen_payee",
        lambda: make_invoice(PayoutAccountFactory(), status=InvoiceStatus.FINAL, number="PS-1"),
    )


def test_final_revenue_report_needs_no_number_and_may_not_have_one():
    make_invoice(PayoutAccountFactory(), status=InvoiceStatus.FINAL, kind="revenue_report")
    assert_refused(
        "invoice_revenue_report_has_no_number",
        lambda: make_invoice(PayoutAccountFactory(), kind="revenue_report", number="PS-1"),
    )


def test_a_balance_is_brought_forward_into_one_statement_only():
    account = PayoutAccountFactory()
    carried = make_invoice(account, status=InvoiceStatus.DISCARDED)
    make_invoice(account, brought_forward_from=carried)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_invoice(account, brought_forward_from=carried)


def test_minimum_payout_may_not_be_negative():
    assert_refused(
        "account_minimum_payout_non_negative",
        lambda: PayoutAccountFactory(minimum_payout=Decimal("-1")),
    )


def test_rated_cdr_needs_its_fee_terms():
    account = PayoutAccountFactory()
    assert_refused(
        "cdr_rated_has_account_and_amounts",
        lambda: CDRFactory(
            status="rated",
            payout_account=account,
            fee=Decimal("1"),
            payout=Decimal("9"),
            terms_commission_percent=None,
        ),
    )


def test_one_live_statement_per_account_per_run():
    account = PayoutAccountFactory()
    run = make_run()
    make_invoice(account, run=run)
    assert_refused(
        "invoice_one_per_account_per_run", lambda: make_invoice(account, run=run), unique=True
    )


def test_discarded_statement_does_not_block_a_new_one_in_the_run():
    account = PayoutAccountFactory()
    run = make_run()
    make_invoice(account, run=run, status=InvoiceStatus.DISCARDED)
    make_invoice(account, run=run)
    assert Invoice.objects.filter(run=run).count() == 2


def test_a_run_has_one_exclusion_row_per_reason_account_and_currency():
    run = make_run()
    account = PayoutAccountFactory()

    def exclude(account=None, currency="EUR"):
        InvoiceRunExclusion.objects.create(
            run=run,
            reason="evse_unassigned",
            payout_account=account,
            currency=currency,
            cdr_count=2,
            amount_excl_vat=Decimal("10"),
        )

    exclude(account)
    exclude(None)
    exclude(account, currency="JPY")
    assert_refused("exclusion_one_row_per_account", lambda: exclude(account), unique=True)
    assert_refused("exclusion_one_row_without_account", lambda: exclude(None), unique=True)


def test_an_exclusion_row_counts_at_least_one_cdr():
    def empty():
        InvoiceRunExclusion.objects.create(
            run=make_run(),
            reason="evse_unassigned",
            currency="EUR",
            cdr_count=0,
            amount_excl_vat=Decimal("0"),
        )

    assert_refused("exclusion_counts_cdrs", empty)


def test_a_statement_line_must_name_a_stored_cdr_and_statement():
    account = PayoutAccountFactory()
    invoice = make_invoice(account)
    cdr = CDRFactory(
        status=CDRStatus.RATED, payout_account=account, fee=Decimal("1"), payout=Decimal("9")
    )
    assert_refused(
        "statement_line_cdr_exists",
        lambda: StatementLine.objects.create(cdr_id=cdr.pk + 1000, invoice=invoice),
    )
    assert_refused(
        "statement_line_invoice_exists",
        lambda: StatementLine.objects.create(cdr=cdr, invoice_id=invoice.pk + 1000),
    )


@pytest.mark.postgres
def test_the_database_keeps_a_cdr_or_statement_with_lines():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL checks deletes with a trigger; SQLite relies on PROTECT")
    account = PayoutAccountFactory()
    invoice = make_invoice(account)
    cdr = CDRFactory(
        status=CDRStatus.RATED, payout_account=account, fee=Decimal("1"), payout=Decimal("9")
    )
    StatementLine.objects.create(cdr=cdr, invoice=invoice)
    table = connection.ops.quote_name
    for model, pk in ((CDR, cdr.pk), (Invoice, invoice.pk)):
        with (
            pytest.raises(IntegrityError, match="statement_line_protects"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(f"DELETE FROM {table(model._meta.db_table)} WHERE id = %s", [pk])
