"""Shared helpers of the security tests: an OCPI peer, the envelope check, table row counts."""

import base64
import json
from pathlib import Path

import pytest
from django.apps import apps
from django.db import connection

from evse_payout.services.ocpi_tokens import create_ocpi_token

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ENVELOPE_KEYS = {"data", "status_code", "status_message", "timestamp"}


def fixture_json(name: str):
    return json.loads((FIXTURES / name).read_text())


def token_header(secret: str) -> str:
    """`Authorization: Token <base64(token)>` as OCPI 2.2.1 sends it."""
    return "Token " + base64.b64encode(secret.encode()).decode()


@pytest.fixture
def ocpi_secret(db) -> str:
    return create_ocpi_token(name="Hostile peer", parties=["BE/BEC"]).secret


def assert_ocpi_envelope(response) -> dict:
    """Never a 5xx; always JSON with exactly the four envelope keys; 1000 only with HTTP 200."""
    assert response.status_code < 500, response.content[:500]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    assert isinstance(body, dict) and set(body) == ENVELOPE_KEYS, body
    assert isinstance(body["status_code"], int)
    assert isinstance(body["status_message"], str)
    assert body["timestamp"].endswith("Z")
    assert (body["status_code"] == 1000) == (response.status_code == 200), body
    return body


def row_counts() -> tuple[int, ...]:
    """The row count of every table of the app, in one query."""
    tables = sorted(
        model._meta.db_table
        for model in apps.get_app_config("evse_payout").get_models()
        if model._meta.managed  # an invoice run's scope is a temporary table
    )
    quote = connection.ops.quote_name
    sql = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {quote(table)})" for table in tables)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return tuple(cursor.fetchone())
