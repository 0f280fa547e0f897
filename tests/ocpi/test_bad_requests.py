"""Invalid input is answered 4xx with the OCPI envelope and a message naming the field; nothing
is stored; never a 500."""

import copy
import json

import pytest
from django.test import override_settings

from evse_payout.models import CDR, EVSE, Location
from tests.factories import ocpi_cdr_payload

from .conftest import envelope, fixture_json

pytestmark = pytest.mark.django_db

REQUIRED_CDR_FIELDS = [
    "country_code", "party_id", "id", "start_date_time", "end_date_time", "cdr_token",
    "cdr_token.uid", "cdr_token.type", "cdr_token.contract_id", "auth_method", "cdr_location",
    "cdr_location.id", "cdr_location.address", "cdr_location.city", "cdr_location.country",
    "cdr_location.coordinates", "cdr_location.coordinates.latitude", "cdr_location.evse_uid",
    "cdr_location.evse_id", "cdr_location.connector_id", "cdr_location.connector_standard",
    "cdr_location.connector_format", "cdr_location.connector_power_type", "currency",
    "charging_periods", "total_cost", "total_cost.excl_vat", "total_energy", "total_time",
    "last_updated",
]  # fmt: skip


def _without(payload: dict, path: str) -> dict:
    payload = copy.deepcopy(payload)
    *parents, leaf = path.split(".")
    target = payload
    for key in parents:
        target = target[key]
    del target[leaf]
    return payload


def _assert_refused(response, message_start: str, *, http_status=400, status_code=2001):
    body = envelope(response)
    assert response.status_code == http_status, body
    assert body["status_code"] == status_code
    assert body["status_message"].startswith(message_start), body["status_message"]
    assert body["data"] is None
    assert not CDR.objects.exists()


@pytest.mark.parametrize("path", REQUIRED_CDR_FIELDS)
def test_missing_required_field_is_named(peer, path):
    response = peer.post_cdr(_without(ocpi_cdr_payload(), path))

    _assert_refused(response, f"{path}: Field required")


def test_missing_field_in_a_list_item_names_its_index(peer):
    payload = ocpi_cdr_payload()
    del payload["charging_periods"][0]["dimensions"]

    _assert_refused(peer.post_cdr(payload), "charging_periods[0].dimensions: Field required")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("this is not JSON", "Not valid JSON"),
        ('{"id": "1",', "Not valid JSON"),
        (b"\xff\xfe{}", "Not UTF-8 encoded."),
        ("", "The body is empty"),
        ("[]", "Expected a JSON object (one OCPI CDR)"),
        (json.dumps([ocpi_cdr_payload()]), "Expected a JSON object (one OCPI CDR)"),
        ('"a string"', "Expected a JSON object (one OCPI CDR)"),
        ("null", "Expected a JSON object (one OCPI CDR)"),
        ('{"total_energy": NaN}', "Not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "The JSON is nested deeper than"),
        ('{"a":' * 40 + "1" + "}" * 40, "The JSON is nested deeper than 32 levels."),
    ],
    ids=[
        "text",
        "truncated",
        "not-utf8",
        "empty",
        "empty-array",
        "array",
        "string",
        "null",
        "nan",
        "deep-arrays",
        "deep-objects",
    ],  # fmt: skip
)
def test_malformed_bodies_are_refused(peer, body, message):
    _assert_refused(peer.post_cdr(body), message)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"total_energy": "lots"}, "total_energy: Input should be a valid decimal"),
        ({"total_energy": [1]}, "total_energy: Decimal input should be"),
        ({"total_energy": True}, "total_energy: Decimal input should be"),
        ({"total_energy": 1.23456}, "total_energy: Decimal input should have no more than 4"),
        (
            {"total_energy": 1e12},
            "total_energy: Decimal input should have no more than 10 digits before",
        ),
        ({"total_cost": 4}, "total_cost: Input should be a valid dictionary"),
        ({"start_date_time": "yesterday"}, "start_date_time: Input should be a valid datetime"),
        ({"start_date_time": 1435613949}, "start_date_time: Value error, Input should be an RFC"),
        ({"country_code": "BEL"}, "country_code: String should have at most 2 characters"),
        ({"party_id": "BE"}, "party_id: String should have at least 3 characters"),
        ({"id": "x" * 40}, "id: String should have at most 39 characters"),
        ({"auth_method": "MAGIC"}, "auth_method: Input should be 'AUTH_REQUEST'"),
        ({"currency": None}, "currency: Input should be a valid string"),
        ({"charging_periods": []}, "charging_periods: List should have at least 1 item"),
        ({"credit": "maybe"}, "credit: Input should be a valid boolean"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_wrong_types_and_lengths_are_refused(peer, overrides, message):
    _assert_refused(peer.post_cdr(ocpi_cdr_payload(**overrides)), message)


def test_wrong_nested_type_names_the_path(peer):
    payload = ocpi_cdr_payload()
    payload["cdr_location"]["connector_power_type"] = "AC_4_PHASE"

    _assert_refused(peer.post_cdr(payload), "cdr_location.connector_power_type: Input should be")


def test_several_errors_are_listed_together(peer):
    payload = _without(_without(ocpi_cdr_payload(), "currency"), "cdr_location.evse_uid")

    _assert_refused(peer.post_cdr(payload), "cdr_location.evse_uid: Field required; currency:")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"total_energy": -5}, "total_energy: must not be negative on a CDR that is not a credit"),
        (
            {"start_date_time": "2026-10-01T10:00:00Z", "end_date_time": "2026-10-01T09:00:00Z"},
            "end_date_time: the session ends before it starts",
        ),
    ],
    ids=["negative-energy", "end-before-start"],
)
def test_impossible_sessions_are_refused_at_intake(peer, overrides, message):
    _assert_refused(peer.post_cdr(ocpi_cdr_payload(**overrides)), message)


def test_credit_cdr_may_carry_negative_energy(peer):
    original = ocpi_cdr_payload(id="ORIG1")
    assert peer.post_cdr(original).status_code == 200
    credit = ocpi_cdr_payload(
        id="CREDIT1",
        credit=True,
        credit_reference_id="ORIG1",
        total_energy=-15.342,
        total_cost={"excl_vat": -10.00, "incl_vat": -12.10},
    )

    response = peer.post_cdr(credit)

    assert response.status_code == 200
    assert CDR.objects.get(cdr_id="CREDIT1").credit


@override_settings(OCPI_MAX_BODY_BYTES=2000)
def test_oversized_body_is_413(peer):
    body = json.dumps(ocpi_cdr_payload(remark="x" * 3000))

    _assert_refused(peer.post_cdr(body), "The body is larger than 2,000 bytes.",
                    http_status=413, status_code=2000)  # fmt: skip


def test_wrong_content_type_is_415(peer):
    response = peer.post_cdr(json.dumps(ocpi_cdr_payload()), content_type="text/plain")

    _assert_refused(response, "The body must be application/json", http_status=415,
                    status_code=2000)  # fmt: skip


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p.update(country="Belgium"), "country: String should have at most 3"),
        (lambda p: p.update(country="XXX"), "country: Value error, “XXX” is not an ISO 3166-1"),
        (lambda p: p.update(address="x" * 46), "address: String should have at most 45"),
        (lambda p: p["evses"][0].update(status="BROKEN"), "evses[0].status: Input should be"),
        (lambda p: p["evses"][0].update(connectors=[]), "evses[0].connectors: List should have"),
        (lambda p: p["evses"][0]["connectors"][0].update(max_voltage=-1),
         "evses[0].connectors[0].max_voltage: Input should be greater than or equal to 0"),
        (lambda p: p["evses"][0]["connectors"][0].update(format="PLUG"),
         "evses[0].connectors[0].format: Input should be 'SOCKET' or 'CABLE'"),
        (lambda p: p.pop("coordinates"), "coordinates: Field required"),
    ],
)  # fmt: skip
def test_bad_locations_are_refused(peer, mutate, message):
    payload = fixture_json("location_example.json")
    mutate(payload)

    response = peer.put_location(payload)

    body = envelope(response)
    assert response.status_code == 400
    assert body["status_code"] == 2001
    assert body["status_message"].startswith(message), body["status_message"]
    assert not Location.objects.exists()
    assert not EVSE.objects.exists()
