"""Money invariants (issue 7 item 2): a hypothesis state machine drives the real services.

Rules: ingest CDRs (new, re-sent, credits of earlier ones), assign, unassign, deactivate and
reactivate accounts, change an account's fee terms, re-rate, run invoicing (real or dry run),
finalize, discard. After every step the invariants below must hold in the database:

- at most one open assignment per EVSE, and none to an inactive account;
- a CDR is `invoiced` exactly when it is on a statement, and that statement is not discarded;
  the statement is of the CDR's account and currency;
- every non-discarded statement's totals are the sum of its lines (`line_amounts`);
- every rated or invoiced CDR has payout + fee = its excl.-VAT total rounded to the currency;
- nothing on a final statement ever changes (snapshot at finalize, compared at every step).

Each example runs in its own transaction that is rolled back at its end: examples are independent.
"""

import copy
import os
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from evse_payout.models import (
    CDR,
    EVSE,
    Assignment,
    CDRStatus,
    Invoice,
    InvoiceRun,
    InvoiceStatus,
    PayoutAccount,
)
from evse_payout.money import round_money
from evse_payout.ocpi_format import OCPIValidationError
from evse_payout.services.accounts import (
    deactivate_payout_account,
    reactivate_payout_account,
    update_payout_account,
)
from evse_payout.services.assignments import (
    AssignmentError,
    assign_evses,
    unassign_evses,
)
from evse_payout.services.invoicing import (
    InvoicingError,
    cutoff_instant,
    discard_invoice,
    finalize_invoice,
    line_amounts,
    run_invoicing,
)
from evse_payout.services.ocpi_ingest import ingest_cdr
from evse_payout.services.rating import rerate_cdrs
from tests.factories import (
    EVSEFactory,
    LocationFactory,
    PayoutAccountFactory,
    SubCPOFactory,
    ocpi_cdr_payload,
)

# CI (CI=true, as .ci/run sets, or HYPOTHESIS_PROFILE=ci) runs 1,000 sequences; locally 100.
IN_CI = os.environ.get("HYPOTHESIS_PROFILE") == "ci" or bool(os.environ.get("CI"))
MAX_EXAMPLES = int(os.environ.get("MONEY_MACHINE_EXAMPLES", 1000 if IN_CI else 100))
STEPS = 15

EVSE_COUNT = 6
UNKNOWN_EVSE = EVSE_COUNT  # an index that names no stored EVSE
CDR_FIELDS = (
    "pk",
    "status",
    "invoice_id",
    "payout_account_id",
    "currency",
    "total_cost_excl_vat",
    "total_cost_incl_vat",
    "credit",
    "fee",
    "payout",
)
FINAL_LINE_FIELDS = ("pk", "fee", "payout", "status", "payout_account_id", "total_cost_excl_vat")
STATEMENT_TOTALS = (
    "cdr_count",
    "total_excl_vat",
    "total_vat",
    "total_incl_vat",
    "total_fees",
    "total_credits",
    "net_payout",
)

money = st.decimals(min_value=0, max_value=500, places=4, allow_nan=False, allow_infinity=False)
energy = st.decimals(min_value=0, max_value=1100, places=4, allow_nan=False, allow_infinity=False)
cdr_spec = st.fixed_dictionaries(
    {
        # Mostly the EVSEs assigned at the start (0, 3), sometimes the unknown one (6).
        "evse_index": st.sampled_from([0, 3, 0, 3, 1, 4, 2, 5, UNKNOWN_EVSE]),
        "ended_days_ago": st.integers(-1, 40),
        "hours": st.integers(1, 5),
        "excl": money,
        "vat": st.sampled_from([None, Decimal("0.21"), Decimal("0.06")]),
        "kwh": energy,
        "currency": st.sampled_from(["EUR", "EUR", "EUR", "GBP"]),
    }
)
percent = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _open_assignments() -> list[tuple]:
    return list(
        Assignment.objects.open().order_by("pk").values_list("pk", "evse_id", "payout_account_id")
    )


def _cdr_state() -> list[tuple]:
    return list(
        CDR.objects.order_by("pk").values_list(
            "pk", "status", "reason", "payout_account_id", "fee", "payout", "invoice_id"
        )
    )


class MoneyMachine(RuleBasedStateMachine):
    """Two owners (the CPO and a hotel chain), three accounts, six EVSEs."""

    payloads = Bundle("payloads")

    # The world, created once per test and committed (see `build_world`); each example's changes
    # to it (activity, fee terms) are rolled back with the example's transaction.
    evses: list = []
    accounts: list = []

    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.now = timezone.now().replace(microsecond=0)
        self.today = self.now.date()
        # Copies: the services refresh the instances they are given.
        self.evses = [copy.copy(evse) for evse in MoneyMachine.evses]
        self.accounts = [copy.copy(account) for account in MoneyMachine.accounts]
        self.next_cdr = 0
        self.drafts: list[int] = []
        # Final statement pk → (totals, {CDR line}) as it was when finalized.
        self.finals: dict[int, tuple] = {}

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # -- helpers ---------------------------------------------------------------------------

    def _evse_queryset(self, indices):
        return EVSE.objects.filter(pk__in=[self.evses[i].pk for i in indices])

    def _cdr_payload(self, *, evse_index, ended_days_ago, hours, excl, incl, kwh, currency):
        self.next_cdr += 1
        end = self.now - timedelta(days=ended_days_ago, minutes=self.next_cdr)
        start = end - timedelta(hours=hours)
        if evse_index == UNKNOWN_EVSE:
            uid, evse_id = "NO-SUCH-UID", "BE*BEC*E99999999"
        else:
            uid, evse_id = self.evses[evse_index].uid, self.evses[evse_index].evse_id
        location = ocpi_cdr_payload()["cdr_location"] | {"evse_uid": uid, "evse_id": evse_id}
        return ocpi_cdr_payload(
            id=f"HYP{self.next_cdr:05d}",
            start_date_time=_iso(start),
            end_date_time=_iso(end),
            charging_periods=[
                {"start_date_time": _iso(start), "dimensions": [{"type": "ENERGY", "volume": kwh}]}
            ],
            cdr_location=location,
            currency=currency,
            total_cost={"excl_vat": excl} | ({} if incl is None else {"incl_vat": incl}),
            total_energy=kwh,
            total_time=Decimal(hours),
            last_updated=_iso(end),
        )

    def _ingest(self, payload) -> CDR:
        result = ingest_cdr(payload=payload, actor_name="hypothesis")
        assert result.created
        assert result.cdr.status != CDRStatus.NEW
        event(f"{'credit' if result.cdr.credit else 'CDR'} {result.cdr.status} {result.cdr.reason}")
        return result.cdr

    # -- rules -----------------------------------------------------------------------------

    @rule(target=payloads, cdrs=st.lists(cdr_spec, min_size=1, max_size=3))
    def receive_cdrs(self, cdrs):
        """One to three CDRs arrive, each stored and rated on arrival."""
        payloads = []
        for spec in cdrs:
            vat = spec.pop("vat")
            excl = spec["excl"]
            incl = None if vat is None else (excl * (1 + vat)).quantize(Decimal("0.0001"))
            payload = self._cdr_payload(incl=incl, **spec)
            self._ingest(payload)
            payloads.append(payload)
        return multiple(*payloads)

    @rule(target=payloads, original=payloads, share=st.sampled_from(["1", "0.5", "0.3333"]))
    def receive_credit(self, original, share):
        """A credit CDR reversing (part of) an earlier one: negative totals, its id referenced."""
        share = Decimal(share)
        excl = -(Decimal(original["total_cost"]["excl_vat"]) * share).quantize(Decimal("0.0001"))
        incl = original["total_cost"].get("incl_vat")
        if incl is not None:
            incl = -(Decimal(incl) * share).quantize(Decimal("0.0001"))
        kwh = -(Decimal(original["total_energy"]) * share).quantize(Decimal("0.0001"))
        self.next_cdr += 1
        payload = original | {
            "id": f"HYP{self.next_cdr:05d}",
            "credit": True,
            "credit_reference_id": original["id"],
            "total_cost": {"excl_vat": excl} | ({} if incl is None else {"incl_vat": incl}),
            "total_energy": kwh,
        }
        self._ingest(payload)
        return payload

    @rule(
        payload=payloads, extra=st.none() | st.decimals(min_value="0.0001", max_value=10, places=4)
    )
    def resend_cdr(self, payload, extra):
        """The same CDR again is harmless; the same id with other content is refused (immutable)."""
        before = _cdr_state()
        if extra is None:
            result = ingest_cdr(payload=payload, actor_name="hypothesis")
            assert not result.created
        else:
            excl = Decimal(payload["total_cost"]["excl_vat"]) + extra
            changed = payload | {"total_cost": {"excl_vat": excl}}
            with pytest.raises(OCPIValidationError, match="immutable"):
                ingest_cdr(payload=changed, actor_name="hypothesis")
        assert _cdr_state() == before

    @initialize(hotel_gbp=st.booleans())
    def assign_some_evses_first(self, hotel_gbp):
        """Start with a few EVSEs assigned, so CDRs are rated at intake and runs have work."""
        for wanted, indices, account in (
            (True, [0, 1], 0),
            (True, [3], 1),
            (hotel_gbp, [4], 2),
        ):
            if wanted:
                assign_evses(
                    evses=self._evse_queryset(indices),
                    account_id=self.accounts[account].pk,
                    actor=None,
                )

    @rule(account=st.integers(0, 2), data=st.data())
    def assign(self, account, data):
        # Mostly EVSEs of the account's owner (the rules let that through), sometimes any mix.
        owned = [0, 1, 2] if account == 0 else [3, 4, 5]
        indices = data.draw(
            st.lists(st.sampled_from(owned), min_size=1, max_size=3, unique=True)
            | st.lists(st.integers(0, EVSE_COUNT - 1), min_size=1, max_size=3, unique=True),
            label="evses",
        )
        before = _open_assignments()
        try:
            result = assign_evses(
                evses=self._evse_queryset(indices), account_id=self.accounts[account].pk, actor=None
            )
        except AssignmentError as error:
            assert "Nothing was assigned" in str(error)
            assert _open_assignments() == before  # all or nothing
        else:
            assert result.count == len(indices)
            assert len(_open_assignments()) == len(before) + len(indices)

    @rule(
        indices=st.lists(st.integers(0, EVSE_COUNT - 1), min_size=1, max_size=3, unique=True),
        account=st.none() | st.integers(0, 2),
    )
    def unassign(self, indices, account):
        before = _open_assignments()
        account_id = None if account is None else self.accounts[account].pk
        try:
            closed = unassign_evses(
                evses=self._evse_queryset(indices), actor=None, account_id=account_id
            )
        except AssignmentError as error:
            assert "Nothing was unassigned" in str(error)
            assert _open_assignments() == before
        else:
            assert 1 <= closed <= len(indices)
            assert len(_open_assignments()) == len(before) - closed

    @rule(account=st.integers(0, 2), deactivate=st.sampled_from([True, False, False]))
    def deactivate_or_reactivate(self, account, deactivate):
        """An inactive account is reactivated; an active one deactivated (not every time, or
        deactivation would unassign everything and leave the invoice rules nothing to do)."""
        account = self.accounts[account]
        if PayoutAccount.objects.get(pk=account.pk).is_active:
            if deactivate:
                deactivate_payout_account(account=account, actor=None)
                event("deactivated an account")
        else:
            reactivate_payout_account(account=account, actor=None)

    @rule(
        account=st.integers(0, 2),
        commission=percent,
        per_kwh=st.decimals(min_value=0, max_value=1, places=4),
        per_session=st.decimals(min_value=0, max_value=5, places=2),
    )
    def change_fee_terms(self, account, commission, per_kwh, per_session):
        update_payout_account(
            account=self.accounts[account],
            actor=None,
            commission_percent=commission,
            fee_per_kwh=per_kwh,
            fee_per_session=per_session,
        )

    @rule(evse_index=st.none() | st.integers(0, EVSE_COUNT - 1))
    def rerate(self, evse_index):
        cdrs = CDR.objects.all()
        if evse_index is not None:
            cdrs = cdrs.filter(evse=self.evses[evse_index])
        rerate_cdrs(cdrs=cdrs, actor_name="hypothesis")

    # Often tomorrow's cutoff (everything so far), otherwise one in the last 40 days.
    @rule(days_before_today=st.just(-1) | st.integers(-1, 40), dry_run=st.booleans())
    def invoice_run(self, days_before_today, dry_run):
        cutoff = self.today - timedelta(days=days_before_today)
        before = (_cdr_state(), Invoice.objects.count(), InvoiceRun.objects.count())
        summary = run_invoicing(cutoff=cutoff, actor_name="hypothesis", dry_run=dry_run)
        if dry_run:
            assert (_cdr_state(), Invoice.objects.count(), InvoiceRun.objects.count()) == before
            return
        drafts = list(Invoice.objects.filter(run_id=summary.run_id).values_list("pk", flat=True))
        assert len(drafts) == len(summary.statements)
        self.drafts += drafts
        event(f"invoice run: {min(len(drafts), 2)}+ statements")
        self._check_nothing_eligible_left(cutoff)

    def _check_nothing_eligible_left(self, cutoff: date) -> None:
        """R6: after a run, no rated CDR before the cutoff that the run should have taken is left."""
        open_accounts = dict(Assignment.objects.open().values_list("evse_id", "payout_account_id"))
        currencies = dict(PayoutAccount.objects.values_list("pk", "currency"))
        left = CDR.objects.filter(
            status=CDRStatus.RATED, end_date_time__lt=cutoff_instant(cutoff)
        ).values_list("pk", "credit", "evse_id", "payout_account_id", "currency")
        for pk, credit, evse_id, account_id, currency in left:
            follows = credit or open_accounts.get(evse_id) == account_id
            assert not (follows and currencies[account_id] == currency), (
                f"CDR {pk} was eligible but left out"
            )

    @precondition(lambda self: self.drafts)
    @rule(data=st.data())
    def finalize(self, data):
        pk = data.draw(st.sampled_from(self.drafts))
        invoice = finalize_invoice(invoice=Invoice.objects.get(pk=pk), actor=None)
        self.drafts.remove(pk)
        assert invoice.status == InvoiceStatus.FINAL and invoice.number
        self.finals[pk] = self._final_snapshot(pk)
        event("finalized a statement")

    @precondition(lambda self: self.drafts)
    @rule(data=st.data())
    def discard(self, data):
        pk = data.draw(st.sampled_from(self.drafts))
        lines = set(CDR.objects.filter(invoice_id=pk).values_list("pk", flat=True))
        released = discard_invoice(invoice=Invoice.objects.get(pk=pk), actor=None)
        self.drafts.remove(pk)
        assert released == len(lines)
        event("discarded a statement")
        assert (
            set(
                CDR.objects.filter(pk__in=lines, status=CDRStatus.RATED, invoice=None).values_list(
                    "pk", flat=True
                )
            )
            == lines
        )

    @precondition(lambda self: self.finals)
    @rule(data=st.data())
    def finalize_or_discard_a_final_statement_is_refused(self, data):
        pk = data.draw(st.sampled_from(sorted(self.finals)))
        invoice = Invoice.objects.get(pk=pk)
        operation = data.draw(st.sampled_from([finalize_invoice, discard_invoice]))
        with pytest.raises(InvoicingError, match="only draft statements"):
            operation(invoice=invoice, actor=None)

    # -- invariants ------------------------------------------------------------------------
    # One pass over the (small) tables per step: four queries, every invariant checked in Python.

    def _final_snapshot(self, pk: int) -> tuple:
        invoice = Invoice.objects.values_list(*STATEMENT_TOTALS, "number", "status").get(pk=pk)
        lines = frozenset(CDR.objects.filter(invoice_id=pk).values_list(*FINAL_LINE_FIELDS))
        return invoice, lines

    @invariant()
    def money_invariants(self):
        open_evses = Counter()
        for evse_id, active in Assignment.objects.open().values_list(
            "evse_id", "payout_account__is_active"
        ):
            open_evses[evse_id] += 1
            assert active, f"EVSE {evse_id} is assigned to an inactive account"
        assert not [evse for evse, n in open_evses.items() if n > 1], "two open assignments"

        statements = {
            row[0]: row
            for row in Invoice.objects.values_list(
                "pk", "status", "payout_account_id", "currency", *STATEMENT_TOTALS, "number"
            )
        }
        sums = {
            pk: dict.fromkeys(STATEMENT_TOTALS, Decimal(0))
            for pk, status, *_ in statements.values()
            if status != InvoiceStatus.DISCARDED
        }
        final_lines = defaultdict(set)
        for cdr in CDR.objects.values_list(*CDR_FIELDS):
            pk, status, invoice_id, account_id, currency, excl, incl, credit, fee, payout = cdr
            # Invoiced exactly when on a statement; that statement is live, of its account.
            assert (status == CDRStatus.INVOICED) == (invoice_id is not None), cdr
            if status in (CDRStatus.RATED, CDRStatus.INVOICED):
                # payout + fee = the excl.-VAT total (a credit's counts as negative), to the cent.
                collected = -abs(excl) if credit else excl
                assert fee == round_money(fee, currency), cdr
                assert payout == round_money(payout, currency), cdr
                assert payout + fee == round_money(collected, currency), cdr
            if invoice_id is None:
                continue
            _, invoice_status, invoice_account, invoice_currency, *_ = statements[invoice_id]
            assert invoice_status != InvoiceStatus.DISCARDED, cdr
            assert (invoice_account, invoice_currency) == (account_id, currency), cdr
            line = line_amounts(currency, excl, incl, fee, payout)
            total = sums[invoice_id]
            total["cdr_count"] += 1
            total["total_excl_vat"] += line["excl_vat"]
            total["total_vat"] += line["vat"]
            total["total_incl_vat"] += line["incl_vat"]
            total["total_fees"] += line["fee"]
            total["net_payout"] += line["payout"]
            if credit:
                total["total_credits"] += line["excl_vat"]
            if invoice_status == InvoiceStatus.FINAL:
                final_lines[invoice_id].add((pk, fee, payout, status, account_id, excl))

        # Every live statement's totals are the sum of its lines.
        for pk, total in sums.items():
            stored = dict(zip(STATEMENT_TOTALS, statements[pk][4:-1], strict=True))
            assert total["cdr_count"] >= 1, f"statement {pk} has no lines"
            assert stored == total, (pk, stored, total)

        # Nothing on a final statement ever changes.
        finals = {pk for pk, status, *_ in statements.values() if status == InvoiceStatus.FINAL}
        assert finals == set(self.finals)
        for pk, (snapshot, lines) in self.finals.items():
            assert (*statements[pk][4:], InvoiceStatus.FINAL) == snapshot, pk
            assert final_lines[pk] == lines, pk


@pytest.mark.django_db
@pytest.mark.parametrize("credit", [False, True], ids=["charge", "credit"])
def test_payout_plus_fee_is_the_rounded_total(credit):
    owner_site = LocationFactory(owner=None)
    evse = EVSEFactory(location=owner_site, evse_id="BE*BEC*E00000042")
    account = PayoutAccountFactory(
        holder=None,
        commission_percent=Decimal(0),
        fee_per_kwh=Decimal(0),
        fee_per_session=Decimal("2.48"),
    )
    assign_evses(evses=EVSE.objects.filter(pk=evse.pk), account_id=account.pk, actor=None)
    end = timezone.now() - timedelta(days=1)
    payload = ocpi_cdr_payload(
        id="HALF-CENT",
        start_date_time=_iso(end - timedelta(hours=1)),
        end_date_time=_iso(end),
        cdr_location=ocpi_cdr_payload()["cdr_location"]
        | {"evse_uid": evse.uid, "evse_id": evse.evse_id},
        total_cost={"excl_vat": Decimal("0.1950")},
        total_energy=Decimal(1),
        last_updated=_iso(end),
    )
    cdr = ingest_cdr(payload=payload, actor_name="test").cdr
    if credit:
        payload = payload | {
            "id": "HALF-CENT-CREDIT",
            "credit": True,
            "credit_reference_id": "HALF-CENT",
            "total_cost": {"excl_vat": Decimal("-0.1950")},
            "total_energy": Decimal(-1),
        }
        cdr = ingest_cdr(payload=payload, actor_name="test").cdr
    assert cdr.status == CDRStatus.RATED
    assert cdr.fee == (Decimal("-2.48") if credit else Decimal("2.48"))
    assert cdr.payout == (Decimal("2.28") if credit else Decimal("-2.28"))
    assert cdr.payout + cdr.fee == round_money(cdr.total_cost_excl_vat, "EUR")


def build_world() -> None:
    """Two owners (the CPO and a hotel chain), three accounts, six EVSEs."""
    hotel = SubCPOFactory(name="Hotel chain")
    own_site, hotel_site = LocationFactory(owner=None), LocationFactory(owner=hotel)
    MoneyMachine.evses = [
        EVSEFactory(location=own_site if n < 3 else hotel_site, evse_id=f"BE*BEC*E0000000{n}")
        for n in range(EVSE_COUNT)
    ]
    MoneyMachine.accounts = [
        PayoutAccountFactory(name="Own", holder=None),
        PayoutAccountFactory(name="Hotel EUR", holder=hotel),
        PayoutAccountFactory(name="Hotel GBP", holder=hotel, currency="GBP"),
    ]


# Transactional: each example is its own top-level transaction, rolled back at its end. Inside one
# long test transaction PostgreSQL would pile up thousands of subtransactions (every service's
# savepoint) and slow down with every example.
@pytest.mark.django_db(transaction=True)
def test_money_invariants_hold_through_any_sequence_of_actions():
    build_world()
    run_state_machine_as_test(
        MoneyMachine,
        settings=settings(
            max_examples=MAX_EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
