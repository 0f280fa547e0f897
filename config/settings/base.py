"""Settings shared by every environment; everything that differs is read from the environment."""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env(name, default=None):
    return os.environ.get(name, default)


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = env("SECRET_KEY")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_filters",
    "django_tables2",
    "django_htmx",
    "template_partials",
    "evse_payout",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout keep the development server usable while a command writes.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # JIT compiling costs 50+ ms per big page query and pays off only for long analytics.
    DATABASES["default"]["OPTIONS"] = {"options": "-c jit=off"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "evse_payout:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("DISPLAY_TIME_ZONE", "Europe/Brussels")
# The CPO's business day: an invoice run's cutoff date means 00:00 in this zone (zoneinfo name).
BUSINESS_TIME_ZONE = env("BUSINESS_TIME_ZONE", TIME_ZONE)
USE_I18N = True
USE_TZ = True
USE_THOUSAND_SEPARATOR = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

# An OCPI CDR is a few kB; a location with many EVSEs a few hundred kB.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000
OCPI_MAX_BODY_BYTES = 1024 * 1024

DJANGO_TABLES2_TEMPLATE = "evse_payout/table.html"

# The CPO: payer on every self-billing statement and debtor of the SEPA payout file.
CPO_NAME = env("CPO_NAME", "Demo Charge Point Operator NV")
# Structured address: e-invoices (EN 16931) and SEPA pain.001.001.09 need its parts.
CPO_STREET = env("CPO_STREET", "Rue de la Loi")
CPO_BUILDING_NUMBER = env("CPO_BUILDING_NUMBER", "16")
CPO_POSTAL_CODE = env("CPO_POSTAL_CODE", "1000")
CPO_CITY = env("CPO_CITY", "Brussels")
CPO_COUNTRY = env("CPO_COUNTRY", "BE")  # ISO 3166-1 alpha-2: the CPO's VAT country
CPO_ADDRESS = env("CPO_ADDRESS", "Rue de la Loi 16, 1000 Brussels, Belgium")
CPO_VAT_NUMBER = env("CPO_VAT_NUMBER", "BE0123456749")
CPO_IBAN = env("CPO_IBAN", "BE68539007547034")
CPO_BIC = env("CPO_BIC", "GKCCBEBB")
# OCPI party of the CPO itself; used to tell its own EVSEs from roaming data.
CPO_COUNTRY_CODE = env("CPO_COUNTRY_CODE", "BE")
CPO_PARTY_ID = env("CPO_PARTY_ID", "BEC")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
}


def require(name):
    value = env(name)
    if not value:
        raise ImproperlyConfigured(f"Set the {name} environment variable.")
    return value
