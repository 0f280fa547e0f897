"""Production settings and secrets (issue 7.5). `manage.py check --deploy` itself is proven in
tests/test_settings.py; these pin the individual protections and what is never stored."""

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from django.urls import reverse

from evse_payout.models import AuditEvent, OCPIToken
from evse_payout.services import ocpi_tokens
from evse_payout.services.ocpi_tokens import authenticate_ocpi_token, create_ocpi_token

ROOT = Path(__file__).resolve().parent.parent.parent
SECRET = "Zq8v" + "x" * 20 + "-production-secret-key-9f1c2b7d4e"

EXPECTED = {
    "DEBUG": False,
    "SECURE_SSL_REDIRECT": True,
    "SECURE_HSTS_SECONDS": 31536000,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
    "SECURE_CONTENT_TYPE_NOSNIFF": True,
    "SECURE_REFERRER_POLICY": "same-origin",
    "SECURE_CROSS_ORIGIN_OPENER_POLICY": "same-origin",
    "SESSION_COOKIE_SECURE": True,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "CSRF_COOKIE_SECURE": True,
    "CSRF_COOKIE_HTTPONLY": True,
    "X_FRAME_OPTIONS": "DENY",
    "ALLOWED_HOSTS": ["payout.example.com"],
    "DATA_UPLOAD_MAX_MEMORY_SIZE": 1024 * 1024,
    "OCPI_MAX_BODY_BYTES": 1024 * 1024,
}


def test_production_settings_turn_every_protection_on():
    environment = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    environment |= {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": SECRET,
        "ALLOWED_HOSTS": "payout.example.com",
    }
    script = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{name: getattr(settings, name) for name in {list(EXPECTED)!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == EXPECTED


# Settings modules that may carry a fixed, publicly known key.
NON_PRODUCTION = {"config/settings/local.py", "config/settings/test.py", "config/settings/bench.py"}
PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")
HARDCODED_KEY = re.compile(r"""SECRET_KEY\s*=\s*["'](?P<value>[^"']{20,})["']""")


def test_no_secret_is_committed():
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    problems = []
    for name in filter(None, (f.decode() for f in files)):
        path = ROOT / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        text = path.read_text(errors="ignore")
        if PRIVATE_KEY.search(text) and name != "tests/security/test_production_settings.py":
            problems.append((name, "private key"))
        for match in HARDCODED_KEY.finditer(text):
            if name not in NON_PRODUCTION and not name.startswith("tests/"):
                problems.append((name, f"SECRET_KEY = {match['value'][:6]}…"))
    assert not problems


@pytest.mark.django_db
def test_the_ocpi_token_is_stored_only_as_its_hash():
    created = create_ocpi_token(name="Peer")

    token = OCPIToken.objects.get()
    stored = json.dumps(list(OCPIToken.objects.values()), default=str) + json.dumps(
        list(AuditEvent.objects.values()), default=str
    )
    assert created.secret not in stored
    assert token.token_hash == hashlib.sha256(created.secret.encode()).hexdigest()


@pytest.mark.django_db
def test_the_ocpi_token_is_compared_in_constant_time():
    created = create_ocpi_token(name="Peer")

    with mock.patch.object(
        ocpi_tokens.hmac, "compare_digest", wraps=ocpi_tokens.hmac.compare_digest
    ) as compare:
        assert authenticate_ocpi_token(authorization=f"Token {created.secret}") is not None
    assert compare.called


@pytest.mark.django_db
def test_an_oversized_form_post_is_400(finance_client):
    response = finance_client.post(
        reverse("evse_payout:account_create"),
        {"name": "x" * (1024 * 1024 + 1)},
    )

    assert response.status_code == 400


@pytest.mark.parametrize("hosts", ["*", "payout.example.com,*"])
def test_production_refuses_to_start_with_any_host_allowed(hosts):
    environment = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    environment |= {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": SECRET,
        "ALLOWED_HOSTS": hosts,
    }

    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert result.returncode != 0
    assert "ALLOWED_HOSTS='*' is refused in production" in result.stderr
