"""Location PUT at scale (issue 11 §2) and the owner rule for EVSEs that move (R2, issue 11 §1).

A location holds at most 1,000 EVSEs; its EVSEs are written with a number of queries that does
not grow with them. An EVSE assigned to one holder's account cannot move to a location of
another owner, and a uid is only ever looked up within the location's own party.
"""

import copy
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evse_payout.models import (
    EVSE,
    Assignment,
    AuditAction,
    AuditEvent,
    Connector,
    EVSEStatus,
    Location,
    UnassignReason,
)
from tests.factories import AssignmentFactory, LocationFactory, PayoutAccountFactory, SubCPOFactory

from .conftest import envelope, fixture_json

pytestmark = pytest.mark.django_db


def location_with(count: int, *, start: int = 0, location_id: str = "BIG", **evse_changes) -> dict:
    payload = fixture_json("location_example.json")
    template = payload["evses"][0]
    payload["id"] = location_id
    payload["evses"] = []
    for number in range(start, start + count):
        evse = copy.deepcopy(template)
        evse.update(uid=f"U{number}", evse_id=f"BE*BEC*E{number:08d}", **evse_changes)
        payload["evses"].append(evse)
    return payload


def put(peer, payload):
    return peer.put_location(payload, location_id=payload["id"])


# -- Scale ------------------------------------------------------------------------------------


def test_a_location_with_1001_evses_is_refused_and_nothing_stored(peer):
    response = put(peer, location_with(1001))

    body = envelope(response)
    assert response.status_code == 400
    assert body["status_code"] == 2001
    assert body["status_message"].startswith("evses: at most 1,000 EVSEs per location, not 1,001")
    assert not Location.objects.exists() and not EVSE.objects.exists()


def test_a_location_with_1000_evses_is_stored_quickly(peer):
    started = time.perf_counter()
    response = put(peer, location_with(1000))
    elapsed = time.perf_counter() - started

    assert response.status_code == 200, response.content[:300]
    assert EVSE.objects.count() == 1000
    assert Connector.objects.count() == 2000
    assert envelope(response)["status_message"] == (
        "Location created: 1000 EVSEs created, 0 updated"
    )
    # The 1 s bound is the benchmark's (bench: OCPI PUT location); a shared test machine gets slack.
    assert elapsed < 5, elapsed


def queries_of(peer, payload) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = put(peer, payload)
    assert response.status_code == 200, response.content[:300]
    return len(captured)


def test_creating_evses_takes_the_same_queries_for_5_or_60(peer):
    few = queries_of(peer, location_with(5, location_id="A"))
    many = queries_of(peer, location_with(60, start=100, location_id="B"))

    assert few == many


def test_updating_evses_takes_the_same_queries_for_5_or_60(peer):
    put(peer, location_with(5, location_id="A"))
    put(peer, location_with(60, start=100, location_id="B"))

    few = queries_of(peer, location_with(5, location_id="A", status="CHARGING"))
    many = queries_of(peer, location_with(60, start=100, location_id="B", status="CHARGING"))

    assert few == many
    assert EVSE.objects.filter(status=EVSEStatus.CHARGING).count() == 65


def test_removing_evses_takes_the_same_queries_for_5_or_60(peer):
    put(peer, location_with(5, location_id="A"))
    put(peer, location_with(60, start=100, location_id="B"))
    for evse in EVSE.objects.all():
        AssignmentFactory(evse=evse, payout_account__holder=None)

    few = queries_of(peer, location_with(5, location_id="A", status="REMOVED"))
    many = queries_of(peer, location_with(60, start=100, location_id="B", status="REMOVED"))

    assert few == many
    assert not Assignment.objects.open().exists()
    assert set(Assignment.objects.values_list("unassign_reason", flat=True)) == {
        UnassignReason.EVSE_REMOVED
    }
    assert AuditEvent.objects.filter(action=AuditAction.EVSE_REMOVED).count() == 65


def test_a_put_replaces_an_evses_connectors(peer):
    put(peer, location_with(2))
    payload = location_with(2)
    payload["evses"][0]["connectors"] = payload["evses"][0]["connectors"][:1]
    payload["evses"][0]["connectors"][0]["max_amperage"] = 32

    put(peer, payload)

    evse = EVSE.objects.get(uid="U0")
    assert list(evse.connectors.values_list("connector_id", "max_amperage")) == [("1", 32)]
    assert str(evse.output_kw) == "21.12"
    assert EVSE.objects.get(uid="U1").connectors.count() == 2


def test_a_uid_listed_twice_is_refused(peer):
    payload = location_with(2)
    payload["evses"][1]["uid"] = "U0"

    response = put(peer, payload)

    assert response.status_code == 400
    assert envelope(response)["status_message"].startswith(
        "evses[1].uid: U0 is listed twice (first as evses[0])"
    )
    assert not EVSE.objects.exists()


# -- Owner rule (R2) for EVSEs that move --------------------------------------------------------


@pytest.fixture
def hotel_evse(peer):
    """EVSE 3256 at a hotel's location LOC1, assigned to the hotel's account."""
    hotel = SubCPOFactory(name="Hotel")
    LocationFactory(location_id="LOC1", owner=hotel)
    peer.put_location(fixture_json("location_example.json"))
    evse = EVSE.objects.get(uid="3256")
    AssignmentFactory(evse=evse, payout_account=PayoutAccountFactory(name="Hotel", holder=hotel))
    return evse


def test_an_assigned_evse_cannot_move_to_a_location_of_another_owner(peer, hotel_evse):
    payload = fixture_json("location_example.json")
    payload["id"] = "CPO-SITE"

    response = peer.put_location(payload, location_id="CPO-SITE")

    body = envelope(response)
    assert response.status_code == 400
    assert body["status_message"].startswith(
        "evses[0].uid: EVSE BE*BEC*E041503001 is assigned to payout account “Hotel”"
    )
    assert not Location.objects.filter(location_id="CPO-SITE").exists()
    hotel_evse.refresh_from_db()
    assert hotel_evse.location.location_id == "LOC1"
    assert Assignment.objects.open().filter(evse=hotel_evse).exists()


def test_an_assigned_evse_cannot_move_by_an_evse_put_either(peer, hotel_evse):
    LocationFactory(location_id="CPO-SITE", owner=None)
    payload = fixture_json("location_example.json")["evses"][0]

    response = peer.evse("PUT", payload, uid="3256", location_id="CPO-SITE")

    assert response.status_code == 400
    assert "would give it another owner (R2)" in envelope(response)["status_message"]
    hotel_evse.refresh_from_db()
    assert hotel_evse.location.location_id == "LOC1"


def test_an_assigned_evse_may_move_within_its_owner(peer, hotel_evse):
    LocationFactory(location_id="HOTEL-2", owner=hotel_evse.location.owner)
    payload = fixture_json("location_example.json")
    payload["id"] = "HOTEL-2"

    response = peer.put_location(payload, location_id="HOTEL-2")

    assert response.status_code == 200, response.content
    hotel_evse.refresh_from_db()
    assert hotel_evse.location.location_id == "HOTEL-2"


def test_an_unassigned_evse_may_move_to_another_owner(peer):
    peer.put_location(fixture_json("location_example.json"))
    LocationFactory(location_id="HOTEL", owner=SubCPOFactory())
    payload = fixture_json("location_example.json")
    payload["id"] = "HOTEL"

    assert peer.put_location(payload, location_id="HOTEL").status_code == 200
    assert EVSE.objects.get(uid="3256").location.location_id == "HOTEL"


def test_a_uid_never_moves_an_evse_of_another_party(peer, hotel_evse):
    dutch = fixture_json("location_example.json")
    dutch.update(country_code="NL", party_id="ALF", id="NL-SITE")
    for evse in dutch["evses"]:
        evse["evse_id"] = evse["evse_id"].replace("BE*BEC", "NL*ALF")

    response = peer.put_location(dutch, cc="NL", party="ALF", location_id="NL-SITE")

    assert response.status_code == 200, response.content
    assert EVSE.objects.filter(uid="3256").count() == 2
    hotel_evse.refresh_from_db()
    assert (hotel_evse.party_id, hotel_evse.location.location_id) == ("BEC", "LOC1")
