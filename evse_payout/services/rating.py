"""Rating of CDRs (R5): one rule engine for intake (`rate_cdr`) and re-rating (`rerate_cdrs`).

The rules live in the pure function `evaluate_rating`; both entry points load what it needs
(the CDR's EVSE, that EVSE's open assignment with its account, a credit's original) and write
what it decides. `rate_cdr` loads for one CDR; `rerate_cdrs` loads for a whole batch in a constant
number of queries.

Order of the rules (the first that applies decides; this is what the CDR page explains):

1. The sanity rules that need nothing but the CDR itself → `failed_validation`:
   end before start, end in the future, negative energy on a non-credit CDR, more than 1,000 kWh.
   They come first because no fix elsewhere (importing an EVSE, assigning it) can make such a CDR
   invoiceable; telling staff "assign the EVSE" would send them on a useless errand.
2. A credit CDR (`credit=True`) is rated against its original's payout account, not its EVSE's:
   original unknown or not rated/invoiced → `credit_original_unknown`; then the operator-prefix
   rule when its EVSE is known; then `currency_mismatch` against the original's account.
3. Any other CDR: EVSE unknown → `evse_unknown`; `cdr_location.evse_id` with another operator
   prefix than the matched EVSE's → `failed_validation`; no open assignment → `evse_unassigned`;
   CDR currency ≠ account currency → `currency_mismatch`.
4. Otherwise `rated`.

Amounts (rounded half-up to the currency's minor unit by `money.round_money`, nowhere else):
    fee    = round(commission % × excl.-VAT total + fee per kWh × energy + fee per session)
    payout = round(excl.-VAT total − fee)
A credit reverses its original: it counts its excl.-VAT total as negative and its energy as
positive whatever signs the peer sent, and every fee component is negated:
    fee    = −round(commission % × |excl.-VAT| + fee per kWh × |energy| + fee per session)
    payout = round(−|excl.-VAT| − fee)
so a credit of a whole CDR yields exactly the negated fee and payout of the original (at the
account's current fee terms). A credit is rated under the original's account and assignment.

Invoiced CDRs (status `invoiced` or on a statement) are never touched.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from ..models import (
    CDR,
    EVSE,
    Assignment,
    AuditAction,
    CDRRating,
    CDRReason,
    CDRStatus,
    EVSEStatus,
)
from ..money import round_money
from ..validators import evse_operator_prefix, normalize_evse_id
from .audit import actor_label, record_audit_event

MAX_ENERGY_KWH = Decimal("1000")
# A peer's clock may run slightly ahead of ours; a CDR ending within this margin is not "future".
FUTURE_TOLERANCE = timedelta(minutes=5)
RATED_STATES = (CDRStatus.RATED, CDRStatus.INVOICED)
# The CDR fields a rating writes.
RATING_FIELDS = [
    "evse",
    "credited_cdr",
    "status",
    "reason",
    "reason_detail",
    "payout_account",
    "assignment",
    "fee",
    "payout",
    "rated_at",
]
DETAIL_MAX = 255


@dataclass(frozen=True)
class RatingOutcome:
    """What the rules decided for one CDR."""

    status: str
    reason: str = ""
    reason_detail: str = ""
    payout_account: object = None
    assignment: Assignment | None = None
    fee: Decimal | None = None
    payout: Decimal | None = None

    @classmethod
    def hold(cls, reason: str, detail: str) -> "RatingOutcome":
        return cls(status=CDRStatus.NOT_INVOICEABLE, reason=reason, reason_detail=detail)


@dataclass
class RerateSummary:
    total: int = 0
    changed: int = 0
    by_status: dict = field(default_factory=dict)
    by_reason: dict = field(default_factory=dict)
    newly_rated: int = 0
    newly_rated_payout: Decimal = Decimal("0")
    newly_rated_payout_by_currency: dict = field(default_factory=dict)
    became_not_invoiceable: int = 0
    dry_run: bool = False

    def message(self) -> str:
        """One line for messages and command output, e.g.
        "Re-rated 37 CDRs: 3 changed status (2 newly rated, 16.70 EUR payout; 1 became not
        invoiceable); now 35 rated, 2 not invoiceable — 2 EVSE unassigned."
        """
        amounts = ", ".join(
            f"{amount:,.2f} {currency}"
            for currency, amount in sorted(self.newly_rated_payout_by_currency.items())
        )
        rated = f"{self.newly_rated:,} newly rated" + (f", {amounts} payout" if amounts else "")
        held = self.became_not_invoiceable
        if self.dry_run:
            text = (
                f"Dry run, nothing written: re-rating {self.total:,} CDRs would change the status "
                f"of {self.changed:,} ({rated}; {held:,} becoming not invoiceable); afterwards"
            )
        else:
            text = (
                f"Re-rated {self.total:,} CDRs: {self.changed:,} changed status "
                f"({rated}; {held:,} became not invoiceable); now"
            )
        text += (
            f" {self.by_status.get(CDRStatus.RATED, 0):,} rated,"
            f" {self.by_status.get(CDRStatus.NOT_INVOICEABLE, 0):,} not invoiceable"
        )
        if self.by_reason:
            labels = dict(CDRReason.choices)
            text += " — " + ", ".join(
                f"{count:,} {labels.get(reason, reason)}"
                for reason, count in sorted(self.by_reason.items(), key=lambda item: -item[1])
            )
        return text + "."


def _detail(text: str) -> str:
    return text if len(text) <= DETAIL_MAX else text[: DETAIL_MAX - 1] + "…"


def _sanity_failure(cdr: CDR, now: datetime) -> str | None:
    """The first CDR-only sanity rule the CDR breaks, as a reason detail naming it."""
    if cdr.end_date_time < cdr.start_date_time:
        return (
            f"Rule “end before start”: the session ends {cdr.end_date_time:%Y-%m-%d %H:%M:%S} "
            f"UTC, before it starts {cdr.start_date_time:%Y-%m-%d %H:%M:%S} UTC."
        )
    if cdr.end_date_time > now + FUTURE_TOLERANCE:
        return (
            f"Rule “end in the future”: the session ends {cdr.end_date_time:%Y-%m-%d %H:%M:%S} "
            "UTC, which has not happened yet."
        )
    if not cdr.credit and cdr.total_energy < 0:
        return (
            f"Rule “negative energy”: {cdr.total_energy.normalize():f} kWh on a CDR that is "
            "not a credit."
        )
    if abs(cdr.total_energy) > MAX_ENERGY_KWH:
        return f"Rule “more than 1,000 kWh”: {cdr.total_energy.normalize():f} kWh in one session."
    return None


def _prefix_failure(cdr: CDR, evse: EVSE) -> str | None:
    if not cdr.evse_id_raw:
        return None
    sent = evse_operator_prefix(cdr.evse_id_raw)
    known = evse_operator_prefix(evse.evse_id)
    if sent != known:
        return (
            f"Rule “operator prefix”: the CDR names EVSE ID {cdr.evse_id_raw} (operator {sent}) "
            f"but its EVSE {evse.evse_id} belongs to operator {known}."
        )
    return None


def _currency_failure(cdr: CDR, account) -> str | None:
    if cdr.currency != account.currency:
        return (
            f"The CDR is in {cdr.currency} but payout account “{account.name}” pays out in "
            f"{account.currency} — correct the account's currency or credit the CDR, then re-rate."
        )
    return None


def _amounts(cdr: CDR, account) -> tuple[Decimal, Decimal]:
    currency = cdr.currency
    commission = account.commission_percent / Decimal(100)
    if cdr.credit:
        excl = -abs(cdr.total_cost_excl_vat)
        fee = -round_money(
            commission * abs(cdr.total_cost_excl_vat)
            + account.fee_per_kwh * abs(cdr.total_energy)
            + account.fee_per_session,
            currency,
        )
    else:
        excl = cdr.total_cost_excl_vat
        fee = round_money(
            commission * excl + account.fee_per_kwh * cdr.total_energy + account.fee_per_session,
            currency,
        )
    return fee, round_money(excl - fee, currency)


def evaluate_rating(
    *,
    cdr: CDR,
    evse: EVSE | None,
    assignment: Assignment | None,
    original: CDR | None,
    now: datetime,
) -> RatingOutcome:
    """The rules of R5 in the order of the module docstring; pure: reads, never queries.

    `assignment` is the EVSE's open assignment with `payout_account` loaded; `original` is a
    credit's original CDR with `payout_account` loaded (both None when there is none).
    """
    failure = _sanity_failure(cdr, now)
    if failure:
        return RatingOutcome.hold(CDRReason.FAILED_VALIDATION, _detail(failure))

    if cdr.credit:
        reference = cdr.credit_reference_id or "(no credit_reference_id)"
        if original is None:
            return RatingOutcome.hold(
                CDRReason.CREDIT_ORIGINAL_UNKNOWN,
                _detail(
                    f"This credit reverses CDR {reference}, which has not been received — "
                    "once it is, re-rate this credit."
                ),
            )
        if original.status not in RATED_STATES:
            state = original.get_status_display().lower()
            why = f" ({original.get_reason_display()})" if original.reason else ""
            return RatingOutcome.hold(
                CDRReason.CREDIT_ORIGINAL_UNKNOWN,
                _detail(
                    f"This credit reverses CDR {original.cdr_id}, which is {state}{why} — "
                    "rate the original first, then re-rate this credit."
                ),
            )
        if evse is not None and (failure := _prefix_failure(cdr, evse)):
            return RatingOutcome.hold(CDRReason.FAILED_VALIDATION, _detail(failure))
        account = original.payout_account
        if failure := _currency_failure(cdr, account):
            return RatingOutcome.hold(CDRReason.CURRENCY_MISMATCH, _detail(failure))
        fee, payout = _amounts(cdr, account)
        return RatingOutcome(
            status=CDRStatus.RATED,
            payout_account=account,
            assignment=original.assignment,
            fee=fee,
            payout=payout,
        )

    if evse is None:
        return RatingOutcome.hold(
            CDRReason.EVSE_UNKNOWN,
            _detail(
                f"No EVSE with uid {cdr.evse_uid or '—'} ({cdr.country_code}*{cdr.party_id}) or "
                f"EVSE ID {cdr.evse_id_raw or '—'} is known — import its location, then re-rate."
            ),
        )
    if failure := _prefix_failure(cdr, evse):
        return RatingOutcome.hold(CDRReason.FAILED_VALIDATION, _detail(failure))
    if assignment is None:
        return RatingOutcome.hold(
            CDRReason.EVSE_UNASSIGNED,
            _detail(
                f"EVSE {evse.evse_id} is not assigned to a payout account — assign it, "
                "then re-rate."
            ),
        )
    account = assignment.payout_account
    if failure := _currency_failure(cdr, account):
        return RatingOutcome.hold(CDRReason.CURRENCY_MISMATCH, _detail(failure))
    fee, payout = _amounts(cdr, account)
    return RatingOutcome(
        status=CDRStatus.RATED,
        payout_account=account,
        assignment=assignment,
        fee=fee,
        payout=payout,
    )


# Loading: each helper is one query for any number of CDRs.


def _match_evses(cdrs: list[CDR]) -> None:
    """Attach an EVSE to CDRs that have none: by (country_code, party_id, uid), else evse_id."""
    unmatched = [cdr for cdr in cdrs if cdr.evse_id is None]
    if not unmatched:
        return
    uids = {cdr.evse_uid for cdr in unmatched if cdr.evse_uid}
    evse_ids = {normalize_evse_id(cdr.evse_id_raw) for cdr in unmatched if cdr.evse_id_raw}
    candidates = EVSE.objects.filter(
        Q(uid__in=uids) | (Q(evse_id__in=evse_ids) & ~Q(status=EVSEStatus.REMOVED))
    )
    by_uid, by_evse_id = {}, {}
    for evse in candidates:
        by_uid[(evse.country_code, evse.party_id, evse.uid)] = evse
        if evse.status != EVSEStatus.REMOVED:
            by_evse_id[evse.evse_id] = evse
    for cdr in unmatched:
        evse = by_uid.get((cdr.country_code, cdr.party_id, cdr.evse_uid)) or by_evse_id.get(
            normalize_evse_id(cdr.evse_id_raw)
        )
        if evse is not None:
            cdr.evse = evse


def _open_assignments(cdrs: list[CDR]) -> dict[int, Assignment]:
    evse_ids = {cdr.evse_id for cdr in cdrs if cdr.evse_id is not None and not cdr.credit}
    if not evse_ids:
        return {}
    return {
        assignment.evse_id: assignment
        for assignment in Assignment.objects.open()
        .filter(evse_id__in=evse_ids)
        .select_related("payout_account")
    }


def _originals(cdrs: list[CDR]) -> dict[int, CDR]:
    """Each credit's original, keyed by the credit's pk; stores the match on the credit."""
    credits = [cdr for cdr in cdrs if cdr.credit]
    if not credits:
        return {}
    by_pk = {cdr.credited_cdr_id for cdr in credits if cdr.credited_cdr_id}
    references = {
        cdr.credit_reference_id
        for cdr in credits
        if cdr.credited_cdr_id is None and cdr.credit_reference_id
    }
    candidates = (
        CDR.objects.filter(
            Q(pk__in=by_pk)
            | Q(
                country_code__in={cdr.country_code for cdr in credits},
                party_id__in={cdr.party_id for cdr in credits},
                cdr_id__in=references,
                credit=False,
            )
        )
        .select_related("payout_account", "assignment")
        .defer("raw")
    )
    pk_map, ref_map = {}, {}
    for original in candidates:
        pk_map[original.pk] = original
        ref_map[(original.country_code, original.party_id, original.cdr_id)] = original
    # An original rated in this same batch counts with its new rating, not the stored one.
    in_batch = {cdr.pk: cdr for cdr in cdrs}
    result = {}
    for credit in credits:
        original = pk_map.get(credit.credited_cdr_id) or ref_map.get(
            (credit.country_code, credit.party_id, credit.credit_reference_id)
        )
        if original is not None:
            original = in_batch.get(original.pk, original)
        if original is not None and original.pk != credit.pk:
            credit.credited_cdr = original
            result[credit.pk] = original
    return result


def _state(cdr: CDR) -> tuple:
    return (
        cdr.evse_id,
        cdr.credited_cdr_id,
        cdr.status,
        cdr.reason,
        cdr.reason_detail,
        cdr.payout_account_id,
        cdr.assignment_id,
        cdr.fee,
        cdr.payout,
    )


def _apply(cdr: CDR, outcome: RatingOutcome, now: datetime) -> None:
    cdr.status = outcome.status
    cdr.reason = outcome.reason
    cdr.reason_detail = outcome.reason_detail
    cdr.payout_account = outcome.payout_account
    cdr.assignment = outcome.assignment
    cdr.fee = outcome.fee
    cdr.payout = outcome.payout
    cdr.rated_at = now if outcome.status == CDRStatus.RATED else None


def _same_amount(left: Decimal | None, right: Decimal | None) -> bool:
    if left is None or right is None:
        return left is right
    return Decimal(left) == Decimal(right)


def _rate_loaded(
    cdrs: list[CDR], *, now: datetime, actor, actor_name: str, dry_run: bool
) -> list[tuple[tuple, CDR]]:
    """Rate CDRs already locked and loaded (with `evse`); returns (state before, cdr) pairs.

    Writes the changed CDRs with one bulk UPDATE and every rating with one bulk INSERT.
    """
    before = {cdr.pk: _state(cdr) for cdr in cdrs}
    _match_evses(cdrs)
    assignments = _open_assignments(cdrs)
    originals = _originals(cdrs)
    changed, ratings = [], []
    label = actor_name or actor_label(actor)
    # Originals before credits, so a credit sees its original's rating from this batch.
    for cdr in sorted(cdrs, key=lambda cdr: cdr.credit):
        outcome = evaluate_rating(
            cdr=cdr,
            evse=cdr.evse,
            assignment=assignments.get(cdr.evse_id),
            original=originals.get(cdr.pk),
            now=now,
        )
        old = before[cdr.pk]
        _apply(cdr, outcome, now)
        new = _state(cdr)
        if old[:7] != new[:7] or not (
            _same_amount(old[7], new[7]) and _same_amount(old[8], new[8])
        ):
            changed.append(cdr)
        ratings.append(
            CDRRating(
                cdr=cdr,
                at=now,
                actor=actor,
                actor_label=label,
                status=outcome.status,
                reason=outcome.reason,
                reason_detail=outcome.reason_detail,
                payout_account=outcome.payout_account,
                fee=outcome.fee,
                payout=outcome.payout,
            )
        )
    if not dry_run:
        if changed:
            CDR.objects.bulk_update(changed, RATING_FIELDS, batch_size=len(changed))
        CDRRating.objects.bulk_create(ratings, batch_size=len(ratings))
    return [(before[cdr.pk], cdr) for cdr in cdrs]


def _is_invoiced(cdr: CDR) -> bool:
    return cdr.status == CDRStatus.INVOICED or cdr.invoice_id is not None


def rate_cdr(*, cdr: CDR, actor=None, actor_name: str = "") -> CDR:
    """Rate one stored CDR (R5) in the caller's transaction; saves it and records the rating.

    An invoiced CDR is returned unchanged. The CDR row is locked first so an invoice run cannot
    take it meanwhile.
    """
    with transaction.atomic():
        current = (
            CDR.objects.select_for_update(no_key=True, of=("self",))
            .filter(pk=cdr.pk)
            .values_list("status", "invoice_id")
            .first()
        )
        if current is None:
            raise CDR.DoesNotExist(f"CDR {cdr.pk} does not exist.")
        cdr.status, cdr.invoice_id = current
        if _is_invoiced(cdr):
            return cdr
        _rate_loaded([cdr], now=timezone.now(), actor=actor, actor_name=actor_name, dry_run=False)
    return cdr


def _ids_after(cdrs: QuerySet, last_pk: int, batch_size: int) -> list[int]:
    return list(
        cdrs.filter(pk__gt=last_pk)
        .exclude(status=CDRStatus.INVOICED)
        .filter(invoice__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)[:batch_size]
    )


def _count(summary: RerateSummary, results: Iterable[tuple[tuple, CDR]]) -> None:
    for old, cdr in results:
        summary.total += 1
        old_status, old_reason, old_account = old[2], old[3], old[5]
        summary.by_status[cdr.status] = summary.by_status.get(cdr.status, 0) + 1
        if cdr.status == CDRStatus.NOT_INVOICEABLE:
            summary.by_reason[cdr.reason] = summary.by_reason.get(cdr.reason, 0) + 1
        if (old_status, old_reason, old_account) != (cdr.status, cdr.reason, cdr.payout_account_id):
            summary.changed += 1
        if cdr.status == CDRStatus.RATED and old_status != CDRStatus.RATED:
            summary.newly_rated += 1
            summary.newly_rated_payout += cdr.payout
            by_currency = summary.newly_rated_payout_by_currency
            by_currency[cdr.currency] = by_currency.get(cdr.currency, Decimal("0")) + cdr.payout
        if cdr.status == CDRStatus.NOT_INVOICEABLE and old_status != CDRStatus.NOT_INVOICEABLE:
            summary.became_not_invoiceable += 1


def rerate_cdrs(
    *,
    cdrs: QuerySet,
    actor=None,
    actor_name: str = "",
    dry_run: bool = False,
    batch_size: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> RerateSummary:
    """Re-rate every not-invoiced CDR of `cdrs` in primary-key batches; invoiced ones are skipped.

    Each batch is its own transaction: its CDR rows are locked (invoiced ones excluded in the
    locking query itself), rated with a constant number of queries, and written with one bulk
    UPDATE of the changed rows and one bulk INSERT of the rating history. `progress(n)` is
    called with the size of each finished batch. A dry run computes the same summary and writes
    nothing. The run is recorded as one audit event.
    """
    summary = RerateSummary(dry_run=dry_run)
    last_pk = 0
    while ids := _ids_after(cdrs, last_pk, batch_size):
        last_pk = ids[-1]
        with transaction.atomic():
            locked = CDR.objects.filter(pk__in=ids, invoice__isnull=True).exclude(
                status=CDRStatus.INVOICED
            )
            if not dry_run:
                locked = locked.select_for_update(no_key=True, of=("self",))
            batch = list(locked.select_related("evse").order_by("pk"))
            results = _rate_loaded(
                batch, now=timezone.now(), actor=actor, actor_name=actor_name, dry_run=dry_run
            )
        _count(summary, results)
        if progress is not None:
            progress(len(ids))
        if len(ids) < batch_size:
            break
    if not dry_run:
        with transaction.atomic():
            record_audit_event(
                action=AuditAction.RERATE,
                actor=actor,
                actor_name=actor_name,
                object_count=summary.total,
                summary=summary.message()[:500],
                details={
                    "changed": summary.changed,
                    "by_status": summary.by_status,
                    "by_reason": summary.by_reason,
                    "newly_rated": summary.newly_rated,
                    "newly_rated_payout": {
                        currency: str(amount)
                        for currency, amount in summary.newly_rated_payout_by_currency.items()
                    },
                    "became_not_invoiceable": summary.became_not_invoiceable,
                },
            )
    return summary
