"""The list pages make the same few queries at 25 rows as at 500 (issue 6: what made them fast)."""

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from evse_payout.models import CDRReason, CDRStatus

from ..factories import (
    AssignmentFactory,
    CDRFactory,
    EVSEFactory,
    LocationFactory,
    PayoutAccountFactory,
    SubCPOFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ROWS = 500


def _body_rows(response) -> int:
    body = re.search(r"<tbody[^>]*>(.*?)</tbody>", response.content.decode(), re.S).group(1)
    return len(re.findall(r"<tr class=\"(?:even|odd)\"", body))


def _queries_and_rows(client, path, params, per_page):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, {**params, "per_page": per_page})
    assert response.status_code == 200
    return len(queries), _body_rows(response)


def _assert_same_queries_at_25_and_500(client, path, params=None, *, matching=ROWS):
    params = params or {}
    client.get(path, params)  # session and permission caches
    small, small_rows = _queries_and_rows(client, path, params, 25)
    large, large_rows = _queries_and_rows(client, path, params, ROWS)
    assert (small_rows, large_rows) == (25, matching)
    assert small == large


def test_unassigned_table_queries_do_not_grow_from_25_to_500_rows(manager_client):
    sites = [LocationFactory(owner=SubCPOFactory()), LocationFactory(owner=None)]
    for index in range(ROWS):
        charger = EVSEFactory(location=sites[index % 2])
        if index % 3 == 0:
            CDRFactory(
                evse=charger,
                status=CDRStatus.NOT_INVOICEABLE,
                reason=CDRReason.EVSE_UNASSIGNED,
                currency="EUR" if index % 2 else "CHF",
            )

    _assert_same_queries_at_25_and_500(manager_client, reverse("evse_payout:evses_unassigned"))


def test_assigned_tab_queries_do_not_grow_from_25_to_500_rows(manager_client):
    account = PayoutAccountFactory()
    PayoutAccountFactory()  # a second tab
    site = LocationFactory(owner=None)
    people = [UserFactory(), None]
    for index in range(ROWS):
        AssignmentFactory(
            evse=EVSEFactory(location=site),
            payout_account=account,
            assigned_by=people[index % 2],
        )

    _assert_same_queries_at_25_and_500(
        manager_client, reverse("evse_payout:evses_assigned"), {"account": account.pk}
    )


def test_cdr_overview_queries_do_not_grow_from_25_to_500_rows(manager_client):
    account = PayoutAccountFactory()
    chargers = [EVSEFactory(location=LocationFactory()) for _ in range(5)]
    for index in range(ROWS):
        kind = index % 4
        if kind == 0:
            CDRFactory(
                evse=chargers[index % 5],
                status=CDRStatus.RATED,
                payout_account=account,
                fee=Decimal("1.2500"),
                payout=Decimal("8.7500"),
            )
        elif kind == 1:
            CDRFactory(
                evse=chargers[index % 5],
                status=CDRStatus.NOT_INVOICEABLE,
                reason=CDRReason.EVSE_UNASSIGNED,
                reason_detail="Assign the EVSE, then re-rate.",
            )
        elif kind == 2:
            CDRFactory(evse=None, status=CDRStatus.NOT_INVOICEABLE, reason=CDRReason.EVSE_UNKNOWN)
        else:
            CDRFactory(evse=chargers[index % 5], credit=True, total_cost_excl_vat=Decimal("-10"))

    _assert_same_queries_at_25_and_500(manager_client, reverse("evse_payout:cdr_list"))
    _assert_same_queries_at_25_and_500(
        manager_client, reverse("evse_payout:cdr_list"), {"account": account.pk}, matching=ROWS // 4
    )
