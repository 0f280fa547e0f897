"""Every list query of the Payout EVSE assignment pages, with its joins and annotations."""

from decimal import Decimal

from django.db.models import (
    Count,
    F,
    FilteredRelation,
    Min,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from ..models import (
    CDR,
    EVSE,
    CDRReason,
    CDRStatus,
    OpenAssignmentCount,
    PayoutAccount,
    UnassignedEVSE,
)


def attach_unassigned_cdr_totals(evses: list[EVSE]) -> None:
    """Set the number, amount (excl. VAT) and currency of each EVSE's unassigned CDRs.

    One grouped query (on the `cdr_evse_status_idx` index) for the EVSEs of the page being shown,
    after pagination: as annotations of the page query, PostgreSQL would evaluate the subqueries
    for every row an OFFSET skips too. `unassigned_cdr_currencies` > 1 means the amount mixes
    currencies and must not be shown as one.
    """
    totals = {
        row["evse"]: row
        for row in CDR.objects.filter(
            evse__in=[evse.pk for evse in evses],
            rating_status=CDRStatus.NOT_INVOICEABLE,
            reason=CDRReason.EVSE_UNASSIGNED,
        )
        .order_by()
        .values("evse")
        .annotate(
            cdr_count=Count("pk"),
            amount=Sum("total_cost_excl_vat"),
            first_currency=Min("currency"),
            currency_count=Count("currency", distinct=True),
        )
    }
    for evse in evses:
        row = totals.get(evse.pk, {})
        evse.unassigned_cdr_count = row.get("cdr_count", 0)
        evse.unassigned_cdr_amount = row.get("amount") or Decimal("0")
        evse.unassigned_cdr_currency = row.get("first_currency")
        evse.unassigned_cdr_currencies = row.get("currency_count", 0)


def unassigned_entries() -> QuerySet:
    """One row per unassigned EVSE, in the narrow table alone (to count them cheaply)."""
    return UnassignedEVSE.objects.all()


def unassigned_entry_order(term: str) -> str:
    """An ordering term of `unassigned_evses()` as the same term on `unassigned_entries()`."""
    descending, path = term.startswith("-"), term.removeprefix("-")
    if path.startswith("unassigned_entry__"):
        path = path.removeprefix("unassigned_entry__")
    elif path == "evse_id":
        path = "evse_code"
    elif path != "pk" and not path.startswith("location__"):
        path = f"evse__{path}"  # the narrow table's location is the EVSE's
    return f"-{path}" if descending else path


def unassigned_evses() -> QuerySet:
    """EVSEs that are not removed and have no open assignment (the "Unassigned EVSEs" table).

    Read through `UnassignedEVSE`, the narrow table the database keeps of exactly these EVSEs: a
    join on its primary key instead of an anti-join probing every EVSE for an open assignment.
    """
    return EVSE.objects.filter(unassigned_entry__isnull=False).select_related(
        "location", "location__owner"
    )


def assigned_evses(*, account_id: int) -> QuerySet:
    """EVSEs with an open assignment to the account, annotated with when and by whom.

    `open_assignment` is the one open assignment of each EVSE (the partial unique constraint
    guarantees at most one), so the join never repeats an EVSE.
    """
    return (
        EVSE.objects.annotate(
            open_assignment=FilteredRelation(
                "assignments", condition=Q(assignments__unassigned_at__isnull=True)
            )
        )
        .filter(open_assignment__payout_account_id=account_id)
        .select_related("location", "location__owner")
        .annotate(
            assigned_since=F("open_assignment__assigned_at"),
            assigned_by_name=F("open_assignment__assigned_by__username"),
        )
    )


def assignment_tabs() -> list[PayoutAccount]:
    """The accounts shown as tabs: active ones and any with open assignments, with their counts.

    The counts are those the database keeps per account (`OpenAssignmentCount`).
    """
    open_count = Coalesce(F("open_assignment_count__count"), Value(0))
    return list(
        PayoutAccount.objects.annotate(open_count=open_count)
        .filter(Q(is_active=True) | Q(open_count__gt=0))
        .select_related("holder")
        .order_by("name", "pk")
    )


def open_assignment_total() -> int:
    """All open assignments: the sum of the counts the database keeps per payout account."""
    return OpenAssignmentCount.objects.aggregate(total=Sum("count"))["total"] or 0


def selection_owners(evses: QuerySet) -> list[tuple[int | None, str]]:
    """The distinct owners (Sub-CPO id and name; None for the CPO) of a selection of EVSEs."""
    return list(
        EVSE.objects.filter(pk__in=evses.values("pk"))
        .order_by()
        .values_list("location__owner_id", "location__owner__name")
        .distinct()
    )


def compatible_accounts(*, owner_id: int | None) -> QuerySet:
    """Active payout accounts that may receive EVSEs of this owner (R2)."""
    return PayoutAccount.objects.active().filter(holder_id=owner_id).order_by("name", "pk")
