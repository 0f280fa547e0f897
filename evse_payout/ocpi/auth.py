"""Token authentication and the wrapper every OCPI view goes through.

Every answer carries the OCPI envelope: a missing or wrong token is HTTP 401 with status 2000
(OCPI defines no code of its own for it), unknown methods 405, invalid input 400/2001, a party
the token may not speak for 403/2001 (before the body is read).
"""

import functools
import logging

from django.contrib.auth.decorators import login_not_required
from django.views.decorators.csrf import csrf_exempt

from ..payloads.ocpi import (
    OCPINotFound,
    OCPIPartyRefused,
    OCPIValidationError,
    check_party,
    check_url_identity,
    unstorable_text,
)
from ..services.ocpi_tokens import authenticate_ocpi_token
from .envelope import (
    INVALID_PARAMETERS,
    SERVER_ERROR,
    UNKNOWN_LOCATION,
    OCPIRequestError,
    ocpi_error,
)

logger = logging.getLogger(__name__)


def _check_url_party(kwargs: dict, token) -> None:
    """A URL that names a party (locations) must name one of the token's parties."""
    if "country_code" not in kwargs or "party_id" not in kwargs:
        return
    ids = {"country_code": kwargs["country_code"], "party_id": kwargs["party_id"]}
    check_url_identity(None, **ids)
    check_party((ids["country_code"].upper(), ids["party_id"].upper()), token.party_keys())


def ocpi_endpoint(*methods: str):
    """Token auth, method check and OCPI error answers around a view `view(request, token, …)`."""

    def decorate(view):
        @functools.wraps(view)
        @csrf_exempt
        @login_not_required
        def wrapper(request, *args, **kwargs):
            token = authenticate_ocpi_token(authorization=request.headers.get("Authorization", ""))
            if token is None:
                response = ocpi_error(
                    "Unauthorized: send “Authorization: Token <token>” with a valid token.",
                    http_status=401,
                )
                response["WWW-Authenticate"] = "Token"
                return response
            if request.method not in methods:
                response = ocpi_error(
                    f"Method {request.method} is not allowed here.", http_status=405
                )
                response["Allow"] = ", ".join(methods)
                return response
            for name, value in kwargs.items():
                # The ids in the URL reach database queries; PostgreSQL refuses NUL there.
                if isinstance(value, str) and (problem := unstorable_text(value)):
                    return ocpi_error(
                        f"URL {name}: the text {problem}.",
                        status_code=INVALID_PARAMETERS,
                        http_status=400,
                    )
            try:
                _check_url_party(kwargs, token)
                return view(request, token, *args, **kwargs)
            except OCPIPartyRefused as exc:
                return ocpi_error(str(exc), status_code=INVALID_PARAMETERS, http_status=403)
            except OCPIValidationError as exc:
                return ocpi_error(str(exc), status_code=INVALID_PARAMETERS, http_status=400)
            except OCPIRequestError as exc:
                return ocpi_error(str(exc), http_status=exc.http_status)
            except OCPINotFound as exc:
                return ocpi_error(str(exc), status_code=UNKNOWN_LOCATION, http_status=404)
            except Exception:
                logger.exception("OCPI %s %s failed", request.method, request.path)
                return ocpi_error(
                    "Internal error; the request was not applied. Try again later.",
                    status_code=SERVER_ERROR,
                    http_status=500,
                )

        return wrapper

    return decorate
