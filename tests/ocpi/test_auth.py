"""Token authentication: base64 (OCPI 2.2.1) and raw tokens work; anything else is 401 and
stores nothing."""

import base64

import pytest

from evse_payout.models import CDR, Location, OCPIToken
from tests.factories import ocpi_cdr_payload

from .conftest import envelope, fixture_json

pytestmark = pytest.mark.django_db


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_base64_token_is_accepted(peer, token_secret):
    response = peer.post_cdr(ocpi_cdr_payload(), authorization=f"Token {_b64(token_secret)}")

    assert response.status_code == 200
    assert CDR.objects.count() == 1


def test_raw_token_is_accepted(peer, token_secret):
    response = peer.post_cdr(ocpi_cdr_payload(), authorization=f"Token {token_secret}")

    assert response.status_code == 200
    assert CDR.objects.count() == 1


def test_use_is_recorded(peer):
    peer.post_cdr(ocpi_cdr_payload())

    assert OCPIToken.objects.get().last_used_at is not None


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        "Token",
        "Token ",
        "Bearer {secret}",
        "Token wrong-token",
        "Token {b64_wrong}",
        "Token {secret}x",
        "Basic {b64_secret}",
    ],
    ids=["none", "scheme-only", "empty", "bearer", "wrong", "wrong-b64", "altered", "basic"],
)
def test_missing_or_wrong_token_is_401_and_stores_nothing(peer, token_secret, authorization):
    header = authorization.format(
        secret=token_secret, b64_wrong=_b64("wrong"), b64_secret=_b64(token_secret)
    )

    cdr = peer.post_cdr(ocpi_cdr_payload(), authorization=header)
    location = peer.put_location(fixture_json("location_example.json"), authorization=header)

    for response in (cdr, location):
        body = envelope(response)
        assert response.status_code == 401
        assert body["status_code"] == 2000
        assert response["WWW-Authenticate"] == "Token"
    assert not CDR.objects.exists()
    assert not Location.objects.exists()


def test_inactive_token_is_401(peer):
    OCPIToken.objects.update(is_active=False)

    response = peer.post_cdr(ocpi_cdr_payload())

    assert response.status_code == 401
    assert not CDR.objects.exists()


def test_get_needs_a_token_too(peer):
    peer.post_cdr(ocpi_cdr_payload())

    response = peer.request("GET", "/ocpi/2.2.1/cdrs/CDR0001", authorization="")

    assert response.status_code == 401
    assert envelope(response)["data"] is None


def test_no_session_login_or_csrf_token_is_needed(client, token_secret):
    client.handler.enforce_csrf_checks = True

    response = client.post(
        "/ocpi/2.2.1/cdrs",
        data=ocpi_cdr_payload(),
        content_type="application/json",
        headers={"Authorization": f"Token {_b64(token_secret)}"},
    )

    assert response.status_code == 200
