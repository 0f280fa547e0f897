import base64
import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from evse_payout.models import AuditAction, AuditEvent, OCPIToken
from tests.factories import ocpi_cdr_payload

pytestmark = pytest.mark.django_db


def _create(name: str, *parties: str) -> str:
    out = StringIO()
    call_command(
        "create_ocpi_token", name, *[f"--party={p}" for p in parties or ["BE/BEC"]], stdout=out
    )
    return out.getvalue().split()[-1]


def test_prints_a_token_that_authenticates(client):
    token = _create("Hubject")

    response = client.post(
        "/ocpi/2.2.1/cdrs",
        data=ocpi_cdr_payload(),
        content_type="application/json",
        headers={"Authorization": "Token " + base64.b64encode(token.encode()).decode()},
    )

    assert response.status_code == 200
    assert response.json()["status_code"] == 1000


def test_stores_only_the_hash_and_audits():
    token = _create("Hubject")

    stored = OCPIToken.objects.get(name="Hubject")
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored.token_hash
    assert AuditEvent.objects.get(action=AuditAction.OCPI_TOKEN_CREATE).actor_label == (
        "create_ocpi_token"
    )


def test_each_token_is_new():
    assert _create("Peer A") != _create("Peer B")


def test_a_name_is_used_once():
    _create("Hubject")

    with pytest.raises(CommandError, match="An OCPI token named “Hubject” already exists."):
        call_command("create_ocpi_token", "Hubject", stdout=StringIO())
    assert OCPIToken.objects.count() == 1
