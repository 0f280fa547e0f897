"""`create_locations`: new OCPI locations stored set-based, the same rows a PUT of each stores."""

import copy

import pytest

from evse_payout.models import EVSE, Connector, EVSEStatus, Location
from evse_payout.payloads.ocpi import OCPIValidationError
from evse_payout.services.ocpi_ingest import create_locations, import_location
from tests.ocpi.conftest import fixture_json

pytestmark = pytest.mark.django_db

EXAMPLES = ("location_example.json", "location_example_uc2_destination_charger.json")


def stored_network():
    """Every stored value of the locations, EVSEs and connectors, without primary keys."""
    locations = list(
        Location.objects.order_by("location_id").values(
            "country_code", "party_id", "location_id", "name", "address", "postal_code",
            "city", "country", "time_zone", "owner", "last_updated",
        )
    )  # fmt: skip
    evses = list(
        EVSE.objects.order_by("uid").values(
            "country_code", "party_id", "uid", "evse_id", "location__location_id",
            "power_type", "output_kw", "status", "last_updated",
        )
    )  # fmt: skip
    connectors = list(
        Connector.objects.order_by("evse__uid", "connector_id").values(
            "evse__uid", "connector_id", "standard", "format", "power_type", "max_voltage",
            "max_amperage", "max_electric_power", "last_updated",
        )
    )  # fmt: skip
    return locations, evses, connectors


def renamed(payload, *, location_id, evse_prefix):
    """A copy of a location with another id and other EVSE uids and EVSE IDs."""
    payload = copy.deepcopy(payload)
    payload["id"] = location_id
    for evse in payload["evses"]:
        evse["uid"] = f"{evse_prefix}-{evse['uid']}"
        evse["evse_id"] = evse["evse_id"].replace("E0415", evse_prefix)
    return payload


def test_created_locations_equal_what_a_put_of_each_location_stores():
    payloads = [fixture_json(name) for name in EXAMPLES]
    for payload in payloads:
        import_location(payload=payload, actor_name="test")
    through_put = stored_network()
    Connector.objects.all().delete()
    EVSE.objects.all().delete()
    Location.objects.all().delete()

    created = create_locations(payloads=payloads)

    assert [location.location_id for location in created] == [p["id"] for p in payloads]
    assert stored_network() == through_put
    assert EVSE.objects.count() == sum(len(p["evses"]) for p in payloads)


def test_an_evse_id_in_use_refuses_the_whole_batch():
    example = fixture_json("location_example.json")
    create_locations(payloads=[example])
    fresh = renamed(example, location_id="LOC-NEW", evse_prefix="E0999")
    clash = renamed(example, location_id="LOC-CLASH", evse_prefix="E0777")
    clash["evses"][0]["evse_id"] = example["evses"][0]["evse_id"]

    with pytest.raises(OCPIValidationError, match=r"BE\*BEC\*E041503001 is already used"):
        create_locations(payloads=[fresh, clash])

    assert list(Location.objects.values_list("location_id", flat=True)) == [example["id"]]


def test_the_same_evse_id_twice_in_one_batch_is_refused():
    example = fixture_json("location_example.json")
    other = renamed(example, location_id="LOC-2", evse_prefix="E0999")
    other["evses"][1]["evse_id"] = example["evses"][0]["evse_id"]

    with pytest.raises(OCPIValidationError, match=r"BE\*BEC\*E041503001 is already used"):
        create_locations(payloads=[example, other])

    assert not Location.objects.exists()


def test_a_removed_evse_does_not_hold_its_evse_id():
    example = fixture_json("location_example.json")
    other = renamed(example, location_id="LOC-2", evse_prefix="E0999")
    other["evses"][0]["evse_id"] = example["evses"][0]["evse_id"]
    other["evses"][0]["status"] = EVSEStatus.REMOVED

    create_locations(payloads=[example, other])

    assert EVSE.objects.filter(evse_id=example["evses"][0]["evse_id"]).count() == 2


def test_a_known_location_is_refused():
    example = fixture_json("location_example.json")
    import_location(payload=example, actor_name="test")
    fresh = renamed(example, location_id="LOC-NEW", evse_prefix="E0999")

    with pytest.raises(OCPIValidationError, match="exists already"):
        create_locations(payloads=[fresh, example])

    assert Location.objects.count() == 1


def test_an_invalid_location_is_named_by_its_position_and_field():
    example = fixture_json("location_example.json")
    broken = renamed(example, location_id="LOC-2", evse_prefix="E0999")
    del broken["evses"][1]["connectors"][0]["max_voltage"]

    with pytest.raises(
        OCPIValidationError,
        match=r"locations\[1\]: evses\[1\]\.connectors\[0\]\.max_voltage: Field required",
    ):
        create_locations(payloads=[example, broken])

    assert not Location.objects.exists()
