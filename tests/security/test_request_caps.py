"""Request caps (issue 11 §8): page bodies are capped before they are read; OCPI reads a chunked
body (no Content-Length) correctly, up to its own cap."""

import base64
import io
import json

import pytest
from django.conf import settings

from evse_payout.models import CDR
from tests.factories import ocpi_cdr_payload

pytestmark = pytest.mark.django_db


class RecordingStream(io.BytesIO):
    """A request body that remembers how much of it was read."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk

    def readline(self, size=-1):
        line = super().readline(size)
        self.bytes_read += len(line)
        return line


def raw_request(client, method, path, body: bytes, **meta):
    stream = RecordingStream(body)
    response = client.request(
        REQUEST_METHOD=method, PATH_INFO=path, **{"wsgi.input": stream}, **meta
    )
    return response, stream


def test_an_anonymous_100_mb_post_to_login_is_refused_unread(client):
    response, stream = raw_request(
        client,
        "POST",
        "/login/",
        b'--x\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\n' + b"A" * 4096,
        CONTENT_LENGTH=str(100 * 1024 * 1024),
        CONTENT_TYPE="multipart/form-data; boundary=x",
    )

    assert response.status_code == 413
    assert stream.bytes_read == 0


def test_a_page_post_without_a_length_is_refused_unread(client):
    response, stream = raw_request(
        client,
        "POST",
        "/login/",
        b"username=a&password=b",
        HTTP_TRANSFER_ENCODING="chunked",
        CONTENT_TYPE="application/x-www-form-urlencoded",
    )

    assert response.status_code == 411
    assert stream.bytes_read == 0


def test_an_ordinary_login_post_still_works(client, superuser):
    response = client.post("/login/", {"username": "root", "password": "secret-password"})

    assert response.status_code == 302


def test_the_caps_are_set():
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 1024 * 1024
    assert settings.FILE_UPLOAD_MAX_MEMORY_SIZE == 1024 * 1024
    assert settings.MAX_REQUEST_BODY_BYTES >= settings.OCPI_MAX_BODY_BYTES


def authorization(secret):
    return "Token " + base64.b64encode(secret.encode()).decode()


def test_a_chunked_ocpi_cdr_is_read_and_stored(client, ocpi_secret):
    body = json.dumps(ocpi_cdr_payload()).encode()

    response, _ = raw_request(
        client,
        "POST",
        "/ocpi/2.2.1/cdrs",
        body,
        CONTENT_TYPE="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        HTTP_AUTHORIZATION=authorization(ocpi_secret),
    )

    assert response.status_code == 200, response.content
    assert CDR.objects.count() == 1


def test_a_chunked_ocpi_body_over_the_cap_is_413_after_reading_only_the_cap(client, ocpi_secret):
    limit = settings.OCPI_MAX_BODY_BYTES
    body = b'{"x": "' + b"a" * (limit * 3) + b'"}'

    response, stream = raw_request(
        client,
        "POST",
        "/ocpi/2.2.1/cdrs",
        body,
        CONTENT_TYPE="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        HTTP_AUTHORIZATION=authorization(ocpi_secret),
    )

    assert response.status_code == 413
    assert stream.bytes_read == limit + 1
    assert not CDR.objects.exists()
