"""Developer settings: DEBUG on, a fixed insecure key, SQLite unless DATABASE_URL says otherwise."""

from .base import *  # noqa: F403
from .base import env

DEBUG = True
SECRET_KEY = env("SECRET_KEY", "django-insecure-local-development-only")
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
