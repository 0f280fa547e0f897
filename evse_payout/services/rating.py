"""Rating of CDRs (R5): one rule engine for intake (`rate_cdr`) and re-rating (`rerate_cdrs`).

The rules live in the pure function `evaluate_rating`. `rate_batch` loads what they need for any
number of CDRs in a constant number of queries (the CDRs' EVSEs, those EVSEs' open assignments with
their accounts, credits' originals) and evaluates them; it is used by `rate_cdr` (one stored CDR),
`rerate_cdrs` (keyset batches of stored CDRs, loaded as plain rows without `raw`) and the import
(unsaved CDRs rated in memory before their INSERT, see services/ocpi_ingest.py).

A rating that changes nothing writes nothing: the CDR keeps its row (and `rated_at`) and gets no
history row. Changed CDRs of a batch are written with one set-based UPDATE and their history with
one INSERT … SELECT (services/bulk_sql.py).

Order of the rules (the first that applies decides; this is what the CDR page explains):

1. The sanity rules that need nothing but the CDR itself → `failed_validation`:
   end before start, end in the future, negative energy on a non-credit CDR, more than 1,000 kWh.
   They come first because no fix elsewhere (importing an EVSE, assigning it) can make such a CDR
   invoiceable; telling staff "assign the EVSE" would send them on a useless errand.
2. A credit CDR (`credit=True`) is rated against its original's payout account, not its EVSE's:
   original unknown → `credit_original_unknown`; original not rated/invoiced →
   `original_not_invoiced`; then the operator-prefix rule when its EVSE is known; then
   `currency_mismatch` against the original's account; then `credit_exceeds_original`.
3. Any other CDR: EVSE unknown → `evse_unknown`; `cdr_location.evse_id` with another operator
   prefix than the matched EVSE's → `failed_validation`; no open assignment → `evse_unassigned`;
   CDR currency ≠ account currency → `currency_mismatch`.
4. Otherwise `rated`.

Amounts (4 decimals, the line precision; `money.fee_parts` holds the formula, nothing else rounds):
    fee    = commission % × excl.-VAT total + fee per kWh × energy + fee per session
    payout = excl.-VAT total − fee
The terms applied (commission %, per kWh, per session, currency) are stored with the rating.
A credit is rated with its original's stored terms, never today's, under the original's account
and assignment; it counts its excl.-VAT total as negative and its energy as positive whatever signs
the peer sent:
- a credit of the whole original (same amount and energy) reverses its fee and payout exactly;
- a partial credit reverses the commission and per-kWh parts of its own amounts, not the session fee;
- the credits of one original never exceed it (amount or energy): a credit that would is held as
  `credit_exceeds_original` (credits count in primary-key order);
- a credit whose original is not rated or invoiced is held as `original_not_invoiced`.

Invoiced CDRs (status `invoiced` or on a statement) are never touched.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import FilteredRelation, Q, QuerySet, Sum
from django.db.models.functions import Abs
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
    PayoutAccount,
    StatementLine,
)
from ..money import FeeTerms, fee_parts, format_money
from ..payloads.ocpi import END_BEFORE_START, NEGATIVE_ENERGY, broken_content_rule
from ..validators import evse_operator_prefix, normalize_evse_id
from .audit import actor_label, record_audit_event
from .bulk_sql import insert_rows, update_from_rows
from .locks import hold_rating_lock
from .processes import can_fork, run_in_processes

MAX_ENERGY_KWH = Decimal("1000")
# A peer's clock may run slightly ahead of ours; a CDR ending within this margin is not "future".
FUTURE_TOLERANCE = timedelta(minutes=5)
RATED_STATES = (CDRStatus.RATED, CDRStatus.INVOICED)
DETAIL_MAX = 255
DEFAULT_BATCH_SIZE = 5000


@dataclass(frozen=True, slots=True)
class RatingOutcome:
    """What the rules decided for one CDR."""

    status: str
    reason: str = ""
    reason_detail: str = ""
    payout_account: PayoutAccount | None = None
    assignment_id: int | None = None
    fee: Decimal | None = None
    payout: Decimal | None = None
    terms: FeeTerms | None = None

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
            format_money(amount, currency)
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


def _sanity_failure(cdr, now: datetime) -> str | None:
    """The first CDR-only sanity rule the CDR breaks, as a reason detail naming it."""
    rule = broken_content_rule(
        start=cdr.start_date_time, end=cdr.end_date_time, energy=cdr.total_energy, credit=cdr.credit
    )
    if rule == END_BEFORE_START:
        return (
            f"Rule “end before start”: the session ends {cdr.end_date_time:%Y-%m-%d %H:%M:%S} "
            f"UTC, before it starts {cdr.start_date_time:%Y-%m-%d %H:%M:%S} UTC."
        )
    if cdr.end_date_time > now + FUTURE_TOLERANCE:
        return (
            f"Rule “end in the future”: the session ends {cdr.end_date_time:%Y-%m-%d %H:%M:%S} "
            "UTC, which has not happened yet."
        )
    if rule == NEGATIVE_ENERGY:
        return (
            f"Rule “negative energy”: {cdr.total_energy.normalize():f} kWh on a CDR that is "
            "not a credit."
        )
    if abs(cdr.total_energy) > MAX_ENERGY_KWH:
        return f"Rule “more than 1,000 kWh”: {cdr.total_energy.normalize():f} kWh in one session."
    return None


def _prefix_failure(cdr, evse) -> str | None:
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


def _currency_failure(cdr, account: PayoutAccount) -> str | None:
    if cdr.currency != account.currency:
        return (
            f"The CDR is in {cdr.currency} but payout account “{account.name}” pays out in "
            f"{account.currency} — correct the account's currency or credit the CDR, then re-rate."
        )
    return None


def account_terms(account: PayoutAccount) -> FeeTerms:
    """An account's current fee terms, as a rating stores them."""
    return FeeTerms(
        commission_percent=account.commission_percent,
        fee_per_kwh=account.fee_per_kwh,
        fee_per_session=account.fee_per_session,
        currency=account.currency,
    )


def _charge_amounts(cdr, terms: FeeTerms) -> tuple[Decimal, Decimal]:
    fee = fee_parts(terms=terms, amount=cdr.total_cost_excl_vat, energy=cdr.total_energy).fee
    return fee, cdr.total_cost_excl_vat - fee


def _is_whole_credit(cdr, original) -> bool:
    return abs(cdr.total_cost_excl_vat) == abs(original.total_cost_excl_vat) and abs(
        cdr.total_energy
    ) == abs(original.total_energy)


def _credit_amounts(cdr, original) -> tuple[Decimal, Decimal]:
    """A credit's fee and payout (both ≤ 0): the exact reverse of a whole original, else the
    commission and per-kWh parts of its own amounts under the original's terms."""
    if _is_whole_credit(cdr, original):
        return -original.fee, -original.payout
    excl = abs(cdr.total_cost_excl_vat)
    parts = fee_parts(
        terms=original.terms, amount=excl, energy=abs(cdr.total_energy), per_session=False
    )
    return -parts.fee, -excl + parts.fee


def _rated(*, account, assignment_id, terms, amounts) -> RatingOutcome:
    fee, payout = amounts
    return RatingOutcome(
        status=CDRStatus.RATED,
        payout_account=account,
        assignment_id=assignment_id,
        fee=fee,
        payout=payout,
        terms=terms,
    )


def _excess_failure(cdr, original, credited: tuple[Decimal, Decimal]) -> str | None:
    """Why this credit would take the original's credits beyond the original, or None."""
    amount, energy = credited
    amount += abs(cdr.total_cost_excl_vat)
    energy += abs(cdr.total_energy)
    limit_amount, limit_energy = abs(original.total_cost_excl_vat), abs(original.total_energy)
    if amount <= limit_amount and energy <= limit_energy:
        return None
    return (
        f"With this credit, the credits of CDR {original.cdr_id} would reverse "
        f"{amount.normalize():f} {cdr.currency} and {energy.normalize():f} kWh, more than the "
        f"original's {limit_amount.normalize():f} {cdr.currency} and "
        f"{limit_energy.normalize():f} kWh — only the original itself can be credited."
    )


def _evaluate_credit(*, cdr, evse, original, credited) -> RatingOutcome:
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
        state = CDRStatus(original.status).label.lower()
        why = f" ({CDRReason(original.reason).label})" if original.reason else ""
        return RatingOutcome.hold(
            CDRReason.ORIGINAL_NOT_INVOICED,
            _detail(
                f"This credit reverses CDR {original.cdr_id}, which is {state}{why} — "
                "a credit is invoiced only with or after its original: rate the original first, "
                "then re-rate this credit."
            ),
        )
    if evse is not None and (failure := _prefix_failure(cdr, evse)):
        return RatingOutcome.hold(CDRReason.FAILED_VALIDATION, _detail(failure))
    account = original.payout_account
    if failure := _currency_failure(cdr, account):
        return RatingOutcome.hold(CDRReason.CURRENCY_MISMATCH, _detail(failure))
    if failure := _excess_failure(cdr, original, credited):
        return RatingOutcome.hold(CDRReason.CREDIT_EXCEEDS_ORIGINAL, _detail(failure))
    return _rated(
        account=account,
        assignment_id=original.assignment_id,
        terms=original.terms,
        amounts=_credit_amounts(cdr, original),
    )


NOTHING_CREDITED = (Decimal(0), Decimal(0))


def evaluate_rating(
    *, cdr, evse, assignment, original, now: datetime, credited=NOTHING_CREDITED
) -> RatingOutcome:
    """The rules of R5 in the order of the module docstring; pure: reads, never queries.

    `cdr` is a CDR (a model instance, saved or not, or a loaded row with the same attribute
    names); `evse` its matched EVSE (`evse_id` read) or None; `assignment` that EVSE's open
    assignment (`pk` and `payout_account` read) or None; `original` a credit's original (see
    `_Original`) or None; `credited` what the original's other credits already reverse
    (excl.-VAT amount, energy; both ≥ 0).
    """
    failure = _sanity_failure(cdr, now)
    if failure:
        return RatingOutcome.hold(CDRReason.FAILED_VALIDATION, _detail(failure))
    if cdr.credit:
        return _evaluate_credit(cdr=cdr, evse=evse, original=original, credited=credited)
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
    terms = account_terms(account)
    return _rated(
        account=account,
        assignment_id=assignment.pk,
        terms=terms,
        amounts=_charge_amounts(cdr, terms),
    )


# Loading: what the rules need for a whole batch, in a constant number of queries.


class _EVSE(NamedTuple):
    pk: int
    evse_id: str


class _OpenAssignment(NamedTuple):
    pk: int
    payout_account: PayoutAccount


class _Original(NamedTuple):
    """A credit's original as the rules see it: stored, or rated earlier in the same batch."""

    pk: int | None
    cdr_id: str
    status: str
    reason: str
    payout_account: PayoutAccount | None
    assignment_id: int | None
    total_cost_excl_vat: Decimal
    total_energy: Decimal
    fee: Decimal | None
    payout: Decimal | None
    terms: FeeTerms | None


@dataclass(frozen=True, slots=True)
class Rating:
    """What `rate_batch` decided for one CDR: its EVSE, a credit's original, the outcome.

    `original_position` is the original's index in the batch when it was rated in the same batch
    (the import needs it to link an unsaved credit to its unsaved original).
    """

    evse: _EVSE | EVSE | None
    original: _Original | None
    original_position: int | None
    outcome: RatingOutcome

    @property
    def evse_pk(self) -> int | None:
        return None if self.evse is None else self.evse.pk

    @property
    def account_pk(self) -> int | None:
        account = self.outcome.payout_account
        return None if account is None else account.pk


def _evses(cdrs: Sequence, known: dict) -> list:
    """Each CDR's EVSE (one query): its stored match, else by (country_code, party_id, uid), else
    by EVSE ID among the party's EVSEs not removed — never another party's EVSE, so a peer cannot
    rate its CDRs against someone else's assignments. `known` EVSEs (by pk) are not looked up
    again."""
    matched = {cdr.evse_id for cdr in cdrs if cdr.evse_id is not None} - known.keys()
    unmatched = [cdr for cdr in cdrs if cdr.evse_id is None]
    uids = {cdr.evse_uid for cdr in unmatched if cdr.evse_uid}
    evse_ids = {normalize_evse_id(cdr.evse_id_raw) for cdr in unmatched if cdr.evse_id_raw}
    by_pk = dict(known)
    if not (matched or uids or evse_ids):
        return [by_pk.get(cdr.evse_id) for cdr in cdrs]
    candidates = _candidate_evses(unmatched, matched, uids, evse_ids)
    by_uid, by_evse_id = {}, {}
    for pk, country_code, party_id, uid, evse_id, status in candidates:
        evse = by_pk[pk] = _EVSE(pk, evse_id)
        by_uid[(country_code, party_id, uid)] = evse
        if status != EVSEStatus.REMOVED:
            by_evse_id[(country_code, party_id, evse_id)] = evse
    return [
        by_pk.get(cdr.evse_id)
        if cdr.evse_id is not None
        else by_uid.get((cdr.country_code, cdr.party_id, cdr.evse_uid))
        or by_evse_id.get((cdr.country_code, cdr.party_id, normalize_evse_id(cdr.evse_id_raw)))
        for cdr in cdrs
    ]


def _candidate_evses(unmatched: list, matched: set, uids: set, evse_ids: set) -> QuerySet:
    """The EVSEs `_evses` chooses from: by pk, by OCPI uid, by EVSE ID (not removed).

    One query of up to three parts, each probing its own index once per value (`__any_joined`):
    ORed in one WHERE, PostgreSQL read every EVSE for a batch's thousand values instead.
    """
    rows = EVSE.objects.order_by().values_list(
        "pk", "country_code", "party_id", "uid", "evse_id", "status"
    )
    party = {
        "country_code__any": {cdr.country_code for cdr in unmatched},
        "party_id__any": {cdr.party_id for cdr in unmatched},
    }
    parts = []
    if matched:
        parts.append(rows.filter(pk__any=matched))
    if uids:
        # All three columns of the unique index (country_code, party_id, uid).
        parts.append(rows.filter(**party, uid__any_joined=uids))
    if evse_ids:
        parts.append(
            rows.filter(**party, evse_id__any_joined=evse_ids).exclude(status=EVSEStatus.REMOVED)
        )
    return parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]


_ORIGINAL_COLUMNS = (
    "pk",
    "country_code",
    "party_id",
    "cdr_id",
    "status",
    "reason",
    "payout_account_id",
    "assignment_id",
    "total_cost_excl_vat",
    "total_energy",
    "fee",
    "payout",
    "terms_commission_percent",
    "terms_fee_per_kwh",
    "terms_fee_per_session",
    "terms_currency",
)


def _originals(cdrs: Sequence) -> list[dict]:
    """Each credit's stored original, as a dict of `_ORIGINAL_COLUMNS`."""
    credits = [cdr for cdr in cdrs if cdr.credit]
    if not credits:
        return []
    by_pk = {cdr.credited_cdr_id for cdr in credits if cdr.credited_cdr_id}
    references = {
        cdr.credit_reference_id
        for cdr in credits
        if cdr.credited_cdr_id is None and cdr.credit_reference_id
    }
    return list(
        CDR.objects.filter(
            Q(pk__in=by_pk)
            | Q(
                country_code__in={cdr.country_code for cdr in credits},
                party_id__in={cdr.party_id for cdr in credits},
                cdr_id__in=references,
                credit=False,
            )
        )
        .order_by()
        .values(*_ORIGINAL_COLUMNS)
    )


def _credited_elsewhere(originals: Sequence[dict], cdrs: Sequence) -> dict[int, list[Decimal]]:
    """Per stored original: the excl.-VAT amount and energy its rated or invoiced credits outside
    this batch already reverse (one grouped query)."""
    if not originals:
        return {}
    rows = (
        CDR.objects.filter(
            credited_cdr__in=[row["pk"] for row in originals],
            credit=True,
            rating_status=CDRStatus.RATED,  # rated or invoiced: an invoiced CDR's rating is rated
        )
        .exclude(pk__in=[cdr.pk for cdr in cdrs if cdr.pk is not None])
        .order_by()
        .values("credited_cdr")
        .annotate(amount=Sum(Abs("total_cost_excl_vat")), energy=Sum(Abs("total_energy")))
    )
    return {row["credited_cdr"]: [row["amount"], row["energy"]] for row in rows}


def _stored_terms(row: dict) -> FeeTerms | None:
    if row["terms_commission_percent"] is None:
        return None
    return FeeTerms(
        commission_percent=row["terms_commission_percent"],
        fee_per_kwh=row["terms_fee_per_kwh"],
        fee_per_session=row["terms_fee_per_session"],
        currency=row["terms_currency"],
    )


@dataclass
class _BatchContext:
    """What the rules need for one batch, loaded with a constant number of queries."""

    evses: list
    open_assignment: dict[int, _OpenAssignment]
    originals_by_pk: dict[int, _Original]
    originals_by_key: dict[tuple, _Original]
    credited: dict[int | tuple, list[Decimal]]


def _open_assignments(cdrs, evses, known_evses, known_assignments) -> list[tuple]:
    """(EVSE pk, open assignment pk, account pk) of the charges' EVSEs: known ones, then one query."""
    rows = [(evse_pk, pk, account_pk) for evse_pk, (pk, account_pk) in known_assignments.items()]
    assigned_evses = {
        evse.pk
        for evse, cdr in zip(evses, cdrs, strict=True)
        if evse and not cdr.credit and evse.pk not in known_evses
    }
    if assigned_evses:
        rows += list(
            Assignment.objects.open()
            .filter(evse_id__any=assigned_evses)
            .order_by()
            .values_list("evse_id", "pk", "payout_account_id")
        )
    return rows


def _load_context(cdrs, known_evses, known_assignments) -> _BatchContext:
    evses = _evses(cdrs, known_evses)
    assignments = _open_assignments(cdrs, evses, known_evses, known_assignments)
    originals = _originals(cdrs)
    account_pks = {row[2] for row in assignments} | {
        row["payout_account_id"] for row in originals if row["payout_account_id"]
    }
    accounts = PayoutAccount.objects.order_by().in_bulk(account_pks) if account_pks else {}
    context = _BatchContext(
        evses=evses,
        open_assignment={
            evse_pk: _OpenAssignment(pk, accounts[account_pk])
            for evse_pk, pk, account_pk in assignments
        },
        originals_by_pk={},
        originals_by_key={},
        credited=_credited_elsewhere(originals, cdrs),
    )
    for row in originals:
        account = accounts.get(row["payout_account_id"])
        original = _Original(
            row["pk"],
            row["cdr_id"],
            row["status"],
            row["reason"],
            account,
            row["assignment_id"],
            row["total_cost_excl_vat"],
            row["total_energy"],
            row["fee"],
            row["payout"],
            _stored_terms(row) or (account and account_terms(account)),
        )
        context.originals_by_pk[row["pk"]] = original
        context.originals_by_key[(row["country_code"], row["party_id"], row["cdr_id"])] = original
    return context


def _original_rated_in_batch(member, outcome: RatingOutcome) -> _Original:
    """A credit counts with its original's new rating when both are in the batch."""
    return _Original(
        member.pk,
        member.cdr_id,
        outcome.status,
        outcome.reason,
        outcome.payout_account,
        outcome.assignment_id,
        member.total_cost_excl_vat,
        member.total_energy,
        outcome.fee,
        outcome.payout,
        outcome.terms,
    )


def _rate_credit(cdrs, position, ratings, context: _BatchContext, now) -> Rating:
    cdr = cdrs[position]
    key = (cdr.country_code, cdr.party_id, cdr.credit_reference_id)
    original = context.originals_by_pk.get(cdr.credited_cdr_id) or context.originals_by_key.get(key)
    # A stored original may be in this batch too (re-rate); an unsaved one only is (import).
    at = ratings.positions.get(key if original is None else original.pk)
    if at is not None and ratings.done[at] is not None and at != position:
        original = _original_rated_in_batch(cdrs[at], ratings.done[at].outcome)
    else:
        at = None
    if original is not None and original.pk is not None and original.pk == cdr.pk:
        original = None
    credit_key = None if original is None else (original.pk or ("position", at))
    credited = context.credited.setdefault(credit_key, [Decimal(0), Decimal(0)])
    outcome = evaluate_rating(
        cdr=cdr,
        evse=context.evses[position],
        assignment=None,
        original=original,
        now=now,
        credited=tuple(credited),
    )
    if outcome.status == CDRStatus.RATED:
        # Later credits of the same original in this batch count this one.
        credited[0] += abs(cdr.total_cost_excl_vat)
        credited[1] += abs(cdr.total_energy)
    return Rating(
        evse=context.evses[position], original=original, original_position=at, outcome=outcome
    )


@dataclass
class _Ratings:
    done: list
    positions: dict = field(default_factory=dict)  # a charge's pk and OCPI key → its position


def _rate_charges(cdrs, context: _BatchContext, now) -> _Ratings:
    ratings = _Ratings(done=[None] * len(cdrs))
    for position, cdr in enumerate(cdrs):
        if cdr.credit:
            continue
        if cdr.pk is not None:
            ratings.positions[cdr.pk] = position
        ratings.positions[(cdr.country_code, cdr.party_id, cdr.cdr_id)] = position
        evse = context.evses[position]
        ratings.done[position] = Rating(
            evse=evse,
            original=None,
            original_position=None,
            outcome=evaluate_rating(
                cdr=cdr,
                evse=evse,
                assignment=context.open_assignment.get(getattr(evse, "pk", None)),
                original=None,
                now=now,
            ),
        )
    return ratings


def rate_batch(
    cdrs: Sequence,
    *,
    now: datetime,
    known_evses: dict[int, _EVSE] | None = None,
    known_assignments: dict[int, tuple[int, int]] | None = None,
) -> list[Rating]:
    """Rate CDRs in memory with a constant number of queries; returns one Rating per CDR, in order.

    `cdrs` are CDR model instances (saved or not) or loaded rows with the CDR's attribute names
    (`pk`, `evse_id`, `credited_cdr_id`, the fields the rules read). Nothing is written. Originals
    are rated before credits, so a credit sees its original's rating from the same batch, also
    when the original is not saved yet (matched by country_code, party_id and CDR id). Credits
    are rated in batch order, each counting the credits of its original rated before it.

    A caller that loaded the CDRs' EVSEs with them passes `known_evses` (pk → EVSE) and, for
    exactly those EVSEs, `known_assignments` (EVSE pk → (open assignment pk, account pk); an
    EVSE missing there has none); only the others are looked up.
    """
    context = _load_context(cdrs, known_evses or {}, known_assignments or {})
    ratings = _rate_charges(cdrs, context, now)
    for position, cdr in enumerate(cdrs):
        if cdr.credit:
            ratings.done[position] = _rate_credit(cdrs, position, ratings, context, now)
    return ratings.done


# Writing: set-based, one statement per batch whatever its size.


_TERMS_COLUMNS = (
    ("terms_commission_percent", "numeric"),
    ("terms_fee_per_kwh", "numeric"),
    ("terms_fee_per_session", "numeric"),
    ("terms_currency", "text"),
)
_CDR_RATING_COLUMNS = (
    ("id", "bigint"),
    ("evse_id", "bigint"),
    ("credited_cdr_id", "bigint"),
    ("rating_status", "text"),
    ("reason", "text"),
    ("reason_detail", "text"),
    ("payout_account_id", "bigint"),
    ("assignment_id", "bigint"),
    ("fee", "numeric"),
    ("payout", "numeric"),
    *_TERMS_COLUMNS,
    ("rated_at", "timestamptz"),
)
_HISTORY_COLUMNS = (
    ("cdr_id", "bigint"),
    ("at", "timestamptz"),
    ("actor_id", "bigint"),
    ("actor_label", "text"),
    ("status", "text"),
    ("reason", "text"),
    ("reason_detail", "text"),
    ("payout_account_id", "bigint"),
    ("fee", "numeric"),
    ("payout", "numeric"),
    *_TERMS_COLUMNS,
)


def terms_values(terms: FeeTerms | None) -> tuple:
    """The stored terms columns of a rating (empty when it applied none)."""
    if terms is None:
        return (None, None, None, "")
    return (terms.commission_percent, terms.fee_per_kwh, terms.fee_per_session, terms.currency)


def rated_at(outcome: RatingOutcome, now: datetime) -> datetime | None:
    return now if outcome.status == CDRStatus.RATED else None


def record_history(
    ratings: Sequence[tuple[int, RatingOutcome]], *, now: datetime, actor=None, actor_name=""
) -> None:
    """One CDRRating row per (CDR pk, outcome), written with one INSERT."""
    label = actor_name or actor_label(actor)
    actor_pk = None if actor is None else actor.pk
    insert_rows(
        CDRRating,
        _HISTORY_COLUMNS,
        [
            (
                pk,
                now,
                actor_pk,
                label,
                outcome.status,
                outcome.reason,
                outcome.reason_detail,
                None if outcome.payout_account is None else outcome.payout_account.pk,
                outcome.fee,
                outcome.payout,
                *terms_values(outcome.terms),
            )
            for pk, outcome in ratings
        ],
    )


def _state(cdr) -> tuple:
    """The stored rating of a CDR (instance or row), comparable with `_new_state`."""
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
        cdr.terms_commission_percent,
        cdr.terms_fee_per_kwh,
        cdr.terms_fee_per_session,
        cdr.terms_currency,
    )


def _new_state(cdr, rating: Rating) -> tuple:
    outcome = rating.outcome
    original = rating.original
    credited = cdr.credited_cdr_id if original is None else original.pk
    return (
        rating.evse_pk,
        credited,
        outcome.status,
        outcome.reason,
        outcome.reason_detail,
        rating.account_pk,
        outcome.assignment_id,
        outcome.fee,
        outcome.payout,
        *terms_values(outcome.terms),
    )


def _write_changed(
    changed: Sequence[tuple[int, tuple, RatingOutcome]], *, now: datetime, actor, actor_name: str
) -> None:
    """Write the new rating of each changed CDR (pk, new state, outcome) and its history row."""
    update_from_rows(
        CDR,
        _CDR_RATING_COLUMNS,
        [(pk, *state, rated_at(outcome, now)) for pk, state, outcome in changed],
    )
    record_history(
        [(pk, outcome) for pk, _, outcome in changed], now=now, actor=actor, actor_name=actor_name
    )


def rate_cdr(*, cdr: CDR, actor=None, actor_name: str = "") -> CDR:
    """Rate one stored CDR (R5) in the caller's transaction; saves it and records the rating.

    An invoiced CDR is returned unchanged; so is a CDR whose rating does not change (no write,
    no history row). The rating lock is held first, so no invoice run takes the CDR meanwhile.
    """
    with transaction.atomic():
        hold_rating_lock()
        current = (
            CDR.objects.select_for_update(no_key=True, of=("self",))
            .filter(pk=cdr.pk)
            .values_list("status", flat=True)
            .first()
        )
        if current is None:
            raise CDR.DoesNotExist(f"CDR {cdr.pk} does not exist.")
        cdr.status = current
        if current == CDRStatus.INVOICED:
            return cdr
        now = timezone.now()
        (rating,) = rate_batch([cdr], now=now)
        old, new = _state(cdr), _new_state(cdr, rating)
        if old != new:
            _write_changed(
                [(cdr.pk, new, rating.outcome)], now=now, actor=actor, actor_name=actor_name
            )
            apply_rating(cdr, rating, now)
    return cdr


def apply_rating(cdr, rating: Rating, now: datetime) -> None:
    """Set a CDR's rating attributes (by attribute name: `evse_id`, `payout_account_id`, …) to
    what `rate_batch` decided; nothing is saved. Works on model instances and plain objects."""
    outcome = rating.outcome
    if rating.evse is not None:
        cdr.evse_id = rating.evse.pk
    if rating.original is not None and rating.original.pk is not None:
        cdr.credited_cdr_id = rating.original.pk
    cdr.rating_status = outcome.status
    cdr.reason = outcome.reason
    cdr.reason_detail = outcome.reason_detail
    cdr.payout_account_id = rating.account_pk
    cdr.assignment_id = outcome.assignment_id
    cdr.fee = outcome.fee
    cdr.payout = outcome.payout
    (
        cdr.terms_commission_percent,
        cdr.terms_fee_per_kwh,
        cdr.terms_fee_per_session,
        cdr.terms_currency,
    ) = terms_values(outcome.terms)
    cdr.rated_at = rated_at(outcome, now)


# Re-rating: keyset batches of plain rows (never `raw`), locked, only changed rows written.


class _StoredCDR(NamedTuple):
    """The columns of a stored CDR that the rules and the change check read."""

    pk: int
    country_code: str
    party_id: str
    cdr_id: str
    start_date_time: datetime
    end_date_time: datetime
    evse_id: int | None
    evse_uid: str
    evse_id_raw: str
    currency: str
    total_energy: Decimal
    total_cost_excl_vat: Decimal
    credit: bool
    credit_reference_id: str
    credited_cdr_id: int | None
    status: str
    reason: str
    reason_detail: str
    payout_account_id: int | None
    assignment_id: int | None
    fee: Decimal | None
    payout: Decimal | None
    terms_commission_percent: Decimal | None
    terms_fee_per_kwh: Decimal | None
    terms_fee_per_session: Decimal | None
    terms_currency: str


# The stored row: `status` is read from `rating_status` (the batch holds no CDR on a statement).
_STORED_COLUMNS = tuple(
    {"pk": "id", "status": "rating_status"}.get(name, name) for name in _StoredCDR._fields
)
_JOINED_COLUMNS = ("evse__evse_id", "open_assignment__pk", "open_assignment__payout_account_id")


@dataclass
class _Batch:
    cdrs: list[_StoredCDR]  # those not on a statement: the ones re-rated
    evses: dict[int, _EVSE]
    assignments: dict[int, tuple[int, int]]
    looked_at: int = 0
    last_pk: int = 0


def _next_batch(cdrs: QuerySet, *, after: int, size: int, lock: bool) -> _Batch:
    """The next `size` CDRs of `cdrs` by primary key after `after`, locked if `lock`, with their
    EVSE's EVSE ID and open assignment joined in; those on a statement are then left aside.

    Two queries: the locking one (only the CDR rows are locked; joining saves the two lookups by
    thousands of ids that `rate_batch` would make), then the statement lines of the batch's key
    range. Statement lines are not joined into the locking query: with the line table's
    statistics out of date (after a large rolled-back run) PostgreSQL took that anti-join to
    match one row and nested a scan of all open assignments in it — 76 s for one batch.
    """
    query = (
        cdrs.filter(pk__gt=after)
        .annotate(
            open_assignment=FilteredRelation(
                "evse__assignments", condition=Q(evse__assignments__unassigned_at__isnull=True)
            )
        )
        .order_by("pk")
    )
    if lock:
        query = query.select_for_update(no_key=True, of=("self",))
    batch = _Batch(cdrs=[], evses={}, assignments={})
    width = len(_STORED_COLUMNS)
    rows = list(query.values_list(*_STORED_COLUMNS, *_JOINED_COLUMNS)[:size])
    if not rows:
        return batch
    batch.looked_at, batch.last_pk = len(rows), rows[-1][0]
    on_statement = set(
        StatementLine.objects.filter(cdr_id__gte=rows[0][0], cdr_id__lte=batch.last_pk).values_list(
            "cdr_id", flat=True
        )
    )
    for row in rows:
        if row[0] in on_statement:
            continue
        cdr = _StoredCDR._make(row[:width])
        batch.cdrs.append(cdr)
        evse_code, assignment_pk, account_pk = row[width:]
        if cdr.evse_id is not None and cdr.evse_id not in batch.evses:
            batch.evses[cdr.evse_id] = _EVSE(cdr.evse_id, evse_code)
            if assignment_pk is not None:
                batch.assignments[cdr.evse_id] = (assignment_pk, account_pk)
    return batch


def _count(summary: RerateSummary, cdr: _StoredCDR, outcome: RatingOutcome, account_pk) -> None:
    status, old_status = outcome.status, cdr.status
    summary.total += 1
    summary.by_status[status] = summary.by_status.get(status, 0) + 1
    if status == CDRStatus.NOT_INVOICEABLE:
        summary.by_reason[outcome.reason] = summary.by_reason.get(outcome.reason, 0) + 1
    if (old_status, cdr.reason, cdr.payout_account_id) != (status, outcome.reason, account_pk):
        summary.changed += 1
    if status == CDRStatus.RATED and old_status != CDRStatus.RATED:
        summary.newly_rated += 1
        summary.newly_rated_payout += outcome.payout
        by_currency = summary.newly_rated_payout_by_currency
        by_currency[cdr.currency] = by_currency.get(cdr.currency, Decimal("0")) + outcome.payout
    if status == CDRStatus.NOT_INVOICEABLE and old_status != CDRStatus.NOT_INVOICEABLE:
        summary.became_not_invoiceable += 1


def _rerate_batch(
    cdrs: QuerySet,
    *,
    after: int,
    size: int,
    summary: RerateSummary,
    dry_run: bool,
    actor,
    actor_name,
) -> _Batch:
    """One batch in its own transaction: load and lock, rate, count, write what changed."""
    with transaction.atomic():
        if not dry_run:
            hold_rating_lock()
        loaded = _next_batch(cdrs, after=after, size=size, lock=not dry_run)
        batch = loaded.cdrs
        if not batch:
            return loaded
        now = timezone.now()
        ratings = rate_batch(
            batch, now=now, known_evses=loaded.evses, known_assignments=loaded.assignments
        )
        changed = []
        for cdr, rating in zip(batch, ratings, strict=True):
            new = _new_state(cdr, rating)
            if new != _state(cdr):
                changed.append((cdr.pk, new, rating.outcome))
            _count(summary, cdr, rating.outcome, rating.account_pk)
        if not dry_run:
            _write_changed(changed, now=now, actor=actor, actor_name=actor_name)
    return loaded


def _record_rerate(summary: RerateSummary, *, actor, actor_name: str) -> None:
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


# A selection this large is re-rated by several processes (settings.RERATE_WORKERS), where it can.
PARALLEL_MIN_CDRS = 50_000


def _rerate_serially(
    cdrs: QuerySet, *, summary: RerateSummary, batch_size: int, progress, **writing
) -> RerateSummary:
    last_pk = 0
    while True:
        loaded = _rerate_batch(cdrs, after=last_pk, size=batch_size, summary=summary, **writing)
        if not loaded.looked_at:
            break
        last_pk = loaded.last_pk
        if progress is not None:
            progress(len(loaded.cdrs))
        # PostgreSQL locks below the LIMIT (Limit → LockRows → scan): a row skipped because it
        # changed while we waited for its lock does not shorten the batch, so short means done.
        if loaded.looked_at < batch_size:
            break
    return summary


def _key_ranges(cdrs: QuerySet, parts: int) -> list[Q] | None:
    """`parts` primary-key ranges holding about as many of `cdrs` each; None if too few CDRs."""
    count = cdrs.count()
    if parts < 2 or count < PARALLEL_MIN_CDRS:
        return None
    ordered = cdrs.order_by("pk").values_list("pk", flat=True)
    bounds = [ordered[count * k // parts] for k in range(1, parts)]
    lows = [None, *bounds]
    highs = [*bounds, None]
    return [
        (Q(pk__gte=low) if low is not None else Q()) & (Q(pk__lt=high) if high is not None else Q())
        for low, high in zip(lows, highs, strict=True)
    ]


def _merge(summary: RerateSummary, part: RerateSummary) -> None:
    summary.total += part.total
    summary.changed += part.changed
    summary.newly_rated += part.newly_rated
    summary.newly_rated_payout += part.newly_rated_payout
    summary.became_not_invoiceable += part.became_not_invoiceable
    for mine, theirs in (
        (summary.by_status, part.by_status),
        (summary.by_reason, part.by_reason),
        (summary.newly_rated_payout_by_currency, part.newly_rated_payout_by_currency),
    ):
        for key, value in theirs.items():
            mine[key] = mine.get(key, 0) + value


def _rerate_charges_in_processes(
    cdrs: QuerySet, *, workers: int, summary: RerateSummary, batch_size: int, progress, **writing
) -> bool:
    """Re-rate the charges of a large selection in `workers` processes, one key range each.
    Returns False (nothing done) where that cannot be: inside a transaction, on SQLite, or for
    fewer than PARALLEL_MIN_CDRS charges. Credits are left to the caller, to be re-rated after
    every original (an original may sit in another process's range)."""
    if not can_fork():
        return False
    charges = cdrs.filter(credit=False)
    ranges = _key_ranges(charges, workers)
    if ranges is None:
        return False

    def part(key_range: Q):
        def run(report):
            mine = RerateSummary(dry_run=summary.dry_run)
            return _rerate_serially(
                charges.filter(key_range),
                summary=mine,
                batch_size=batch_size,
                progress=report,
                **writing,
            )

        return run

    for result in run_in_processes([part(key_range) for key_range in ranges], progress=progress):
        _merge(summary, result)
    return True


def rerate_cdrs(
    *,
    cdrs: QuerySet,
    actor=None,
    actor_name: str = "",
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> RerateSummary:
    """Re-rate every not-invoiced CDR of `cdrs` in primary-key batches; invoiced ones are skipped.

    Each batch is its own transaction: one query loads and locks its CDR rows (only the columns
    the rules read, never `raw`), the batch's statement lines are looked up (those CDRs are left
    as they are), `rate_batch` rates the rest with a constant number of queries, and only the
    CDRs whose rating changed are written: one UPDATE … FROM of their rows and one INSERT of their
    history rows. `progress(n)` is called with the size of each finished batch. A dry run
    computes the same summary and writes nothing. The run is recorded as one audit event. `cdrs`
    must not be DISTINCT (rows are locked with FOR NO KEY UPDATE).

    On PostgreSQL, outside a transaction, a selection of PARALLEL_MIN_CDRS or more is re-rated by
    `workers` processes (settings.RERATE_WORKERS): the charges split into key ranges, one per
    process, then the credits here, after all their originals.
    """
    summary = RerateSummary(dry_run=dry_run)
    workers = settings.RERATE_WORKERS if workers is None else workers
    writing = {"dry_run": dry_run, "actor": actor, "actor_name": actor_name}
    common = {"summary": summary, "batch_size": batch_size, "progress": progress, **writing}
    if _rerate_charges_in_processes(cdrs, workers=workers, **common):
        cdrs = cdrs.filter(credit=True)
    _rerate_serially(cdrs, **common)
    if not dry_run:
        _record_rerate(summary, actor=actor, actor_name=actor_name)
    return summary
