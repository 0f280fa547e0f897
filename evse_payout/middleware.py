"""Request and response hardening that applies to every page."""

from django.http import HttpResponseBadRequest
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
