"""Invoice runs (R6): draft payout statements per account, what was left out and why, finalize, discard.

A run is set-based and its number of queries depends neither on the number of CDRs nor on the
number of accounts: one `INSERT … SELECT` puts every taken CDR on its account's statement (a
narrow `StatementLine` row per CDR; the CDR rows themselves are not written), one
`GROUP BY` sums all statements, and what was left out is recorded compactly by one
`INSERT … SELECT … GROUP BY` (count and amount per reason, account and currency; the CDRs
themselves are found again by the same rule, `left_out_cdrs`). Lines
keep their 4 decimals; each statement figure is the exact sum rounded once to the currency's minor
unit (`money.round_sum`). Nothing proportional to the number of CDRs is held in memory.

Where the time went (issues 6 and 14): membership used to be a column of the CDR row, and the run
rewrote every taken CDR row with an entry in each of its indexes (~75 % of a run). Now a CDR's
`status` reads `invoiced` because it has a line, so taking a CDR writes one narrow row.

Which CDRs a run takes: `rated`, not on a statement, ended before the cutoff (00:00 in
settings.BUSINESS_TIME_ZONE), and the
CDR's EVSE has an open assignment **to the account the CDR was rated for**. The account is what
matters, not the assignment row: an EVSE unassigned and assigned again to the same account still
pays that account, so its CDRs are taken without re-rating. Everything else rated before the cutoff
is left out and counted in the run's exclusions:

- the EVSE has no open assignment → the CDR becomes `not_invoiceable` / `evse_unassigned`;
- the EVSE is open-assigned to another account → `assignment_changed`, left `rated` (re-rate it);
- the account's currency is no longer the CDR's → `currency_mismatch`, left `rated` (re-rate it).

A credit is taken only with or after its original: once the run's charges are on their
statements, the credits whose original is on a statement follow; the others become
`not_invoiceable` / `original_not_invoiced` (re-rating releases them).

CDRs already `not_invoiceable` that ended before the cutoff are counted too, under their reason,
so the run page says what is left out and why.

The CPO's own account gets an internal revenue report (`Invoice.kind`), never a numbered
statement. A statement whose payable amount (net payout plus the balance brought forward) is ≤ 0
or below the account's minimum payout is finalized as carried forward and brought forward into the
account's next statement. Finalize freezes the payee and fee terms onto the statement.

Exactly once: a statement line's primary key is its CDR, so a CDR is on at most one statement;
each run holds a row lock on the invoicing lock row (InvoiceNumberSequence year 0) for its whole
transaction, so a second run waits and then finds the CDRs taken. Whatever changes the rating of
a stored CDR (re-rate, `rate_cdr`) holds the same row in share mode (`hold_rating_lock`), so no
rating changes under a run: the run reads each CDR's rating once and puts it on a statement
without writing the CDR row.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Count,
    Exists,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.utils import timezone

from ..models import (
    AuditAction,
    CDRReason,
    CDRStatus,
    Invoice,
    InvoiceKind,
    InvoiceNumberSequence,
    InvoiceRun,
    InvoiceRunExclusion,
    InvoiceStatus,
    PayoutAccount,
    RunScope,
    StatementLine,
)
from ..money import round_sum
from .audit import actor_label, record_audit_event
from .bulk_sql import insert_select, update_from_rows
from .documents import (
    DocumentError,
    MissingMasterData,
    issue_statement_documents,
    master_data_message,
    master_data_problems,
)
from .locks import lock_invoicing
from .run_scope import create_scope, drop_scope, hold, looked_at

# The Invoice fields a run fills from its lines.
STATEMENT_TOTALS = (
    "cdr_count",
    "total_excl_vat",
    "total_vat",
    "total_incl_vat",
    "total_fees",
    "total_credits",
    "net_payout",
    "payable",
    "period_start",
    "period_end",
)
# The SQL types of the STATEMENT_TOTALS that are not amounts.
STATEMENT_COLUMN_TYPES = {
    "cdr_count": "integer",
    "period_start": "timestamptz",
    "period_end": "timestamptz",
}
NUMBER_FORMAT = "PS-{year}-{number:06d}"

Progress = Callable[[int, int], None]


class InvoicingError(Exception):
    """A rule refused the change; the message says why and nothing was changed."""


class MasterDataMissing(InvoicingError):
    """Finalize refused: these Sub-CPOs lack what a self-billed invoice needs (`missing`)."""

    def __init__(self, missing: list[MissingMasterData]):
        super().__init__(master_data_message(missing))
        self.missing = missing


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
    payable: Decimal
    period_start: datetime | None
    period_end: datetime | None
    is_revenue_report: bool = False
    balance_brought_forward: Decimal = Decimal(0)


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


def business_time_zone() -> ZoneInfo:
    return ZoneInfo(settings.BUSINESS_TIME_ZONE)


def cutoff_instant(cutoff: date) -> datetime:
    """CDRs that ended before this instant belong to the run: 00:00 of the cutoff day in the
    CPO's business time zone (zoneinfo gives the day's own UTC offset, summer or winter time)."""
    return datetime.combine(cutoff, time.min, tzinfo=business_time_zone())


def run_cutoff_instant(run: InvoiceRun) -> datetime:
    """The run's cutoff instant in the time zone the run used (settings may change later)."""
    return datetime.combine(run.cutoff, time.min, tzinfo=ZoneInfo(run.time_zone))


def left_out_cdrs(run: InvoiceRun) -> QuerySet:
    """The CDRs the run left out, by the rule the run applied, on today's data; each annotated
    with `left_out_reason`.

    The run stores only counts and amounts per reason, account and currency; this rule finds the
    CDRs themselves: ended before the run's cutoff, on no statement, and either not invoiceable
    (under their own reason) or rated but not eligible. For a run of one account: that account's
    CDRs and those the run itself made not invoiceable (rated at the run's start). A CDR re-rated
    since the run shows under its reason of today.
    """
    held_by_run = Q(rating_status=CDRStatus.NOT_INVOICEABLE, rated_at=run.created_at)
    return looked_at(run, cutoff=run_cutoff_instant(run), also=held_by_run).exclude(
        left_out_reason=""
    )


# The steps of a run, in order: each reads the run's scope (`services.run_scope`), not the CDRs.


def _hold_unassigned(*, run: InvoiceRun, now: datetime, actor, actor_name: str) -> None:
    """Charges whose EVSE has no open assignment become not invoiceable (`evse_unassigned`)."""
    hold(
        RunScope.objects.filter(
            reason=CDRReason.EVSE_UNASSIGNED, rating_status=CDRStatus.RATED, credit=False
        ),
        reason=CDRReason.EVSE_UNASSIGNED,
        detail=(
            f"The EVSE was unassigned after rating, so invoice run {run.pk} left this CDR out — "
            "assign the EVSE, then re-rate."
        ),
        now=now,
        actor=actor,
        actor_name=actor_name,
    )


def _taken(**filters) -> QuerySet:
    """The scope rows of the CDRs the run takes: rated, with no reason to leave them out."""
    return RunScope.objects.filter(reason="", rating_status=CDRStatus.RATED, **filters)


def _take_onto_statements(*, run: InvoiceRun, rows: QuerySet) -> int:
    """Put the CDRs of these scope rows on their account's statement of the run: one
    `INSERT … SELECT` of statement lines for all accounts; the CDR rows are not written.
    Returns how many were taken."""
    quote = connection.ops.quote_name
    subquery, params = (
        rows.order_by()
        .annotate(taken_cdr=F("cdr"), taken_account=F("payout_account"))
        .values_list("taken_cdr", "taken_account")
        .query.sql_with_params()
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(StatementLine._meta.db_table)} "
            f"({quote('cdr_id')}, {quote('invoice_id')}) "
            f"SELECT taken.taken_cdr, statement.{quote('id')} "
            f"FROM ({subquery}) taken "
            f"JOIN {quote(Invoice._meta.db_table)} statement "
            f"ON statement.{quote('run_id')} = %s "
            f"AND statement.{quote('payout_account_id')} = taken.taken_account",
            [*params, run.pk],
        )
        return cursor.rowcount


def _take_credits_and_hold_the_rest(
    *, run: InvoiceRun, now: datetime, actor, actor_name: str
) -> int:
    """Credits follow their original: taken when it is on a statement (of this run or an earlier
    one), else held as `original_not_invoiced`. Returns how many were taken."""
    original_on_statement = Exists(StatementLine.objects.filter(cdr=OuterRef("credited_cdr")))
    credits = _taken(credit=True)
    taken = _take_onto_statements(run=run, rows=credits.filter(original_on_statement))
    hold(
        credits.filter(~original_on_statement),
        reason=CDRReason.ORIGINAL_NOT_INVOICED,
        detail=(
            f"Invoice run {run.pk} held back this credit's original, so it held the credit too — "
            "once the original is rated again, re-rate this credit."
        ),
        now=now,
        actor=actor,
        actor_name=actor_name,
    )
    return taken


def _statement_totals(statement_of: dict[int, int]) -> dict[int, dict]:
    """Each statement's totals in one GROUP BY of the CDRs the run took (the scope rows still
    without a reason): the exact sums of its lines, each rounded once. `statement_of` maps an
    account to its draft statement."""
    rows = (
        _taken()
        .order_by()
        .values("payout_account", "currency")
        .annotate(
            count=Count("pk"),
            excl=Sum("excl_vat"),
            incl=Sum("incl_vat"),
            fees=Sum("fee"),
            payout=Sum("payout"),
            credits=Sum("excl_vat", filter=Q(credit=True), default=Decimal(0)),
            start=Min("start_date_time"),
            end=Max("end_date_time"),
        )
    )
    totals = {}
    for row in rows:
        currency = row["currency"]
        excl_total = round_sum(row["excl"], currency)
        incl_total = round_sum(row["incl"], currency)
        net_payout = round_sum(row["payout"], currency)
        totals[statement_of[row["payout_account"]]] = {
            "cdr_count": row["count"],
            "total_excl_vat": excl_total,
            "total_vat": incl_total - excl_total,
            "total_incl_vat": incl_total,
            "total_fees": round_sum(row["fees"], currency),
            "total_credits": round_sum(row["credits"], currency),
            "net_payout": net_payout,
            "payable": net_payout,
            "period_start": row["start"],
            "period_end": row["end"],
        }
    return totals


def _record_exclusions(run: InvoiceRun) -> None:
    """What the run left out, as one row per reason, account and currency (count and amount):
    one `INSERT … SELECT … GROUP BY` of the scope rows with a reason, after the run has taken and
    held back its CDRs."""
    rows = (
        RunScope.objects.exclude(reason="")
        .order_by()
        .values("reason", "payout_account", "currency")
        .annotate(cdrs=Count("pk"), amount=Sum("excl_vat"))
        .values_list(
            Value(run.pk, output_field=BigIntegerField()),
            "reason",
            "payout_account",
            "currency",
            "cdrs",
            "amount",
        )
    )
    insert_select(
        InvoiceRunExclusion,
        ["run", "reason", "payout_account", "currency", "cdr_count", "amount_excl_vat"],
        rows,
    )


def line_amounts(currency, excl_vat, incl_vat, fee, payout) -> dict[str, Decimal]:
    """One statement line at its own precision (4 decimals: lines are never rounded; statement
    figures are their exact sums rounded once)."""
    incl = incl_vat if incl_vat is not None else excl_vat
    return {
        "excl_vat": excl_vat,
        "vat": incl - excl_vat,
        "incl_vat": incl,
        "fee": fee,
        "payout": payout,
    }


def _exclusion_summary(run: InvoiceRun) -> list[ExclusionSummary]:
    rows = (
        InvoiceRunExclusion.objects.filter(run=run)
        .values("reason", "currency")
        .annotate(count=Sum("cdr_count"), amount=Sum("amount_excl_vat"))
        .order_by("reason", "currency")
    )
    counts: dict[str, int] = defaultdict(int)
    amounts: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for row in rows:
        currency = row["currency"]
        counts[row["reason"]] += row["count"]
        amounts[row["reason"]][currency] = round_sum(row["amount"], currency)
    return [
        ExclusionSummary(reason=reason, count=counts[reason], amounts=amounts[reason])
        for reason in sorted(counts)
    ]


# The steps of a run, in order.


def _start_run(*, cutoff: date, account: PayoutAccount | None, now, actor, label) -> InvoiceRun:
    return InvoiceRun.objects.create(
        cutoff=cutoff,
        time_zone=settings.BUSINESS_TIME_ZONE,
        payout_account=account,
        created_at=now,
        created_by=actor,
        created_by_label=label,
    )


def _kind(account: PayoutAccount) -> str:
    return InvoiceKind.STATEMENT if account.holder_id else InvoiceKind.REVENUE_REPORT


def _create_drafts(*, run: InvoiceRun, now) -> dict[int, PayoutAccount]:
    """A draft for every account with a CDR to take; the ones that end up with no line (their
    credits were held back) are deleted again by `_fill_statements`."""
    accounts = {
        account.pk: account
        for account in PayoutAccount.objects.filter(
            pk__in=_taken().values("payout_account")
        ).order_by("name", "pk")
    }
    Invoice.objects.bulk_create(
        Invoice(
            run=run,
            payout_account=account,
            currency=account.currency,
            kind=_kind(account),
            created_at=now,
        )
        for account in accounts.values()
    )
    return accounts


def _open_balances(account_pks) -> dict[int, Invoice]:
    """Per account, its oldest final carried-forward statement not yet brought forward."""
    balances: dict[int, Invoice] = {}
    for statement in Invoice.objects.filter(
        payout_account__in=account_pks,
        status=InvoiceStatus.FINAL,
        carried_forward=True,
        brought_forward_into__isnull=True,
    ).order_by("finalized_at", "pk"):
        balances.setdefault(statement.payout_account_id, statement)
    return balances


def _fill_statements(run: InvoiceRun) -> list[Invoice]:
    """Set each draft's totals, bring forward its account's open balance, delete empty drafts."""
    invoices = list(run.invoices.order_by("pk"))
    totals = _statement_totals({invoice.payout_account_id: invoice.pk for invoice in invoices})
    filled = [invoice for invoice in invoices if invoice.pk in totals]
    balances = _open_balances([i.payout_account_id for i in filled if not i.is_revenue_report])
    for invoice in filled:
        for name, value in totals[invoice.pk].items():
            setattr(invoice, name, value)
        balance = balances.get(invoice.payout_account_id)
        if balance is not None and not invoice.is_revenue_report:
            invoice.brought_forward_from = balance
            invoice.balance_brought_forward = balance.payable
            invoice.payable = invoice.net_payout + balance.payable
    columns = [
        ("id", "bigint"),
        *((name, STATEMENT_COLUMN_TYPES.get(name, "numeric")) for name in STATEMENT_TOTALS),
        ("brought_forward_from_id", "bigint"),
        ("balance_brought_forward", "numeric"),
    ]
    update_from_rows(  # one UPDATE for all statements (bulk_update builds a CASE per field)
        Invoice,
        columns,
        [[getattr(invoice, attname) for attname, _ in columns] for invoice in filled],
    )
    if len(filled) < len(invoices):
        Invoice.objects.filter(run=run).exclude(pk__in=list(totals)).delete()
    return filled


def _statement_summaries(filled: list[Invoice], accounts: dict) -> list[StatementSummary]:
    return [
        StatementSummary(
            account_id=invoice.payout_account_id,
            account_name=accounts[invoice.payout_account_id].name,
            currency=invoice.currency,
            is_revenue_report=invoice.is_revenue_report,
            balance_brought_forward=invoice.balance_brought_forward,
            **{name: getattr(invoice, name) for name in STATEMENT_TOTALS},
        )
        for invoice in filled
    ]


def _close_run(*, run: InvoiceRun, statements, exclusions, actor, label) -> None:
    """Store the run's counts and totals and write its audit event."""
    run.cdr_count = sum(statement.cdr_count for statement in statements)
    run.invoice_count = len(statements)
    run.total_excl_vat = sum((s.total_excl_vat for s in statements), Decimal(0))
    run.total_fees = sum((s.total_fees for s in statements), Decimal(0))
    run.total_payout = sum((s.net_payout for s in statements), Decimal(0))
    run.exclusions = {
        exclusion.reason: {
            "count": exclusion.count,
            "amounts": {currency: str(amount) for currency, amount in exclusion.amounts.items()},
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
            f"Invoice run {run.pk} (cutoff {run.cutoff.isoformat()} {run.time_zone}): "
            f"{run.invoice_count:,} draft statements, {run.cdr_count:,} CDRs, "
            f"{sum(e.count for e in exclusions):,} CDRs left out"
        ),
        details={
            "run": run.pk,
            "cutoff": run.cutoff.isoformat(),
            "time_zone": run.time_zone,
            "account": run.payout_account_id,
            "exclusions": run.exclusions,
        },
    )


# A run reports its progress after each of its steps: read the scope; hold back and draft; take
# the charges; take the credits; sum the statements; count what was left out and close the run.
RUN_STEPS = 6


class _Steps:
    def __init__(self, progress: Progress | None):
        self.progress = progress
        self.done = 0

    def __call__(self) -> None:
        self.done += 1
        if self.progress:
            self.progress(self.done, RUN_STEPS)


def run_invoicing(
    *,
    cutoff: date,
    actor=None,
    actor_name: str = "",
    dry_run: bool = False,
    progress: Progress | None = None,
    account: PayoutAccount | None = None,
) -> InvoiceRunSummary:
    """Draft one statement per account from the CDRs that ended before `cutoff` (R6).

    `account` limits the run to that account's CDRs (settling an account before deactivating it).
    A dry run does exactly the same work and rolls it back, so its figures are the real run's;
    it does not take the invoicing lock.
    `progress(done, total)` is called after each of the run's RUN_STEPS steps.

    The number of queries depends neither on the number of CDRs nor on the number of accounts,
    and the CDR table is read once: into the run's scope (`services.run_scope`), from which the
    run holds back, takes (`INSERT … SELECT` of statement lines: charges, then the credits that
    follow them), sums (one `GROUP BY`) and counts what it left out (one `INSERT … SELECT`).
    """
    step = _Steps(progress)
    with transaction.atomic():
        if not dry_run:
            # The preview reads without the lock: it writes nothing, so it never waits for a run.
            lock_invoicing()
        now = timezone.now()
        label = actor_name or actor_label(actor)
        run = _start_run(cutoff=cutoff, account=account, now=now, actor=actor, label=label)
        create_scope(run, cutoff=run_cutoff_instant(run))
        step()
        _hold_unassigned(run=run, now=now, actor=actor, actor_name=label)
        accounts = _create_drafts(run=run, now=now)
        step()
        _take_onto_statements(run=run, rows=_taken(credit=False))
        step()
        _take_credits_and_hold_the_rest(run=run, now=now, actor=actor, actor_name=label)
        step()
        statements = _statement_summaries(_fill_statements(run), accounts)
        step()
        _record_exclusions(run)
        exclusions = _exclusion_summary(run)
        drop_scope()
        _close_run(run=run, statements=statements, exclusions=exclusions, actor=actor, label=label)
        step()
        if dry_run:
            transaction.set_rollback(True)
    return InvoiceRunSummary(
        cutoff=cutoff,
        statements=statements,
        exclusions=exclusions,
        dry_run=dry_run,
        run_id=None if dry_run else run.pk,
    )


def settle_account(
    *, account: PayoutAccount, actor=None, actor_name: str = ""
) -> InvoiceRunSummary:
    """An invoice run for this account alone up to today (cutoff: tomorrow 00:00 in the business
    time zone), so a deactivation strands none of its rated CDRs."""
    today = timezone.localdate(timezone=business_time_zone())
    return run_invoicing(
        cutoff=today + timedelta(days=1), actor=actor, actor_name=actor_name, account=account
    )


# Finalize: small named steps, so a later step (documents) can be added after `_freeze_payee`.


def _locked_draft(invoice: Invoice, verb: str) -> Invoice:
    locked = (
        Invoice.objects.select_for_update(of=("self",))
        .select_related("payout_account__holder")
        .get(pk=invoice.pk)
    )
    if locked.status != InvoiceStatus.DRAFT:
        raise InvoicingError(
            f"{locked} is {locked.get_status_display().lower()}; only draft statements can be "
            f"{verb}. Nothing was changed."
        )
    return locked


def _assign_number(invoice: Invoice, sequence: InvoiceNumberSequence) -> None:
    """The next self-billing number of the year; an internal revenue report gets none."""
    if invoice.is_revenue_report:
        return
    sequence.last_number += 1
    invoice.number = NUMBER_FORMAT.format(year=sequence.year, number=sequence.last_number)


def _freeze_payee(invoice: Invoice) -> None:
    """Copy the payee and the fee terms onto the statement: final documents read only the copy."""
    account = invoice.payout_account
    holder = account.holder
    invoice.payee_name = holder.name if holder else settings.CPO_NAME
    invoice.payee_account_holder_name = account.account_holder_name
    invoice.payee_iban = account.iban
    invoice.payee_bic = account.bic
    invoice.payee_vat_number = account.vat_number or (holder.vat_number if holder else "")
    invoice.payee_country = holder.country if holder else ""
    invoice.terms_commission_percent = account.commission_percent
    invoice.terms_fee_per_kwh = account.fee_per_kwh
    invoice.terms_fee_per_session = account.fee_per_session


def _settle_balance(invoice: Invoice) -> None:
    """A payable amount ≤ 0 or below the account's minimum payout is carried forward, not paid."""
    if invoice.is_revenue_report:
        return
    minimum = invoice.payout_account.minimum_payout
    invoice.carried_forward = invoice.payable <= 0 or invoice.payable < minimum


FINALIZED_FIELDS = [
    "number",
    "payable",
    "status",
    "finalized_at",
    "finalized_by",
    "carried_forward",
    "payee_name",
    "payee_account_holder_name",
    "payee_iban",
    "payee_bic",
    "payee_vat_number",
    "payee_country",
    "terms_commission_percent",
    "terms_fee_per_kwh",
    "terms_fee_per_session",
]


def _issue_documents(invoice: Invoice, now, actor) -> None:
    """A Sub-CPO statement is its self-billed invoice and the CPO's fee invoice, paid as one
    transfer: the payable amount is the first's total less the second's, plus any balance
    brought forward. The CPO's own revenue report has no documents."""
    if invoice.is_revenue_report or invoice.payout_account.holder_id is None:
        return
    try:
        documents = issue_statement_documents(
            invoice=invoice, actor=actor, issued_on=timezone.localdate(now)
        )
    except DocumentError as exc:
        raise InvoicingError(f"{exc} Nothing was finalized.") from exc
    invoice.payable = documents.amount_to_pay + invoice.balance_brought_forward


def _check_master_data(invoices: list[Invoice], now) -> None:
    """Refuse before anything is numbered when a payee cannot be self-billed, naming them all."""
    missing = master_data_problems(
        invoices=[invoice for invoice in invoices if not invoice.is_revenue_report],
        on=timezone.localdate(now),
    )
    if missing:
        raise MasterDataMissing(missing)


def _finalize_locked(invoice: Invoice, sequence: InvoiceNumberSequence, now, actor) -> None:
    _assign_number(invoice, sequence)
    _freeze_payee(invoice)
    _issue_documents(invoice, now, actor)
    _settle_balance(invoice)
    invoice.status = InvoiceStatus.FINAL
    invoice.finalized_at = now
    invoice.finalized_by = actor
    invoice.save(update_fields=FINALIZED_FIELDS)


def _number_sequence(now) -> InvoiceNumberSequence:
    sequence, _ = InvoiceNumberSequence.objects.select_for_update().get_or_create(
        year=timezone.localdate(now).year
    )
    return sequence


def finalize_invoice(*, invoice: Invoice, actor) -> Invoice:
    """Give a draft statement the next number of the year, freeze its payee data and make it
    final (immutable); a revenue report is made final without a number."""
    with transaction.atomic():
        locked = _locked_draft(invoice, "finalized")
        now = timezone.now()
        _check_master_data([locked], now)
        sequence = _number_sequence(now)
        _finalize_locked(locked, sequence, now, actor)
        sequence.save(update_fields=["last_number"])
        record_audit_event(
            action=AuditAction.INVOICE_FINALIZE,
            actor=actor,
            payout_account=locked.payout_account,
            object_count=locked.cdr_count,
            summary=f"Finalized {locked} for “{locked.payout_account}”",
            details={"invoice": locked.pk, "number": locked.number, "run": locked.run_id},
        )
    return locked


def finalize_run(*, run: InvoiceRun, actor) -> list[Invoice]:
    """Finalize every draft statement of a run, numbered in account order, in one transaction."""
    with transaction.atomic():
        drafts = list(
            Invoice.objects.select_for_update(of=("self",))
            .filter(run=run, status=InvoiceStatus.DRAFT)
            .select_related("payout_account__holder")
            .order_by("payout_account__name", "pk")
        )
        if not drafts:
            raise InvoicingError(f"Invoice run {run.pk} has no draft statements to finalize.")
        now = timezone.now()
        _check_master_data(drafts, now)
        sequence = _number_sequence(now)
        for invoice in drafts:
            _finalize_locked(invoice, sequence, now, actor)
        sequence.save(update_fields=["last_number"])
        numbers = [invoice.number for invoice in drafts if invoice.number]
        record_audit_event(
            action=AuditAction.INVOICE_FINALIZE,
            actor=actor,
            object_count=len(drafts),
            summary=(
                f"Finalized {len(drafts):,} documents of invoice run {run.pk}"
                + (f" ({numbers[0]} to {numbers[-1]})" if numbers else "")
            ),
            details={"run": run.pk, "numbers": numbers},
        )
    return drafts


def discard_invoice(*, invoice: Invoice, actor) -> int:
    """Discard a draft statement; its CDRs go back to `rated` for a later run, and a balance it
    brought forward is open again. Returns how many CDRs were released."""
    with transaction.atomic():
        locked = _locked_draft(invoice, "discarded")
        released, _ = StatementLine.objects.filter(invoice=locked).delete()
        locked.status = InvoiceStatus.DISCARDED
        locked.discarded_at = timezone.now()
        locked.discarded_by = actor
        locked.brought_forward_from = None
        locked.save(
            update_fields=["status", "discarded_at", "discarded_by", "brought_forward_from"]
        )
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
