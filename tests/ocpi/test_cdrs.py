"""POST/GET of OCPI CDRs: stored once with exact amounts, rated at intake, immutable."""

import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evse_payout.models import CDR, EVSE, CDRRating, CDRReason, CDRStatus
from tests.factories import AssignmentFactory, PayoutAccountFactory, ocpi_cdr_payload

from .conftest import envelope, fixture_json, fixture_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def example_evse(peer):
    """The location of the OCPI examples, with EVSE 3256 carrying the CDR example's EVSE ID."""
    peer.put_location(fixture_json("location_example.json"))
    peer.evse("PUT", fixture_json("location_put_example_add_evse.json"), uid="3256")
    return EVSE.objects.get(uid="3256")


def test_cdr_example_round_trip(peer, example_evse):
    response = peer.post_cdr(fixture_text("cdr_example.json"))

    body = envelope(response)
    assert response.status_code == 200, body
    assert body["status_code"] == 1000
    assert response["Location"] == "http://testserver/ocpi/2.2.1/cdrs/12345"
    cdr = CDR.objects.get()
    assert (cdr.country_code, cdr.party_id, cdr.cdr_id) == ("BE", "BEC", "12345")
    assert cdr.total_cost_excl_vat == Decimal("4.00")
    assert cdr.total_cost_incl_vat == Decimal("4.40")
    assert cdr.total_energy == Decimal("15.342")
    assert cdr.total_time == Decimal("1.973")
    assert cdr.start_date_time.isoformat() == "2015-06-29T21:39:09+00:00"
    assert cdr.evse == example_evse
    assert cdr.location == example_evse.location
    assert cdr.evse_id_raw == "BE*BEC*E041503003"

    fetched = peer.request("GET", response["Location"])

    assert fetched.status_code == 200
    assert envelope(fetched)["data"] == json.loads(fixture_text("cdr_example.json"))


def test_cdr_is_rated_at_intake(peer, example_evse):
    AssignmentFactory(evse=example_evse, payout_account=PayoutAccountFactory(currency="EUR"))

    peer.post_cdr(fixture_text("cdr_example.json"))

    cdr = CDR.objects.get()
    assert cdr.status == CDRStatus.RATED
    assert cdr.payout is not None
    assert CDRRating.objects.filter(cdr=cdr).count() == 1


def test_cdr_of_an_unassigned_evse_is_held(peer, example_evse):
    peer.post_cdr(fixture_text("cdr_example.json"))

    cdr = CDR.objects.get()
    assert (cdr.status, cdr.reason) == (CDRStatus.NOT_INVOICEABLE, CDRReason.EVSE_UNASSIGNED)


def test_cdr_of_an_unknown_evse_is_stored_and_held(peer):
    response = peer.post_cdr(fixture_text("cdr_example.json"))

    assert response.status_code == 200
    cdr = CDR.objects.get()
    assert cdr.evse is None
    assert cdr.reason == CDRReason.EVSE_UNKNOWN


def test_the_same_cdr_again_is_stored_once(peer, example_evse):
    first = peer.post_cdr(fixture_text("cdr_example.json"))
    # Same content, other spelling: key order, whitespace and 4.00 vs 4.0 do not matter.
    again = json.dumps(json.loads(fixture_text("cdr_example.json")), sort_keys=True)

    second = peer.post_cdr(again)

    assert second.status_code == 200
    assert envelope(second)["status_code"] == 1000
    assert second["Location"] == first["Location"]
    assert CDR.objects.count() == 1
    assert CDRRating.objects.count() == 1


def test_the_same_id_with_other_content_is_refused(peer, example_evse):
    peer.post_cdr(fixture_text("cdr_example.json"))
    changed = fixture_json("cdr_example.json")
    changed["total_cost"]["excl_vat"] = 5.00

    response = peer.post_cdr(changed)

    body = envelope(response)
    assert response.status_code == 400
    assert body["status_code"] == 2001
    assert body["status_message"] == ("CDRs are immutable; send a credit CDR to correct CDR 12345")
    assert CDR.objects.get().total_cost_excl_vat == Decimal("4.00")


def test_credit_cdr_is_linked_to_its_original(peer, example_evse):
    peer.post_cdr(fixture_text("cdr_example.json"))
    credit = fixture_json("cdr_example.json")
    credit.update(id="12345-C", credit=True, credit_reference_id="12345",
                  total_cost={"excl_vat": -4.00, "incl_vat": -4.40})  # fmt: skip

    response = peer.post_cdr(credit)

    assert response.status_code == 200, response.json()
    stored = CDR.objects.get(cdr_id="12345-C")
    assert stored.credit
    assert stored.credited_cdr == CDR.objects.get(cdr_id="12345")
    assert stored.total_cost_excl_vat == Decimal("-4.00")


def test_credit_cdr_for_an_unknown_original_is_held(peer):
    response = peer.post_cdr(ocpi_cdr_payload(credit=True, credit_reference_id="NOPE"))

    assert response.status_code == 200
    assert CDR.objects.get().reason == CDRReason.CREDIT_ORIGINAL_UNKNOWN


def test_credit_cdr_without_reference_is_refused(peer):
    response = peer.post_cdr(ocpi_cdr_payload(credit=True))

    assert response.status_code == 400
    assert envelope(response)["status_message"] == (
        "credit_reference_id: Field required for a credit CDR"
    )
    assert not CDR.objects.exists()


def test_amounts_are_exact_decimals(peer):
    body = json.dumps(ocpi_cdr_payload()).replace('"excl_vat": 10.0', '"excl_vat": 0.1234')

    peer.post_cdr(body)

    assert CDR.objects.get().total_cost_excl_vat == Decimal("0.1234")


def test_dates_with_offsets_or_none_are_utc(peer):
    peer.post_cdr(
        ocpi_cdr_payload(
            start_date_time="2026-10-01T10:00:00+02:00", end_date_time="2026-10-01T09:00:00"
        )
    )

    cdr = CDR.objects.get()
    assert cdr.start_date_time.isoformat() == "2026-10-01T08:00:00+00:00"
    assert cdr.end_date_time.isoformat() == "2026-10-01T09:00:00+00:00"


def test_get_unknown_cdr_is_404_with_envelope(peer):
    response = peer.request("GET", "/ocpi/2.2.1/cdrs/nope")

    assert response.status_code == 404
    assert envelope(response)["status_code"] == 2000


def test_unknown_method_is_405_with_envelope(peer):
    response = peer.request("DELETE", "/ocpi/2.2.1/cdrs")

    assert response.status_code == 405
    assert envelope(response)["status_code"] == 2000
    assert response["Allow"] == "POST"


def test_unknown_endpoint_is_404_with_envelope(peer):
    response = peer.request("GET", "/ocpi/2.2.1/tariffs")

    assert response.status_code == 404
    envelope(response)


def test_intake_takes_a_constant_number_of_queries(peer, example_evse):
    with CaptureQueriesContext(connection) as queries:
        peer.post_cdr(ocpi_cdr_payload(id="A"))
    with CaptureQueriesContext(connection) as again:
        peer.post_cdr(ocpi_cdr_payload(id="B"))

    assert len(again) == len(queries)
    assert len(queries) < 20
