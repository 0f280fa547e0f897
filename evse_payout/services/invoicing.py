"""Invoice runs (R6): draft payout statements per account, what was left out and why, finalize, discard.

A run is set-based and its number of queries depends neither on the number of CDRs nor on the
number of accounts: the CDRs left out are recorded with `INSERT … SELECT`, one `UPDATE … FROM`
puts every taken CDR on its account's statement, and one `GROUP BY` sums all statements, each
line rounded to the currency in SQL as `money.round_money` would. Nothing proportional to the
number of CDRs is held in memory.

Where the time goes (issue 6): the UPDATE writes a new version of every taken CDR row and an entry
in each index of the CDR table that the row is in (an index on `status` or `invoice` rules out
PostgreSQL's HOT updates), so the CDR table keeps only the indexes pages and services use.

Which CDRs a run takes: `rated`, not on a statement, ended before the cutoff (00:00 UTC), and the
CDR's EVSE has an open assignment **to the account the CDR was rated for**. The account is what
matters, not the assignment row: an EVSE unassigned and assigned again to the same account still
pays that account, so its CDRs are taken without re-rating. Everything else rated before the cutoff
is left out and recorded as an exclusion of the run:

- the EVSE has no open assignment → the CDR becomes `not_invoiceable` / `evse_unassigned`;
- the EVSE is open-assigned to another account → `assignment_changed`, left `rated` (re-rate it);
- the account's currency is no longer the CDR's → `currency_mismatch`, left `rated` (re-rate it).

CDRs already `not_invoiceable` that ended before the cutoff are recorded too, under their reason,
so the run page says what is left out and why.

Exactly once: `CDR.invoice` is one foreign key, so a CDR is on at most one statement; each run
holds a row lock on the invoicing lock row (InvoiceNumberSequence year 0) for its whole
transaction, so a second run waits and then finds the CDRs taken; and the UPDATE re-checks
`invoice IS NULL AND status = 'rated'`.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Count,
    DateTimeField,
    DecimalField,
    Exists,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Round
from django.utils import timezone

from ..models import (
    CDR,
    Assignment,
    AuditAction,
    CDRRating,
    CDRReason,
    CDRStatus,
    Invoice,
    InvoiceNumberSequence,
    InvoiceRun,
    InvoiceRunExclusion,
    InvoiceStatus,
    PayoutAccount,
)
from ..money import minor_unit, round_money
from .audit import actor_label, record_audit_event

# The InvoiceNumberSequence row of "year 0" is never a real year: runs lock it to run one at a time.
RUN_LOCK_YEAR = 0
# The Invoice fields a run fills from its lines.
STATEMENT_TOTALS = (
    "cdr_count",
    "total_excl_vat",
    "total_vat",
    "total_incl_vat",
    "total_fees",
    "total_credits",
    "net_payout",
    "period_start",
    "period_end",
)
NUMBER_FORMAT = "PS-{year}-{number:06d}"

Progress = Callable[[int, int], None]


class InvoicingError(Exception):
    """A rule refused the change; the message says why and nothing was changed."""


@dataclass(frozen=True)
class StatementSummary:
    account_id: int
    account_name: str
    currency: str
    cdr_count: int
    total_excl_vat: Decimal
    total_vat: Decimal
    total_incl_vat: Decimal
    total_fees: Decimal
    total_credits: Decimal
    net_payout: Decimal
    period_start: datetime | None
    period_end: datetime | None


@dataclass(frozen=True)
class ExclusionSummary:
    reason: str
    count: int
    amounts: dict[str, Decimal]  # currency → collected excl. VAT of the CDRs left out

    @property
    def label(self) -> str:
        return CDRReason(self.reason).label if self.reason in CDRReason.values else self.reason


@dataclass(frozen=True)
class InvoiceRunSummary:
    cutoff: date
    statements: list[StatementSummary]
    exclusions: list[ExclusionSummary]
    # Not part of the figures: a dry run has no run, so `dry == real` compares the figures only.
    dry_run: bool = field(default=False, compare=False)
    run_id: int | None = field(default=None, compare=False)

    @property
    def cdr_count(self) -> int:
        return sum(statement.cdr_count for statement in self.statements)

    @property
    def excluded_count(self) -> int:
        return sum(exclusion.count for exclusion in self.exclusions)

    def totals_by_currency(self) -> dict[str, dict[str, Decimal]]:
        totals: dict[str, dict[str, Decimal]] = {}
        for statement in self.statements:
            sums = totals.setdefault(
                statement.currency,
                {"total_excl_vat": Decimal(0), "total_fees": Decimal(0), "net_payout": Decimal(0)},
            )
            sums["total_excl_vat"] += statement.total_excl_vat
            sums["total_fees"] += statement.total_fees
            sums["net_payout"] += statement.net_payout
        return totals


def cutoff_instant(cutoff: date) -> datetime:
    """CDRs that ended before this instant (00:00 UTC of the cutoff day) belong to the run."""
    return datetime.combine(cutoff, time.min, tzinfo=UTC)


def _open_assignment():
    return Assignment.objects.filter(evse=OuterRef("evse"), unassigned_at__isnull=True)


@dataclass(frozen=True)
class _Candidates:
    """The rated CDRs a run looks at: the ones it takes, and the others with the reason why not."""

    pending: QuerySet
    eligible: Q
    left_out_reason: Case


def _candidates(cutoff: date) -> _Candidates:
    pending = CDR.objects.filter(
        status=CDRStatus.RATED, invoice__isnull=True, end_date_time__lt=cutoff_instant(cutoff)
    ).order_by()
    open_assignment = Exists(_open_assignment())
    same_account = Exists(_open_assignment().filter(payout_account=OuterRef("payout_account")))
    account_currency = Exists(
        PayoutAccount.objects.filter(pk=OuterRef("payout_account"), currency=OuterRef("currency"))
    )
    # A credit reverses money owed to the account its original was rated for, wherever the EVSE
    # is assigned now (its EVSE may even be unknown): it follows the account, not the assignment.
    follows_account = Q(credit=True) | same_account
    charge = Q(credit=False)
    return _Candidates(
        pending=pending,
        eligible=follows_account & account_currency,
        # Every pending CDR that is not eligible has exactly one of these reasons.
        left_out_reason=Case(
            When(charge & ~open_assignment, then=Value(CDRReason.EVSE_UNASSIGNED.value)),
            When(charge & ~same_account, then=Value(CDRReason.ASSIGNMENT_CHANGED.value)),
            default=Value(CDRReason.CURRENCY_MISMATCH.value),
            output_field=CharField(),
        ),
    )


def _insert_select(model, columns: list[str], rows: QuerySet) -> None:
    """`INSERT INTO model (columns) SELECT …`: copies rows inside the database, none through Python."""
    select_sql, params = rows.query.sql_with_params()
    quote = connection.ops.quote_name
    column_sql = ", ".join(quote(model._meta.get_field(name).column) for name in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(model._meta.db_table)} ({column_sql}) {select_sql}", params
        )


def _record_exclusions(*, run: InvoiceRun, cdrs: QuerySet, reason) -> None:
    """One InvoiceRunExclusion per CDR of `cdrs` with `reason` (a field name or an expression)."""
    rows = cdrs.order_by().values_list(
        Value(run.pk, output_field=BigIntegerField()),
        "pk",
        reason,
        "total_cost_excl_vat",
    )
    _insert_select(InvoiceRunExclusion, ["run", "cdr", "reason", "amount_excl_vat"], rows)


def _mark_unassigned(*, run: InvoiceRun, now: datetime, actor, actor_name: str) -> None:
    """The CDRs recorded as `evse_unassigned` become not invoiceable, with a rating history row."""
    recorded = InvoiceRunExclusion.objects.filter(run=run, reason=CDRReason.EVSE_UNASSIGNED).values(
        "cdr_id"
    )
    detail = (
        f"The EVSE was unassigned after rating, so invoice run {run.pk} left this CDR out — "
        "assign the EVSE, then re-rate."
    )
    CDR.objects.filter(
        ~Exists(_open_assignment()),
        pk__in=recorded,
        status=CDRStatus.RATED,
        invoice__isnull=True,
    ).update(
        status=CDRStatus.NOT_INVOICEABLE,
        reason=CDRReason.EVSE_UNASSIGNED,
        reason_detail=detail,
        payout_account=None,
        assignment=None,
        fee=None,
        payout=None,
        rated_at=now,
    )
    marked = CDR.objects.filter(
        pk__in=recorded, status=CDRStatus.NOT_INVOICEABLE, rated_at=now
    ).order_by()
    # A CDR re-rated by someone else between the two statements is not left out after all.
    InvoiceRunExclusion.objects.filter(run=run, reason=CDRReason.EVSE_UNASSIGNED).exclude(
        cdr__in=marked.values("pk")
    ).delete()
    history = marked.values_list(
        "pk",
        Value(now, output_field=DateTimeField()),
        Value(actor.pk if actor else None, output_field=BigIntegerField()),
        Value(actor_name or actor_label(actor), output_field=CharField()),
        "status",
        "reason",
        "reason_detail",
    )
    _insert_select(
        CDRRating,
        ["cdr", "at", "actor", "actor_label", "status", "reason", "reason_detail"],
        history,
    )


def _where_sql(queryset: QuerySet) -> tuple[str, list]:
    """The WHERE clause of a one-table CDR queryset, naming the table itself (for UPDATE … FROM)."""
    query = queryset.query
    table = CDR._meta.db_table
    joined = [alias for alias, count in query.alias_refcount.items() if count and alias != table]
    assert not joined, f"the queryset must not join ({joined})"
    compiler = query.get_compiler(connection=connection)
    sql, params = compiler.compile(query.where)
    return sql, list(params)


def _take_onto_statements(*, run: InvoiceRun, eligible: QuerySet) -> int:
    """Put every eligible CDR on its account's statement of the run: one UPDATE for all accounts.

    The WHERE re-checks `status = 'rated' AND invoice IS NULL` (it is part of `eligible`), so a CDR
    changed since it was looked at is not taken. Returns how many CDRs were taken.
    """
    quote = connection.ops.quote_name
    cdr_table = quote(CDR._meta.db_table)
    where, params = _where_sql(eligible)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {cdr_table} SET {quote('invoice_id')} = statement.{quote('id')}, "
            f"{quote('status')} = %s "
            f"FROM {quote(Invoice._meta.db_table)} statement "
            f"WHERE statement.{quote('run_id')} = %s "
            f"AND statement.{quote('payout_account_id')} = {cdr_table}.{quote('payout_account_id')} "
            f"AND {where}",
            [CDRStatus.INVOICED, run.pk, *params],
        )
        return cursor.rowcount


def _line_rounded(expression, precision) -> Round:
    """One line amount rounded to the currency as `money.round_money` does (half away from zero).

    SQL ROUND(x, n) rounds half away from zero on PostgreSQL (numeric) and SQLite, which is
    `ROUND_HALF_UP` of Python's decimal for both signs; a test pins it on both backends.
    """
    return Round(expression, precision, output_field=DecimalField(max_digits=20, decimal_places=4))


def _statement_totals(run: InvoiceRun, currencies: set[str]) -> dict[int, dict]:
    """Each statement's totals in one GROUP BY: its lines rounded to the currency, then added up."""
    precision = Case(
        *(When(currency=currency, then=Value(minor_unit(currency))) for currency in currencies),
        default=Value(2),
        output_field=IntegerField(),
    )
    excl = _line_rounded(F("total_cost_excl_vat"), precision)
    incl = _line_rounded(Coalesce("total_cost_incl_vat", "total_cost_excl_vat"), precision)
    rows = (
        CDR.objects.filter(invoice__run=run)
        .order_by()
        .values("invoice", "invoice__currency")
        .annotate(
            count=Count("pk"),
            excl=Sum(excl),
            incl=Sum(incl),
            fees=Sum(_line_rounded(F("fee"), precision)),
            payout=Sum(_line_rounded(F("payout"), precision)),
            credits=Sum(excl, filter=Q(credit=True), default=Decimal(0)),
            start=Min("start_date_time"),
            end=Max("end_date_time"),
        )
    )
    totals = {}
    for row in rows:
        # The sums are exact in the currency's minor unit; rounding again only drops the float
        # noise SQLite (which stores decimals as REAL) adds to a sum.
        currency = row["invoice__currency"]
        excl_total = round_money(row["excl"], currency)
        incl_total = round_money(row["incl"], currency)
        totals[row["invoice"]] = {
            "cdr_count": row["count"],
            "total_excl_vat": excl_total,
            "total_vat": incl_total - excl_total,
            "total_incl_vat": incl_total,
            "total_fees": round_money(row["fees"], currency),
            "total_credits": round_money(row["credits"], currency),
            "net_payout": round_money(row["payout"], currency),
            "period_start": row["start"],
            "period_end": row["end"],
        }
    return totals


def line_amounts(currency, excl_vat, incl_vat, fee, payout) -> dict[str, Decimal]:
    """One statement line in the currency's minor unit; statement totals are sums of these."""
    excl = round_money(excl_vat, currency)
    incl = round_money(incl_vat if incl_vat is not None else excl_vat, currency)
    return {
        "excl_vat": excl,
        "vat": incl - excl,
        "incl_vat": incl,
        "fee": round_money(fee, currency),
        "payout": round_money(payout, currency),
    }


def _exclusion_summary(run: InvoiceRun) -> list[ExclusionSummary]:
    rows = (
        InvoiceRunExclusion.objects.filter(run=run)
        .values("reason", "cdr__currency")
        .annotate(count=Count("pk"), amount=Sum("amount_excl_vat"))
        .order_by("reason", "cdr__currency")
    )
    counts: dict[str, int] = defaultdict(int)
    amounts: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for row in rows:
        currency = row["cdr__currency"]
        counts[row["reason"]] += row["count"]
        amounts[row["reason"]][currency] = round_money(row["amount"], currency)
    return [
        ExclusionSummary(reason=reason, count=counts[reason], amounts=amounts[reason])
        for reason in sorted(counts)
    ]


def _lock_invoicing() -> None:
    InvoiceNumberSequence.objects.select_for_update().get_or_create(year=RUN_LOCK_YEAR)


def _no_jit() -> None:
    """PostgreSQL's JIT compiles each big statement for ~1 s; a run's statements gain nothing."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")


def run_invoicing(
    *,
    cutoff: date,
    actor=None,
    actor_name: str = "",
    dry_run: bool = False,
    progress: Progress | None = None,
) -> InvoiceRunSummary:
    """Draft one statement per account from the CDRs that ended before `cutoff` (R6).

    A dry run does exactly the same work and rolls it back, so its figures are the real run's;
    it does not take the invoicing lock.
    `progress(advanced, total)` is called once the CDRs are on their statements.

    The number of queries does not depend on the number of CDRs or accounts: the CDRs left out are
    recorded with two `INSERT … SELECT`, every statement is filled by one `UPDATE … FROM`, and all
    statement totals come from one `GROUP BY`.
    """
    with transaction.atomic():
        if not dry_run:
            # The preview reads without the lock: it writes nothing, so it never waits for a run.
            _lock_invoicing()
        _no_jit()
        now = timezone.now()
        label = actor_name or actor_label(actor)
        run = InvoiceRun.objects.create(
            cutoff=cutoff, created_at=now, created_by=actor, created_by_label=label
        )
        candidates = _candidates(cutoff)
        _record_exclusions(
            run=run,
            cdrs=candidates.pending.exclude(candidates.eligible),
            reason=candidates.left_out_reason,
        )
        _mark_unassigned(run=run, now=now, actor=actor, actor_name=label)
        _record_exclusions(
            run=run,
            cdrs=CDR.objects.filter(
                status=CDRStatus.NOT_INVOICEABLE, end_date_time__lt=cutoff_instant(cutoff)
            ).exclude(pk__in=InvoiceRunExclusion.objects.filter(run=run).values("cdr_id")),
            reason="reason",
        )

        # A draft for every account with a pending CDR (the account index answers that per
        # account); the ones that end up with no line are deleted again below.
        accounts = {
            account.pk: account
            for account in PayoutAccount.objects.filter(
                Exists(candidates.pending.filter(payout_account=OuterRef("pk")))
            ).order_by("name", "pk")
        }
        Invoice.objects.bulk_create(
            Invoice(run=run, payout_account=account, currency=account.currency, created_at=now)
            for account in accounts.values()
        )
        taken = _take_onto_statements(
            run=run, eligible=candidates.pending.filter(candidates.eligible)
        )
        if progress:
            progress(taken, taken)
        totals = _statement_totals(run, {account.currency for account in accounts.values()})
        invoices = list(run.invoices.order_by("pk"))
        filled = [invoice for invoice in invoices if invoice.pk in totals]
        for invoice in filled:
            for name, value in totals[invoice.pk].items():
                setattr(invoice, name, value)
        Invoice.objects.bulk_update(filled, list(STATEMENT_TOTALS))
        if len(filled) < len(invoices):
            Invoice.objects.filter(run=run).exclude(pk__in=list(totals)).delete()
        statements = [
            StatementSummary(
                account_id=invoice.payout_account_id,
                account_name=accounts[invoice.payout_account_id].name,
                currency=invoice.currency,
                **totals[invoice.pk],
            )
            for invoice in filled
        ]

        exclusions = _exclusion_summary(run)
        run.cdr_count = sum(statement.cdr_count for statement in statements)
        run.invoice_count = len(statements)
        run.total_excl_vat = sum((s.total_excl_vat for s in statements), Decimal(0))
        run.total_fees = sum((s.total_fees for s in statements), Decimal(0))
        run.total_payout = sum((s.net_payout for s in statements), Decimal(0))
        run.exclusions = {
            exclusion.reason: {
                "count": exclusion.count,
                "amounts": {
                    currency: str(amount) for currency, amount in exclusion.amounts.items()
                },
            }
            for exclusion in exclusions
        }
        run.save()
        record_audit_event(
            action=AuditAction.INVOICE_RUN,
            actor=actor,
            actor_name=label,
            object_count=run.cdr_count,
            summary=(
                f"Invoice run {run.pk} (cutoff {cutoff.isoformat()}): "
                f"{run.invoice_count:,} draft statements, {run.cdr_count:,} CDRs, "
                f"{sum(e.count for e in exclusions):,} CDRs left out"
            ),
            details={"run": run.pk, "cutoff": cutoff.isoformat(), "exclusions": run.exclusions},
        )
        if dry_run:
            transaction.set_rollback(True)
    return InvoiceRunSummary(
        cutoff=cutoff,
        statements=statements,
        exclusions=exclusions,
        dry_run=dry_run,
        run_id=None if dry_run else run.pk,
    )


def _locked_draft(invoice: Invoice, verb: str) -> Invoice:
    locked = Invoice.objects.select_for_update().select_related("payout_account").get(pk=invoice.pk)
    if locked.status != InvoiceStatus.DRAFT:
        raise InvoicingError(
            f"{locked} is {locked.get_status_display().lower()}; only draft statements can be "
            f"{verb}. Nothing was changed."
        )
    return locked


def _finalize_locked(invoice: Invoice, sequence: InvoiceNumberSequence, now, actor) -> None:
    sequence.last_number += 1
    invoice.number = NUMBER_FORMAT.format(year=sequence.year, number=sequence.last_number)
    invoice.status = InvoiceStatus.FINAL
    invoice.finalized_at = now
    invoice.finalized_by = actor
    invoice.save(update_fields=["number", "status", "finalized_at", "finalized_by"])


def _number_sequence(now) -> InvoiceNumberSequence:
    sequence, _ = InvoiceNumberSequence.objects.select_for_update().get_or_create(
        year=timezone.localdate(now).year
    )
    return sequence


def finalize_invoice(*, invoice: Invoice, actor) -> Invoice:
    """Give a draft statement the next number of the year and make it final (immutable)."""
    with transaction.atomic():
        locked = _locked_draft(invoice, "finalized")
        now = timezone.now()
        sequence = _number_sequence(now)
        _finalize_locked(locked, sequence, now, actor)
        sequence.save(update_fields=["last_number"])
        record_audit_event(
            action=AuditAction.INVOICE_FINALIZE,
            actor=actor,
            payout_account=locked.payout_account,
            object_count=locked.cdr_count,
            summary=f"Finalized payout statement {locked.number} for “{locked.payout_account}”",
            details={"invoice": locked.pk, "number": locked.number, "run": locked.run_id},
        )
    return locked


def finalize_run(*, run: InvoiceRun, actor) -> list[Invoice]:
    """Finalize every draft statement of a run, numbered in account order, in one transaction."""
    with transaction.atomic():
        drafts = list(
            Invoice.objects.select_for_update(of=("self",))
            .filter(run=run, status=InvoiceStatus.DRAFT)
            .select_related("payout_account")
            .order_by("payout_account__name", "pk")
        )
        if not drafts:
            raise InvoicingError(f"Invoice run {run.pk} has no draft statements to finalize.")
        now = timezone.now()
        sequence = _number_sequence(now)
        for invoice in drafts:
            _finalize_locked(invoice, sequence, now, actor)
        sequence.save(update_fields=["last_number"])
        record_audit_event(
            action=AuditAction.INVOICE_FINALIZE,
            actor=actor,
            object_count=len(drafts),
            summary=(
                f"Finalized {len(drafts):,} payout statements of invoice run {run.pk} "
                f"({drafts[0].number} to {drafts[-1].number})"
            ),
            details={"run": run.pk, "numbers": [invoice.number for invoice in drafts]},
        )
    return drafts


def discard_invoice(*, invoice: Invoice, actor) -> int:
    """Discard a draft statement; its CDRs go back to `rated` for a later run. Returns how many."""
    with transaction.atomic():
        locked = _locked_draft(invoice, "discarded")
        released = CDR.objects.filter(invoice=locked).update(invoice=None, status=CDRStatus.RATED)
        locked.status = InvoiceStatus.DISCARDED
        locked.discarded_at = timezone.now()
        locked.discarded_by = actor
        locked.save(update_fields=["status", "discarded_at", "discarded_by"])
        record_audit_event(
            action=AuditAction.INVOICE_DISCARD,
            actor=actor,
            payout_account=locked.payout_account,
            object_count=released,
            summary=(
                f"Discarded draft statement {locked.pk} of “{locked.payout_account}”; "
                f"{released:,} CDRs released"
            ),
            details={"invoice": locked.pk, "run": locked.run_id},
        )
    invoice.refresh_from_db()
    return released
