"""PUT/PATCH of OCPI locations and EVSEs: rows created and updated, output derived, REMOVED."""

from decimal import Decimal

import pytest

from evse_payout.models import (
    EVSE,
    Assignment,
    AuditAction,
    AuditEvent,
    Connector,
    EVSEStatus,
    Location,
    UnassignedEVSE,
    UnassignReason,
)
from evse_payout.selectors.evses import unassigned_evses
from tests.factories import AssignmentFactory, LocationFactory, SubCPOFactory

from .conftest import envelope, fixture_json

pytestmark = pytest.mark.django_db


def test_put_location_example_creates_location_evses_and_connectors(peer):
    response = peer.put_location(fixture_json("location_example.json"))

    body = envelope(response)
    assert response.status_code == 200, body
    assert body["status_code"] == 1000
    location = Location.objects.get()
    assert (location.country_code, location.party_id, location.location_id) == ("BE", "BEC", "LOC1")
    assert location.name == "Gent Zuid"
    assert location.address == "F.Rooseveltlaan 3A"
    assert (location.postal_code, location.city, location.country) == ("9000", "Gent", "BEL")
    assert location.time_zone == "Europe/Brussels"
    assert location.owner is None
    evses = {evse.uid: evse for evse in EVSE.objects.all()}
    assert set(evses) == {"3256", "3257"}
    assert evses["3256"].evse_id == "BE*BEC*E041503001"
    assert evses["3257"].status == EVSEStatus.RESERVED
    # 220 V × 16 A × 3 phases = 10.56 kW; no max_electric_power given.
    assert evses["3256"].output_kw == Decimal("10.56")
    assert evses["3256"].power_type == "AC_3_PHASE"
    assert Connector.objects.filter(evse=evses["3256"]).count() == 2


def test_new_evses_are_unassigned(peer):
    peer.put_location(fixture_json("location_example.json"))

    assert EVSE.objects.count() == 2
    assert not Assignment.objects.exists()
    assert set(unassigned_evses()) == set(EVSE.objects.all())  # the narrow table has them


def test_evses_a_put_sets_removed_or_moves_leave_or_follow_the_unassigned_table(peer):
    peer.put_location(fixture_json("location_example.json"))
    payload = fixture_json("location_example.json")
    payload["evses"][0]["status"] = "REMOVED"
    peer.put_location(payload)
    assert list(unassigned_evses().values_list("uid", flat=True)) == ["3257"]

    peer.evse("PATCH", {"status": "AVAILABLE"}, uid="3256")
    assert set(unassigned_evses().values_list("uid", flat=True)) == {"3256", "3257"}
    assert set(UnassignedEVSE.objects.values_list("evse_code", flat=True)) == set(
        EVSE.objects.values_list("evse_id", flat=True)
    )


def test_put_again_updates_in_place_and_keeps_the_owner(peer):
    owner = SubCPOFactory()
    peer.put_location(fixture_json("location_example.json"))
    Location.objects.update(owner=owner)
    changed = fixture_json("location_example.json")
    changed["name"] = "Gent Zuid Station"
    changed["evses"][0]["connectors"].pop()

    response = peer.put_location(changed)

    assert response.status_code == 200
    location = Location.objects.get()
    assert location.name == "Gent Zuid Station"
    assert location.owner == owner
    assert EVSE.objects.count() == 2
    assert Connector.objects.filter(evse__uid="3256").count() == 1


def test_strongest_connector_decides_output_and_power_type(peer):
    payload = fixture_json("location_example.json")
    payload["evses"][0]["connectors"][1].update(
        {"standard": "IEC_62196_T2_COMBO", "power_type": "DC", "max_voltage": 920,
         "max_amperage": 500, "max_electric_power": 150000}
    )  # fmt: skip

    peer.put_location(payload)

    evse = EVSE.objects.get(uid="3256")
    assert evse.output_kw == Decimal("150.00")
    assert evse.power_type == "DC"


def test_second_location_example_is_accepted(peer):
    payload = fixture_json("location_example_uc2_destination_charger.json")

    response = peer.put_location(
        payload, cc="NL", party="ALF", location_id="3e7b39c2-10d0-4138-a8b3-8509a25f9920"
    )

    assert response.status_code == 200, response.json()
    assert EVSE.objects.get().evse_id == "NL*ALF*E000000001"


def test_put_evse_example_with_numbers_for_strings_updates_the_known_evse(peer):
    peer.put_location(fixture_json("location_example.json"))

    response = peer.evse("PUT", fixture_json("location_put_example_add_evse.json"), uid="3256")

    assert response.status_code == 200, response.json()
    evse = EVSE.objects.get(uid="3256")
    assert evse.evse_id == "BE*BEC*E041503003"
    connector = evse.connectors.get()
    # The example omits power type, voltage and amperage: the stored connector keeps them.
    assert (connector.format, connector.power_type, connector.max_voltage) == (
        "SOCKET",
        "AC_3_PHASE",
        220,
    )
    assert evse.output_kw == Decimal("10.56")


def test_evse_uid_in_the_body_must_match_the_url(peer):
    peer.put_location(fixture_json("location_example.json"))

    response = peer.evse("PUT", fixture_json("location_put_example_add_evse.json"), uid="9999")

    body = envelope(response)
    assert response.status_code == 400
    assert body["status_code"] == 2001
    assert body["status_message"] == "uid: “3256” does not match the URL (“9999”)"


def test_put_new_evse_missing_connector_values_names_the_field(peer):
    peer.put_location(fixture_json("location_example.json"))
    payload = fixture_json("location_put_example_add_evse.json")
    payload.update(uid="4000", evse_id="BE*BEC*E041504000")

    response = peer.evse("PUT", payload, uid="4000")

    body = envelope(response)
    assert response.status_code == 400
    assert body["status_message"] == "connectors[0].power_type: Field required for a new connector"
    assert not EVSE.objects.filter(uid="4000").exists()


def test_put_evse_without_evse_id_is_refused(peer):
    peer.put_location(fixture_json("location_example.json"))
    payload = fixture_json("location_example.json")["evses"][0]
    payload.update(uid="4000")
    del payload["evse_id"]

    response = peer.evse("PUT", payload, uid="4000")

    body = envelope(response)
    assert response.status_code == 400
    assert body["status_message"] == "evse_id: Field required"


def test_invalid_evse_id_is_refused(peer):
    payload = fixture_json("location_example.json")
    payload["evses"][1]["evse_id"] = "not an evse id"

    response = peer.put_location(payload)

    body = envelope(response)
    assert response.status_code == 400
    assert body["status_message"].startswith("evses[1].evse_id: Value error, “not an evse id”")
    assert not Location.objects.exists()


def test_evse_id_is_stored_upper_case(peer):
    payload = fixture_json("location_example.json")
    payload["evses"][0]["evse_id"] = "be*bec*e041503001"

    peer.put_location(payload)

    assert EVSE.objects.filter(evse_id="BE*BEC*E041503001").exists()


def test_evse_id_of_another_active_evse_is_refused(peer):
    payload = fixture_json("location_example.json")
    payload["evses"][1]["evse_id"] = payload["evses"][0]["evse_id"]

    response = peer.put_location(payload)

    body = envelope(response)
    assert response.status_code == 400
    assert body["status_message"].startswith(
        "evses[1].evse_id: BE*BEC*E041503001 is already used by EVSE uid 3256"
    )
    assert not EVSE.objects.exists()


def test_patch_evse_status_applies_only_the_given_fields(peer):
    peer.put_location(fixture_json("location_example.json"))

    response = peer.evse("PATCH", fixture_json("location_patch_example_status.json"), uid="3256")

    assert response.status_code == 200, response.json()
    evse = EVSE.objects.get(uid="3256")
    assert evse.status == EVSEStatus.CHARGING
    assert evse.evse_id == "BE*BEC*E041503001"
    assert evse.connectors.count() == 2
    assert Location.objects.get().last_updated.isoformat() == "2019-06-24T12:39:09+00:00"


def test_patch_location_changes_only_the_given_fields(peer):
    peer.put_location(fixture_json("location_example.json"))

    response = peer.request(
        "PATCH", "/ocpi/2.2.1/locations/BE/BEC/LOC1", {"name": "Gent Sint-Pieters"}
    )

    assert response.status_code == 200
    location = Location.objects.get()
    assert (location.name, location.city) == ("Gent Sint-Pieters", "Gent")


def test_patch_unknown_evse_is_404(peer):
    peer.put_location(fixture_json("location_example.json"))

    response = peer.evse("PATCH", {"status": "AVAILABLE"}, uid="nope")

    body = envelope(response)
    assert response.status_code == 404
    assert body["status_code"] == 2003


def test_put_evse_of_unknown_location_is_404(peer):
    response = peer.evse("PUT", fixture_json("location_put_example_add_evse.json"), uid="3256")

    assert response.status_code == 404
    assert envelope(response)["status_code"] == 2003
    assert not EVSE.objects.exists()


def test_url_and_body_ids_must_agree(peer):
    response = peer.put_location(fixture_json("location_example.json"), location_id="LOC2")

    body = envelope(response)
    assert response.status_code == 400
    assert body["status_message"] == "id: “LOC1” does not match the URL (“LOC2”)"
    assert not Location.objects.exists()


def test_removed_evse_closes_its_open_assignment(peer):
    peer.put_location(fixture_json("location_example.json"))
    evse = EVSE.objects.get(uid="3256")
    assignment = AssignmentFactory(evse=evse)

    response = peer.evse("PATCH", {"status": "REMOVED"}, uid="3256")

    assert response.status_code == 200
    assignment.refresh_from_db()
    assert assignment.unassigned_at is not None
    assert assignment.unassign_reason == UnassignReason.EVSE_REMOVED
    assert not Assignment.objects.open().filter(evse=evse).exists()
    audit = AuditEvent.objects.get(action=AuditAction.EVSE_REMOVED)
    assert audit.payout_account == assignment.payout_account
    assert audit.actor_label == "OCPI peer “Peer under test”"
    assert EVSE.objects.active().filter(pk=evse.pk).count() == 0


def test_removed_evse_id_can_be_reused_by_a_new_evse(peer):
    peer.put_location(fixture_json("location_example.json"))
    peer.evse("PATCH", {"status": "REMOVED"}, uid="3256")
    payload = fixture_json("location_example.json")["evses"][0]
    payload["uid"] = "5000"

    response = peer.evse("PUT", payload, uid="5000")

    assert response.status_code == 200, response.json()
    assert EVSE.objects.filter(evse_id="BE*BEC*E041503001").count() == 2


def test_evse_put_at_a_sub_cpo_location_belongs_to_that_sub_cpo(peer):
    owner = SubCPOFactory()
    LocationFactory(location_id="LOC1", owner=owner)

    peer.evse("PUT", fixture_json("location_example.json")["evses"][0], uid="3256")

    assert EVSE.objects.get().owner == owner


def test_url_ids_longer_than_their_columns_are_refused(peer):
    payload = fixture_json("location_example.json")
    payload["id"] = "L" * 37

    response = peer.put_location(payload, location_id="L" * 37)

    body = envelope(response)
    assert response.status_code == 400
    assert body["status_message"].startswith("URL id “LLLL")
    assert not Location.objects.exists()
