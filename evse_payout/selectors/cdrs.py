"""Reads for the CDR overview and the CDR page, each a fixed number of queries."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet

from ..models import CDR, Assignment, CDRRating, CDRStatus
from ..money import fee_parts


def cdr_overview_queryset() -> QuerySet:
    """Every CDR with what the overview shows, newest first; the OCPI JSON stays in the database."""
    return (
        CDR.objects.select_related("evse", "location", "payout_account")
        .defer("raw")
        .order_by("-end_date_time", "-pk")
    )


def cdr_for_page(pk: int) -> CDR:
    return CDR.objects.select_related(
        "evse__location__owner",
        "location",
        "payout_account",
        "assignment__assigned_by",
        "credited_cdr",
        "statement_line__invoice",
    ).get(pk=pk)


def current_assignment(cdr: CDR) -> Assignment | None:
    """The open assignment of the CDR's EVSE today (it may differ from the one it was rated under)."""
    if cdr.evse_id is None:
        return None
    return (
        Assignment.objects.open()
        .filter(evse_id=cdr.evse_id)
        .select_related("payout_account")
        .first()
    )


def cdr_rating_history(cdr: CDR) -> QuerySet:
    return (
        CDRRating.objects.filter(cdr=cdr)
        .select_related("actor", "payout_account")
        .order_by("-at", "-pk")
    )


def cdr_credits(cdr: CDR) -> QuerySet:
    return CDR.objects.filter(credited_cdr=cdr).defer("raw").order_by("end_date_time", "pk")


@dataclass(frozen=True)
class FeeBreakdown:
    """The parts of a rated CDR's fee under the terms stored with its rating (4 decimals)."""

    commission_percent: Decimal
    commission: Decimal
    fee_per_kwh: Decimal
    energy: Decimal
    energy_fee: Decimal
    fee_per_session: Decimal
    sign: int


def fee_breakdown(cdr: CDR) -> FeeBreakdown | None:
    """How the fee of a rated (or invoiced) CDR is made up: `money.fee_parts` of its stored terms.
    A credit's parts are its own amounts' (a partial credit has no session fee)."""
    terms = cdr.fee_terms
    if cdr.status not in (CDRStatus.RATED, CDRStatus.INVOICED) or terms is None:
        return None
    excl, energy = abs(cdr.total_cost_excl_vat), abs(cdr.total_energy)
    session = not cdr.credit or cdr.fee == -(fee_parts(terms=terms, amount=excl, energy=energy).fee)
    parts = fee_parts(terms=terms, amount=excl, energy=energy, per_session=session)
    return FeeBreakdown(
        commission_percent=terms.commission_percent,
        commission=parts.commission,
        fee_per_kwh=terms.fee_per_kwh,
        energy=energy,
        energy_fee=parts.energy_fee,
        fee_per_session=parts.session_fee,
        sign=-1 if cdr.credit else 1,
    )
