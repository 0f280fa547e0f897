"""The lean table bodies (evse_payout.tables.lean) print exactly what stock django-tables2 prints
for the same tables and data (issue 10, item 5): lean.py uses django-tables2 internals, pinned in
pyproject.toml; this fails when an upgrade changes what they mean."""

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import RequestFactory

from evse_payout.models import CDR, CDRReason, CDRStatus
from evse_payout.selectors.cdrs import cdr_overview_queryset
from evse_payout.selectors.evses import (
    assigned_evses,
    attach_unassigned_cdr_totals,
    unassigned_evses,
)
from evse_payout.tables.cdrs import CDRTable
from evse_payout.tables.evses import AssignedEVSETable, UnassignedEVSETable
from tests.factories import (
    AssignmentFactory,
    CDRFactory,
    EVSEFactory,
    LocationFactory,
    PayoutAccountFactory,
    SubCPOFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def stock(table_class):
    """The same table rendered by django-tables2's own per-cell body."""
    meta = type("Meta", (table_class.Meta,), {})
    return type(f"Stock{table_class.__name__}", (table_class,), {"lean": False, "Meta": meta})


def tbody(table) -> str:
    html = table.as_html(RequestFactory().get("/"))
    body = re.search(r"<tbody[^>]*>(.*?)</tbody>", html, re.S).group(1)
    # Only the whitespace between tags (and `<td >` for an attribute-less cell) may differ.
    return re.sub(r">\s+<", "><", body).replace("<td >", "<td>").strip()


def assert_same_body(table_class, records, **kwargs):
    """`records` are complete already (the stock body has no `prepare_records` step)."""
    lean_body = tbody(table_class(records, **kwargs))
    stock_body = tbody(stock(table_class)(records, **kwargs))
    assert lean_body == stock_body
    return lean_body


@pytest.fixture
def network():
    hotel = SubCPOFactory(name="Hotel <Zeezicht> & Co")
    account = PayoutAccountFactory(name="Hotel payouts", holder=hotel)
    hotel_site = LocationFactory(owner=hotel, city="Oostende", country="BEL")
    own_site = LocationFactory(owner=None, city="Gent", country="NLD")
    for n in range(3):
        charger = EVSEFactory(
            evse_id=f"BE*BEC*E000{n}", location=own_site, output_kw=Decimal("1150.5")
        )
        CDRFactory(
            evse=charger,
            status=CDRStatus.NOT_INVOICEABLE,
            reason=CDRReason.EVSE_UNASSIGNED,
            total_cost_excl_vat=Decimal("1234.5678"),
        )
    AssignmentFactory(
        evse=EVSEFactory(evse_id="BE*BEC*E1000", location=hotel_site),
        payout_account=account,
        assigned_by=UserFactory(username="pm"),
        assigned_at=datetime(2026, 12, 1, 9, 11, tzinfo=UTC),
    )
    AssignmentFactory(evse=EVSEFactory(location=hotel_site), payout_account=account)
    CDRFactory(evse=None, status=CDRStatus.NOT_INVOICEABLE, reason=CDRReason.EVSE_UNKNOWN)
    CDRFactory(credit=True, total_cost_excl_vat=Decimal("-10"))
    return account


def test_unassigned_table_body_is_the_stock_body(network):
    records = list(unassigned_evses().order_by("evse_id", "pk"))
    attach_unassigned_cdr_totals(records)

    body = assert_same_body(UnassignedEVSETable, records)

    assert (
        body.count("<tr") == 4
        and "1,234.57 EUR" in body
        and 'aria-label="Select BE*BEC*E0000"' in body
    )


def test_assigned_table_body_is_the_stock_body(network):
    records = list(assigned_evses(account_id=network.pk).order_by("evse_id", "pk"))
    attach_unassigned_cdr_totals(records)

    body = assert_same_body(AssignedEVSETable, records)

    assert "2026-12-01 10:11" in body and "Hotel &lt;Zeezicht&gt; &amp; Co" in body


def test_cdr_table_body_is_the_stock_body(network):
    records = list(cdr_overview_queryset())

    body = assert_same_body(CDRTable, records)

    assert body.count("<tr") == CDR.objects.count()
    assert "(unknown EVSE)" in body and "(credit)" in body


def test_tables_without_the_checkbox_column_match_too(network):
    records = list(cdr_overview_queryset())

    assert_same_body(CDRTable, records, exclude=("select",))


def test_an_empty_table_shows_the_same_empty_state(db):
    assert_same_body(CDRTable, [])
