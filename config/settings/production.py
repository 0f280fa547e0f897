"""Production settings: everything secret or site-specific comes from the environment."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env, env_bool, env_list, require

DEBUG = False
SECRET_KEY = require("SECRET_KEY")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS") or []
if "*" in ALLOWED_HOSTS:
    # Any Host header would be trusted: poisoned password-reset and absolute links, cache keys.
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS='*' is refused in production: list the site's host names, "
        "e.g. ALLOWED_HOSTS=payout.example.com."
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = int(env("SECURE_HSTS_SECONDS", "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# No script reads the CSRF cookie: every form carries the token in the page.
CSRF_COOKIE_HTTPONLY = True
# Back-office sessions end after a working day and with the browser.
SESSION_COOKIE_AGE = int(env("SESSION_COOKIE_AGE", str(10 * 60 * 60)))
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Refused hosts, CSRF failures and other suspicious requests are logged, not mailed.
LOGGING = {
    **LOGGING,  # noqa: F405
    "loggers": {
        **LOGGING["loggers"],  # noqa: F405
        "django.security": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}
