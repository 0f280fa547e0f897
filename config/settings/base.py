"""Settings shared by every environment; everything that differs is read from the environment."""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
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
    "csp",
    "axes",
    # Before django_tasks_db, so that its `db_worker` command (which first marks the jobs of
    # killed workers as interrupted) is the one manage.py runs.
    "evse_payout",
    "django_tasks",
    "django_tasks_db",
]

MIDDLEWARE = [
    "evse_payout.middleware.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "evse_payout.middleware.RejectNulInQueryMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    "evse_payout.middleware.NoStoreForLoggedInMiddleware",
    # Last, as django-axes asks: it turns a lockout raised by authenticate() into its answer.
    "axes.middleware.AxesMiddleware",
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
# Django's form renderer with its input, select, checkbox and label templates written in Python
# (the same HTML; a list page's filter form cost more than its query).
FORM_RENDERER = "evse_payout.forms.renderers.QuickFormRenderer"
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
# Processes a large re-rate uses (PostgreSQL, outside a transaction): one per core is the most.
RERATE_WORKERS = int(env("RERATE_WORKERS", "2"))
USE_I18N = True
USE_TZ = True
USE_THOUSAND_SEPARATOR = True
# One date-time format everywhere (`2026-12-01 10:11`), the admin included: config/formats/.
FORMAT_MODULE_PATH = ["config.formats"]

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

# An OCPI CDR is a few kB; a location with many EVSEs a few hundred kB. No form of the app takes
# a file: a page request body above MAX_REQUEST_BODY_BYTES is refused (413) before it is read,
# and form fields and any file part are capped in memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
MAX_REQUEST_BODY_BYTES = 2 * 1024 * 1024
OCPI_MAX_BODY_BYTES = 1024 * 1024

# Background jobs (invoice runs, big re-rates, file imports) run on Django's tasks API
# (django-tasks, the backport of Django 6's django.tasks). The default backend keeps the queue in
# this database: no broker, works on SQLite and PostgreSQL, and workers on several machines share
# one PostgreSQL queue (SELECT … FOR UPDATE SKIP LOCKED). Start workers with `manage.py db_worker`.
# Large installations may switch to Redis with TASKS_BACKEND=django_tasks_rq.RQBackend (README).
TASKS = {"default": {"BACKEND": env("TASKS_BACKEND", "django_tasks_db.DatabaseBackend")}}
if TASKS["default"]["BACKEND"] == "django_tasks_rq.RQBackend":
    # pip install django-tasks-rq; workers: manage.py rqworker --job-class django_tasks_rq.Job
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    RQ_QUEUES = {"default": {"URL": env("REDIS_URL", "redis://127.0.0.1:6379/0")}}
# Files uploaded on the "Import" page wait here for a worker; several worker machines need this
# directory shared (or a shared STORAGES["default"]).
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(BASE_DIR / "media")))

# Content-Security-Policy (django-csp 4): scripts and styles only from our own static files —
# no inline script or style anywhere (htmx ships with django-htmx's static files).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Login throttling (django-axes): 10 failures for one account from one IP lock that pair out
# for 15 minutes, on the app's login and the admin's alike.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 10
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no banner on every command; lockouts are logged (WARNING) below
# The client address is REMOTE_ADDR unless the deployment names the header its proxy sets
# (AXES_IP_HEADERS=HTTP_X_FORWARDED_FOR and AXES_PROXY_COUNT): a header the client could set
# itself would let it change "address" on every guess (SECURITY.md).
AXES_IPWARE_META_PRECEDENCE_ORDER = env_list("AXES_IP_HEADERS", "REMOTE_ADDR")
AXES_IPWARE_PROXY_COUNT = int(env("AXES_PROXY_COUNT", "0")) or None

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
    # Every login would be an INFO line; failures that lock an account are WARNINGs.
    "loggers": {"axes": {"level": "WARNING"}},
}


def require(name):
    value = env(name)
    if not value:
        raise ImproperlyConfigured(f"Set the {name} environment variable.")
    return value
