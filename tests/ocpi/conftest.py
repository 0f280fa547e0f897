"""An authenticated OCPI peer for the receiver tests."""

import base64
import json
from pathlib import Path

import pytest

from evse_payout.services.ocpi_tokens import create_ocpi_token

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def fixture_json(name: str) -> dict:
    return json.loads(fixture_text(name))


class Peer:
    """Sends OCPI requests with `Authorization: Token <base64(token)>` (OCPI 2.2.1)."""

    def __init__(self, client, secret: str):
        self.client = client
        self.secret = secret
        self.authorization = "Token " + base64.b64encode(secret.encode()).decode()

    def request(self, method: str, path: str, body=None, *, authorization=None, **extra):
        if body is not None and not isinstance(body, str | bytes):
            body = json.dumps(body)
        headers = {"Authorization": self.authorization if authorization is None else authorization}
        if authorization == "":
            headers = {}
        return getattr(self.client, method.lower())(
            path,
            data=body if body is not None else "",
            content_type=extra.pop("content_type", "application/json"),
            headers=headers,
            **extra,
        )

    def post_cdr(self, body, **kwargs):
        return self.request("POST", "/ocpi/2.2.1/cdrs", body, **kwargs)

    def put_location(self, body, *, cc="BE", party="BEC", location_id="LOC1", **kwargs):
        return self.request(
            "PUT", f"/ocpi/2.2.1/locations/{cc}/{party}/{location_id}", body, **kwargs
        )

    def evse(self, method, body, *, uid, cc="BE", party="BEC", location_id="LOC1", **kwargs):
        return self.request(
            method, f"/ocpi/2.2.1/locations/{cc}/{party}/{location_id}/{uid}", body, **kwargs
        )


# The parties the OCPI fixtures speak for: the CPO itself and the destination-charger example.
PEER_PARTIES = ("BE/BEC", "NL/ALF")


@pytest.fixture
def token_secret(db) -> str:
    return create_ocpi_token(name="Peer under test", parties=PEER_PARTIES).secret


@pytest.fixture
def peer(client, token_secret) -> Peer:
    return Peer(client, token_secret)


def envelope(response) -> dict:
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"data", "status_code", "status_message", "timestamp"}
    assert body["timestamp"].endswith("Z")
    return body
