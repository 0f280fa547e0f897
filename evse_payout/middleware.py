"""Response headers for pages that show bank data and money."""

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
