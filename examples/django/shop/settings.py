"""Settings of the shop example, read from the environment.

bluegreen passes `app.env` from bluegreen.yaml to the build steps, the app
and the checks, plus BLUEGREEN_COLOR (the color this release runs as) and
PORT. Both colors use ONE database, DATABASE_PATH: that is what makes the
migration gate matter (the new release migrates the database the live color
is serving from).
"""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# The default key is for development only: set DJANGO_SECRET_KEY in
# production (for example in serve's environment or a file the app reads).
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-insecure-key-do-not-use-in-production")

# Off unless asked for: with DEBUG on, errors show tracebacks to clients.
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"

# bluegreen's router forwards the client's Host header; the health checks
# and verification checks use 127.0.0.1. Add public names with
# DJANGO_ALLOWED_HOSTS=api.example.com,www.example.com.
ALLOWED_HOSTS = ["127.0.0.1", "localhost"] + [
    h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h.strip()
]

INSTALLED_APPS = [
    "django.contrib.staticfiles",
    "orders",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"

# One SQLite file shared by blue and green. `manage.py test` never touches
# it: Django's test database for SQLite is in memory (TEST NAME unset).
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DATABASE_PATH", str(BASE_DIR / "db.sqlite3")),
        # Both colors (two gunicorn workers each) and a migration may use
        # the file at once: wait for a lock instead of failing at once.
        "OPTIONS": {"timeout": 20},
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"

# collectstatic (a build step) writes into the release directory, so each
# release has its own static files and the live one is never overwritten.
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# Errors (a 500's traceback; 4xx answers are not logged) go to stderr,
# which bluegreen keeps in the app's log: `bluegreen logs <color>`.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django": {"handlers": ["stderr"], "level": "ERROR"}},
}
