"""The scope of an invoice run: the CDRs it looks at, read ONCE from the wide CDR table into a
narrow temporary table (`RunScope`) with why each would be left out; the run then holds back,
takes, sums and counts from that table. Every pass over the CDR table reads its whole rows (the
OCPI JSON included), so a run that reads it once costs about one such pass plus its writes.

The table lives for the run's transaction: created at the start, dropped at the end (and, on
PostgreSQL, at commit or rollback whatever happens between).
"""

from datetime import datetime

from django.db import connection
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    DateTimeField,
    F,
    FilteredRelation,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from ..models import CDR, CDRRating, CDRReason, CDRStatus, InvoiceRun, RunScope
from ..models.cdrs import status_q
from .audit import actor_label
from .bulk_sql import insert_select, quote

SCOPE_FIELDS = [
    "cdr",
    "payout_account",
    "currency",
    "credit",
    "credited_cdr",
    "rating_status",
    "reason",
    "excl_vat",
    "incl_vat",
    "fee",
    "payout",
    "start_date_time",
    "end_date_time",
]


def left_out_reason() -> Case:
    """Why a CDR is left out ("" if a run would take it): a not invoiceable CDR for its own
    reason; a rated charge whose EVSE has no open assignment (`evse_unassigned`: the run holds it
    back) or one to another account (`assignment_changed`); a CDR whose account's currency is not
    its own (`currency_mismatch`). A credit follows the account its original was rated for,
    wherever the EVSE is assigned now. From joins (an EVSE has one open assignment), not
    correlated subqueries: their per-row cost estimates are far off."""
    charge = Q(credit=False)
    no_open_assignment = Q(open_assignment__pk__isnull=True)
    return Case(
        When(rating_status=CDRStatus.NOT_INVOICEABLE, then=F("reason")),
        When(charge & no_open_assignment, then=Value(CDRReason.EVSE_UNASSIGNED.value)),
        When(
            charge & ~Q(open_assignment__payout_account=F("payout_account")),
            then=Value(CDRReason.ASSIGNMENT_CHANGED.value),
        ),
        When(
            ~Q(payout_account__currency=F("currency")),
            then=Value(CDRReason.CURRENCY_MISMATCH.value),
        ),
        default=Value(""),
        output_field=CharField(),
    )


def looked_at(run: InvoiceRun, *, cutoff: datetime, also: Q | None = None) -> QuerySet:
    """The CDRs a run looks at, each annotated with `left_out_reason`: ended before the cutoff,
    on no statement, rated or not invoiceable; for a run of one account, that account's (and
    `also`)."""
    cdrs = CDR.objects.filter(
        status_q(CDRStatus.RATED, CDRStatus.NOT_INVOICEABLE), end_date_time__lt=cutoff
    )
    if run.payout_account_id is not None:
        mine = Q(payout_account=run.payout_account_id)
        cdrs = cdrs.filter(mine | also if also is not None else mine)
    open_assignment = FilteredRelation(
        "evse__assignments", condition=Q(evse__assignments__unassigned_at__isnull=True)
    )
    return cdrs.annotate(open_assignment=open_assignment, left_out_reason=left_out_reason())


def _table() -> str:
    return quote(RunScope._meta.db_table)


def create_scope(run: InvoiceRun, *, cutoff: datetime) -> None:
    """Create the temporary table and fill it with one `INSERT … SELECT` over the CDRs."""
    drop_scope()
    ddl, params = connection.schema_editor().table_sql(RunScope)  # its SQL only, not entered
    ddl = ddl.replace("CREATE TABLE", "CREATE TEMPORARY TABLE", 1)
    if connection.vendor == "postgresql":
        ddl += " ON COMMIT DROP"
    with connection.cursor() as cursor:
        cursor.execute(ddl, params)
    rows = (
        looked_at(run, cutoff=cutoff)
        .order_by()
        .values_list(
            "pk",
            "payout_account",
            "currency",
            "credit",
            "credited_cdr",
            "rating_status",
            "left_out_reason",
            "total_cost_excl_vat",
            Coalesce("total_cost_incl_vat", "total_cost_excl_vat"),
            "fee",
            "payout",
            "start_date_time",
            "end_date_time",
        )
    )
    insert_select(RunScope, SCOPE_FIELDS, rows)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {_table()}")  # the planner knows nothing of a new table


def drop_scope() -> None:
    table = _table()
    if connection.vendor == "postgresql":
        table = f"pg_temp.{table}"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")


def hold(rows: QuerySet, *, reason: str, detail: str, now: datetime, actor, actor_name: str) -> int:
    """The CDRs of these scope rows become not invoiceable with `reason`, each with a rating
    history row; the rows say so too (left out for `reason`, no account). Returns how many."""
    held = CDR.objects.filter(pk__in=rows.values("cdr"), rating_status=CDRStatus.RATED).update(
        rating_status=CDRStatus.NOT_INVOICEABLE,
        reason=reason,
        reason_detail=detail,
        payout_account=None,
        assignment=None,
        fee=None,
        payout=None,
        terms_commission_percent=None,
        terms_fee_per_kwh=None,
        terms_fee_per_session=None,
        terms_currency="",
        rated_at=now,
    )
    if not held:
        return 0
    history = rows.order_by().values_list(
        "cdr",
        Value(now, output_field=DateTimeField()),
        Value(actor.pk if actor else None, output_field=BigIntegerField()),
        Value(actor_name or actor_label(actor), output_field=CharField()),
        Value(CDRStatus.NOT_INVOICEABLE.value, output_field=CharField()),
        Value(reason, output_field=CharField()),
        Value(detail, output_field=CharField()),
    )
    insert_select(
        CDRRating,
        ["cdr", "at", "actor", "actor_label", "status", "reason", "reason_detail"],
        history,
    )
    rows.update(reason=reason, rating_status=CDRStatus.NOT_INVOICEABLE, payout_account=None)
    return held
