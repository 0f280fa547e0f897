"""The OCPI 2.2.1 transport: the response envelope on every answer and the request body reader."""

from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from ..payloads.ocpi import OCPIValidationError, parse_json

# OCPI 2.2.1 status codes (transport_and_format, "Status codes").
SUCCESS = 1000
CLIENT_ERROR = 2000
INVALID_PARAMETERS = 2001
UNKNOWN_LOCATION = 2003
SERVER_ERROR = 3000


class OCPIRequestError(Exception):
    """A request the receiver refuses before looking at its content (size, media type)."""

    def __init__(self, message: str, *, http_status: int):
        super().__init__(message)
        self.http_status = http_status


def timestamp() -> str:
    return timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")


def ocpi_response(
    data: Any = None,
    *,
    status_code: int = SUCCESS,
    message: str = "Success",
    http_status: int = 200,
) -> JsonResponse:
    body = {
        "data": data,
        "status_code": status_code,
        "status_message": message,
        "timestamp": timestamp(),
    }
    return JsonResponse(body, status=http_status, encoder=DjangoJSONEncoder, safe=False)


def ocpi_error(
    message: str, *, status_code: int = CLIENT_ERROR, http_status: int = 400
) -> JsonResponse:
    return ocpi_response(status_code=status_code, message=message, http_status=http_status)


def _body_stream(request: HttpRequest):
    """The request's body stream. A chunked body has no Content-Length, so Django's own stream
    (limited to Content-Length) is empty: read the server's decoded stream instead."""
    chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    if chunked and not request.META.get("CONTENT_LENGTH"):
        return request.META["wsgi.input"]
    return request


def read_json_body(request: HttpRequest) -> Any:
    """The request's JSON (decimals exact), refusing oversized or non-JSON bodies first."""
    limit = settings.OCPI_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError as exc:
        raise OCPIRequestError("Invalid Content-Length header.", http_status=400) from exc
    if declared > limit:
        raise OCPIRequestError(f"The body is larger than {limit:,} bytes.", http_status=413)
    media_type = (request.content_type or "").lower()
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise OCPIRequestError(
            f"The body must be application/json, not {media_type}.", http_status=415
        )
    # Read from the stream ourselves: request.body would answer Django's own 400 page. Never
    # more than the limit (and one byte to tell), also for a chunked body of unknown length.
    body = _body_stream(request).read(limit + 1)
    if len(body) > limit:
        raise OCPIRequestError(f"The body is larger than {limit:,} bytes.", http_status=413)
    if not body.strip():
        raise OCPIValidationError("The body is empty; send a JSON object.")
    return parse_json(body)
