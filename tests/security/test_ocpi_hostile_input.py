"""Hostile OCPI input the fuzz found or must always cover, as plain examples: text no database
can store, paths with newlines or NUL, bodies over the limit, lying headers."""

import json

import pytest
from django.test import override_settings

from evse_payout.models import Location

from .conftest import assert_ocpi_envelope, fixture_json, row_counts, token_header

pytestmark = pytest.mark.django_db

LOCATION = "/ocpi/2.2.1/locations/BE/BEC/LOC1"


@pytest.fixture
def send(client, ocpi_secret):
    authorization = token_header(ocpi_secret)

    def send(method, path, body=b"", content_type="application/json", **environ):
        return client.generic(
            method,
            path,
            data=body,
            content_type=content_type,
            headers={"Authorization": authorization},
            **environ,
        )

    return send


def _location_text(**overrides) -> str:
    return json.dumps(fixture_json("location_example.json") | overrides)


def _refused(response, message: str, *, http_status=400, before=None):
    body = assert_ocpi_envelope(response)
    assert response.status_code == http_status, body
    assert message in body["status_message"], body["status_message"]
    if before is not None:
        assert row_counts() == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (r'"Gent \ud800 Zuid"', "name: the text contains a lone UTF-16 surrogate"),
        (r'"Gent \u0000 Zuid"', "name: the text contains a NUL character"),
    ],
    ids=["lone-surrogate", "nul"],
)
def test_text_no_database_can_store_is_refused_with_its_field(send, text, message):
    before = row_counts()
    body = _location_text(name="NAME").replace('"NAME"', text)

    _refused(send("PUT", LOCATION, body), message, before=before)


def test_a_nul_in_a_field_name_is_refused(send):
    before = row_counts()
    body = _location_text().replace('"parking_type"', r'"parking\u0000type"')

    _refused(send("PUT", LOCATION, body), "a field name contains a NUL character", before=before)


@pytest.mark.parametrize(
    "path",
    [
        "/ocpi/2.2.1/cdrs/%0A",
        "/ocpi/2.2.1/cdrs/CDR%0A1",
        "/ocpi/2.2.1/locations/BE/BEC/LOC%0A1",
        "/ocpi/2.2.1/%0A",
    ],
)
def test_a_path_with_a_newline_is_answered_in_the_envelope(send, path):
    response = send("GET", path)

    assert assert_ocpi_envelope(response)["status_code"] == 2000
    assert response.status_code in (404, 405)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/ocpi/2.2.1/cdrs/CDR%001"),
        ("PUT", "/ocpi/2.2.1/locations/BE/BEC/LOC%001"),
        ("PUT", "/ocpi/2.2.1/locations/B%00/BEC/LOC1"),
        ("PATCH", "/ocpi/2.2.1/locations/BE/BEC/LOC1/3256%00"),
        ("GET", "/ocpi/2.2.1/cdrs/%FF%FE"),
    ],
)
def test_nul_and_broken_utf8_in_url_ids_never_fail(send, method, path):
    before = row_counts()

    response = send(method, path, _location_text())

    assert assert_ocpi_envelope(response)["status_code"] != 1000
    assert row_counts() == before


@override_settings(OCPI_MAX_BODY_BYTES=2048)
def test_a_body_over_the_setting_is_413(send):
    body = _location_text().encode() + b" " * 2048

    _refused(send("PUT", LOCATION, body), "larger than 2,048 bytes", http_status=413)
    assert not Location.objects.exists()


def test_the_real_limit_is_one_megabyte_and_answers_413(send):
    body = b"{}" + b" " * (1024 * 1024)

    _refused(send("PUT", LOCATION, body), "larger than 1,048,576 bytes", http_status=413)


@pytest.mark.parametrize("length", ["-1", "abc", "99999999999999999999"])
def test_a_lying_content_length_is_refused(send, length):
    response = send("PUT", LOCATION, _location_text(), CONTENT_LENGTH=length)

    assert assert_ocpi_envelope(response)["status_code"] != 1000
    assert not Location.objects.exists()


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_a_non_json_content_type_is_415(send, content_type):
    response = send("PUT", LOCATION, _location_text(), content_type=content_type)

    _refused(response, "must be application/json", http_status=415)
    assert not Location.objects.exists()


@pytest.mark.parametrize(
    "number", ["1e400", "-1e400", "1" + "0" * 400, "9" * 5000, "1E+999999999", "1e308"]
)
def test_huge_numbers_never_fail(send, number):
    payload = fixture_json("location_example.json")
    payload["evses"][0]["connectors"][0]["max_voltage"] = "NUMBER"
    body = json.dumps(payload).replace('"NUMBER"', number)

    response = send("PUT", LOCATION, body)

    assert assert_ocpi_envelope(response)["status_code"] == 2001
    assert not Location.objects.exists()


@pytest.mark.parametrize(
    "authorization",
    ["", "Token", "Bearer abc", "Token " + "A" * 10_000, "Token dG9rZW4=", "token\x00x"],
)
def test_a_bad_token_is_401_and_stores_nothing(client, ocpi_secret, authorization):
    response = client.put(
        LOCATION,
        data=_location_text(),
        content_type="application/json",
        headers={"Authorization": authorization} if authorization else {},
    )

    body = assert_ocpi_envelope(response)
    assert response.status_code == 401 and body["status_code"] == 2000
    assert response["WWW-Authenticate"] == "Token"
    assert not Location.objects.exists()
