"""Benchmark settings (`make bench`): production-like (DEBUG off), PostgreSQL, a fixed non-secret key."""

from .base import *  # noqa: F403
from .base import LOGGING, env

DEBUG = False
SECRET_KEY = "bench-only-not-a-secret"
ALLOWED_HOSTS = ["*"]
DATABASES = {  # noqa: F811
    "default": dj_database_url.parse(  # noqa: F405
        env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/evse_payout_bench"),
        conn_max_age=60,
    )
}
# As in production (base settings): no JIT compiling of page queries.
DATABASES["default"]["OPTIONS"] = {"options": "-c jit=off"}
# Scenarios probe pages that may not exist yet; their 404s are reported by the harness, not logged.
LOGGING = {**LOGGING, "loggers": {"django.request": {"level": "ERROR"}}}
# The product's URLs plus the bench-only admin of the fair page baselines (bench/admin_baseline.py).
ROOT_URLCONF = "bench.urls"
