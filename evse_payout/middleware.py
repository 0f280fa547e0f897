"""Request and response hardening that applies to every page."""

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest
from django.utils.cache import add_never_cache_headers


class NoStoreForLoggedInMiddleware:
    """`Cache-Control: no-store` (and private, no-cache) on every answer to a logged-in user:
    pages with IBANs and payouts must not stay in a shared or browser cache after logout."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response


class RejectNulInQueryMiddleware:
    """A NUL character in a query string is 400: PostgreSQL refuses it in any text parameter,
    so a filter like `?status__exact=%00` would otherwise end as a database error (500). OCPI
    answers in its own envelope and reads no query parameters."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/ocpi/") and any(
            "\x00" in key or "\x00" in value
            for key, values in request.GET.lists()
            for value in values
        ):
            return HttpResponseBadRequest(
                "The query string contains a NUL character (%00); remove it and try again.",
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)


class RequestSizeLimitMiddleware:
    """Refuse a page request whose body is larger than any form of the app, before anything
    reads it: `DATA_UPLOAD_MAX_MEMORY_SIZE` caps only the non-file fields of a form, so a 100 MB
    multipart POST to /login/ would otherwise be parsed (its file parts spooled to disk).
    A body without a length (chunked) is refused too: browsers always send one. OCPI reads its
    bodies itself, within `OCPI_MAX_BODY_BYTES`, and answers in its envelope."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/ocpi/"):
            return self.get_response(request)
        limit = settings.MAX_REQUEST_BODY_BYTES
        length = request.META.get("CONTENT_LENGTH") or ""
        chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not length:
            return _plain(411, "Send the body with a Content-Length.")
        try:
            too_large = int(length or 0) > limit
        except ValueError:
            return _plain(400, "Invalid Content-Length header.")
        if too_large:
            return _plain(413, f"The request body is larger than {limit:,} bytes.")
        return self.get_response(request)


def _plain(status: int, message: str) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
