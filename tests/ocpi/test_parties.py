"""OCPI credentials are bound to parties: a token speaks only for the parties it holds (issue 11).

Every request for another party is HTTP 403 with OCPI status 2001, names the party, and stores
nothing; `GET cdrs/<id>` looks only among the token's own parties.
"""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from evse_payout.models import (
    CDR,
    EVSE,
    Assignment,
    AuditAction,
    AuditEvent,
    EVSEStatus,
    Location,
    OCPIToken,
)
from evse_payout.services.ocpi_tokens import (
    OCPITokenError,
    create_ocpi_token,
    set_ocpi_token_parties,
)
from tests.factories import AssignmentFactory, CDRFactory, LocationFactory, ocpi_cdr_payload

from .conftest import Peer, envelope, fixture_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_peer(client) -> Peer:
    """A roaming peer that speaks only for NL/ALF."""
    return Peer(client, create_ocpi_token(name="Other peer", parties=["NL/ALF"]).secret)


def assert_refused(response, party: str) -> None:
    body = envelope(response)
    assert response.status_code == 403, body
    assert body["status_code"] == 2001
    assert f"party {party}" in body["status_message"]


def test_cdr_of_another_party_is_refused_and_nothing_stored(other_peer):
    response = other_peer.post_cdr(ocpi_cdr_payload(country_code="BE", party_id="BEC"))

    assert_refused(response, "BE/BEC")
    assert not CDR.objects.exists()


def test_cdr_of_the_tokens_own_party_is_stored(other_peer):
    response = other_peer.post_cdr(ocpi_cdr_payload(country_code="NL", party_id="ALF"))

    assert response.status_code == 200, response.content
    assert CDR.objects.get().party_id == "ALF"


def test_lower_case_party_in_the_body_is_still_checked(other_peer):
    response = other_peer.post_cdr(ocpi_cdr_payload(country_code="be", party_id="bec"))

    assert_refused(response, "BE/BEC")
    assert not CDR.objects.exists()


def test_a_token_without_parties_can_do_nothing(client):
    lonely = Peer(client, create_ocpi_token(name="No parties").secret)

    cdr = lonely.post_cdr(ocpi_cdr_payload())
    location = lonely.put_location(fixture_json("location_example.json"))

    assert_refused(cdr, "BE/BEC")
    assert_refused(location, "BE/BEC")
    assert "its parties: none" in envelope(cdr)["status_message"]
    assert not CDR.objects.exists() and not Location.objects.exists()


def test_location_put_for_another_party_is_refused_and_nothing_stored(other_peer):
    response = other_peer.put_location(fixture_json("location_example.json"))

    assert_refused(response, "BE/BEC")
    assert not Location.objects.exists() and not EVSE.objects.exists()


def test_location_put_cannot_rename_another_partys_location(peer, other_peer):
    peer.put_location(fixture_json("location_example.json"))
    payload = {**fixture_json("location_example.json"), "name": "Renamed by a stranger"}

    response = other_peer.put_location(payload)

    assert_refused(response, "BE/BEC")
    assert Location.objects.get().name == "Gent Zuid"


def test_evse_patch_for_another_party_is_refused_and_the_assignment_stays(peer, other_peer):
    peer.put_location(fixture_json("location_example.json"))
    evse = EVSE.objects.get(uid="3256")
    AssignmentFactory(evse=evse)

    response = other_peer.evse("PATCH", {"status": "REMOVED"}, uid="3256")

    assert_refused(response, "BE/BEC")
    evse.refresh_from_db()
    assert evse.status != EVSEStatus.REMOVED
    assert Assignment.objects.open().filter(evse=evse).exists()


def test_a_peer_cannot_take_another_partys_cdr_id_first(peer, other_peer):
    """Storing a CDR id under another party first would make the real CDR "immutable"."""
    other_peer.post_cdr(ocpi_cdr_payload(id="CDR-1", country_code="BE", party_id="BEC"))

    response = peer.post_cdr(ocpi_cdr_payload(id="CDR-1"))

    assert response.status_code == 200
    assert CDR.objects.get().party_id == "BEC"


def test_get_cdr_sees_only_the_tokens_parties(peer, other_peer):
    CDRFactory(cdr_id="SECRET-1", country_code="BE", party_id="BEC")

    theirs = other_peer.request("GET", "/ocpi/2.2.1/cdrs/SECRET-1")
    own = peer.request("GET", "/ocpi/2.2.1/cdrs/SECRET-1")

    assert theirs.status_code == 404
    assert envelope(theirs)["data"] is None
    assert own.status_code == 200


def test_a_token_with_two_parties_speaks_for_both(peer):
    dutch = fixture_json("location_example_uc2_destination_charger.json")
    response = peer.put_location(
        dutch, cc="NL", party="ALF", location_id="3e7b39c2-10d0-4138-a8b3-8509a25f9920"
    )

    assert response.status_code == 200, response.content
    assert peer.post_cdr(ocpi_cdr_payload()).status_code == 200


def test_giving_a_token_parties_opens_them_and_is_audited(client):
    created = create_ocpi_token(name="Later", parties=[])
    later = Peer(client, created.secret)
    assert later.post_cdr(ocpi_cdr_payload()).status_code == 403

    set_ocpi_token_parties(token=created.token, parties=["be*bec"], actor_name="test")

    assert later.post_cdr(ocpi_cdr_payload()).status_code == 200
    event = AuditEvent.objects.get(action=AuditAction.OCPI_TOKEN_PARTIES)
    assert event.summary == "OCPI token “Later” parties: none → BE/BEC"


def test_the_cpo_party_is_just_a_party_a_token_may_hold(client, settings):
    LocationFactory(country_code="BE", party_id="BEC", location_id="LOC1")
    settings.CPO_COUNTRY_CODE, settings.CPO_PARTY_ID = "BE", "BEC"
    stranger = Peer(client, create_ocpi_token(name="Stranger", parties=["DE/ALL"]).secret)

    response = stranger.evse("PATCH", {"status": "REMOVED"}, uid="X")

    assert_refused(response, "BE/BEC")


@pytest.mark.parametrize("text", ["BE", "BE/BE", "BEL/BEC", "B1/BEC", "BE/BE-C", ""])
def test_a_malformed_party_is_refused(text):
    with pytest.raises(OCPITokenError, match="is not an OCPI party"):
        create_ocpi_token(name="Bad", parties=[text])
    assert not OCPIToken.objects.exists()


def test_command_gives_the_token_its_parties():
    out = StringIO()
    call_command("create_ocpi_token", "Peer", "--party", "BE/BEC", "--party", "nl/alf", stdout=out)

    assert OCPIToken.objects.get().party_keys() == {("BE", "BEC"), ("NL", "ALF")}
    assert "for parties BE/BEC, NL/ALF" in out.getvalue()


def test_command_refuses_a_malformed_party():
    with pytest.raises(CommandError, match="“BEBEC1” is not an OCPI party"):
        call_command("create_ocpi_token", "Peer", "--party", "BEBEC1", stdout=StringIO())
    assert not OCPIToken.objects.exists()


def test_command_warns_about_a_token_without_parties():
    err = StringIO()
    call_command("create_ocpi_token", "Peer", stdout=StringIO(), stderr=err)

    assert "has no party" in err.getvalue()


def test_a_cdr_of_one_party_is_never_rated_on_another_partys_evse(peer, other_peer):
    """Naming the CPO's EVSE ID in its own party's CDR must not earn a payout from it (R5)."""
    peer.put_location(fixture_json("location_example.json"))
    AssignmentFactory(evse=EVSE.objects.get(uid="3256"))
    payload = ocpi_cdr_payload(country_code="NL", party_id="ALF")
    payload["cdr_location"].update(evse_uid="3256", evse_id="BE*BEC*E041503001")

    response = other_peer.post_cdr(payload)

    assert response.status_code == 200
    cdr = CDR.objects.get()
    assert (cdr.evse, cdr.payout_account, cdr.payout) == (None, None, None)
    assert cdr.reason == "evse_unknown"
