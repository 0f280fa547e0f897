"""The EVSE page: details, assignment history (R7) and the counts of its CDRs."""

from datetime import timedelta
from urllib.parse import quote

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from evse_payout.models import CDRReason, CDRStatus, PowerType, UnassignReason
from tests.factories import (
    AssignmentFactory,
    CDRFactory,
    ConnectorFactory,
    EVSEFactory,
    LocationFactory,
    PayoutAccountFactory,
    SubCPOFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def page_url(evse):
    return reverse("evse_payout:evse_detail", args=[evse.pk])


def closed_assignment(evse, account, *, days_ago, user, reason=UnassignReason.MANUAL):
    assigned_at = timezone.now() - timedelta(days=days_ago)
    return AssignmentFactory(
        evse=evse,
        payout_account=account,
        assigned_at=assigned_at,
        assigned_by=user,
        unassigned_at=assigned_at + timedelta(hours=1),
        unassigned_by=user,
        unassign_reason=reason,
    )


def test_evse_page_shows_details_and_connectors(viewer_client):
    owner = SubCPOFactory(name="Fleet depot")
    location = LocationFactory(
        name="Depot Noord",
        address="Havenlaan 1",
        postal_code="9000",
        city="Gent",
        country="BEL",
        owner=owner,
    )
    evse = EVSEFactory(
        evse_id="BE*BEC*E041503003",
        uid="3256",
        location=location,
        power_type=PowerType.DC,
        output_kw="150.00",
    )
    ConnectorFactory(evse=evse, connector_id="2", standard="IEC_62196_T2_COMBO")
    ConnectorFactory(evse=evse, connector_id="1", standard="CHADEMO")

    response = viewer_client.get(page_url(evse))

    assert response.status_code == 200
    html = response.content.decode()
    for text in (
        "BE*BEC*E041503003",
        "3256",
        "BE*BEC",
        "Depot Noord",
        "Havenlaan 1",
        "9000",
        "Gent",
        "Belgium",
        "Fleet depot",
        "DC",
        "150 kW",
        "Available",
        "IEC_62196_T2_COMBO",
    ):
        assert text in html, text
    assert html.index("CHADEMO") < html.index("IEC_62196_T2_COMBO")
    assert "This EVSE has never been assigned" in html


def test_evse_page_shows_assignment_history_newest_first(viewer_client):
    evse = EVSEFactory()
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    old = PayoutAccountFactory(name="Old account")
    closed_assignment(evse, old, days_ago=10, user=bob, reason=UnassignReason.ACCOUNT_DEACTIVATED)
    current = PayoutAccountFactory(name="Current account")
    AssignmentFactory(
        evse=evse,
        payout_account=current,
        assigned_at=timezone.now() - timedelta(days=1),
        assigned_by=alice,
    )

    response = viewer_client.get(page_url(evse))

    history = response.context["history"]
    assert [a.payout_account.name for a in history] == ["Current account", "Old account"]
    html = response.content.decode()
    assert html.index("Current account") < html.index(
        "Old account", html.index("Assignment history")
    )
    assert "Payout account deactivated" in html
    assert "alice" in html and "bob" in html
    assert response.context["current"].payout_account == current


def test_evse_page_counts_its_cdrs_by_status_and_links_to_the_overview(viewer_client):
    evse = EVSEFactory(evse_id="BE*BEC*E000000777")
    CDRFactory.create_batch(
        2, evse=evse, status=CDRStatus.NOT_INVOICEABLE, reason=CDRReason.EVSE_UNASSIGNED
    )
    CDRFactory(evse=evse, status=CDRStatus.NEW)
    CDRFactory(evse=EVSEFactory(), status=CDRStatus.NEW)

    response = viewer_client.get(page_url(evse))

    counts = {status: count for status, _, count in response.context["cdr_counts"]}
    assert counts == {
        CDRStatus.NEW: 1,
        CDRStatus.RATED: 0,
        CDRStatus.NOT_INVOICEABLE: 2,
        CDRStatus.INVOICED: 0,
    }
    link = f"{reverse('evse_payout:cdr_list')}?evse_id={quote('BE*BEC*E000000777', safe='/')}"
    assert f'href="{link}"' in response.content.decode()


def history_page_queries(client, evse) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(page_url(evse)).status_code == 200
    return len(queries)


def test_evse_page_query_count_is_the_same_for_1_and_20_history_rows(viewer_client):
    evse = EVSEFactory()
    ConnectorFactory(evse=evse)
    user = UserFactory()
    closed_assignment(evse, PayoutAccountFactory(), days_ago=100, user=user)
    viewer_client.get(page_url(evse))
    one = history_page_queries(viewer_client, evse)
    for days_ago in range(1, 20):
        closed_assignment(evse, PayoutAccountFactory(), days_ago=days_ago, user=UserFactory())
        ConnectorFactory(evse=evse)
    assert history_page_queries(viewer_client, evse) == one


def test_evse_page_needs_login(client):
    evse = EVSEFactory()
    response = client.get(page_url(evse))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_evse_page_needs_the_view_permission(client):
    client.force_login(UserFactory())
    assert client.get(page_url(EVSEFactory())).status_code == 403


def test_unknown_evse_is_404(viewer_client):
    assert viewer_client.get(reverse("evse_payout:evse_detail", args=[999999])).status_code == 404
