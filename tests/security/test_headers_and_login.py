"""Browser-facing hardening (issue 11 §4, §5): Content-Security-Policy without inline script,
`Cache-Control: no-store` on every logged-in page, and login throttling with django-axes."""

from datetime import timedelta

import lxml.html
import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone

from tests.factories import UserFactory

from .test_access_control import World, every_url

pytestmark = pytest.mark.django_db

JSON_TYPES = {"application/json", "application/ld+json"}


def inline_code(html: bytes) -> list[str]:
    """Every inline script, `on…` handler, `<style>` element or `style` attribute of a page."""
    tree = lxml.html.fromstring(html)
    found = [
        f"<script> {script.text[:60]!r}"
        for script in tree.iter("script")
        if not script.get("src") and script.get("type") not in JSON_TYPES
    ]
    found += [f"<style> {style.text[:60]!r}" for style in tree.iter("style")]
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        for name, value in element.attrib.items():
            if name.startswith("on") or name == "style" or value.startswith("javascript:"):
                found.append(f"<{element.tag} {name}={value[:60]!r}>")
    return found


def html_pages(client, world):
    for name, url in every_url(world):
        if url.startswith("/ocpi/"):
            continue
        response = client.get(url)
        if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            yield name, url, response


def test_every_page_has_a_csp_without_inline_script(superuser):
    client = Client()
    client.force_login(superuser)
    problems, pages = [], 0
    for name, url, response in html_pages(client, World()):
        pages += 1
        policy = response.get("Content-Security-Policy", "")
        if "script-src 'self'" not in policy or "unsafe-inline" in policy:
            problems.append((name, url, "policy", policy))
        if found := inline_code(response.content):
            problems.append((name, url, found))
    assert pages > 40
    assert not problems


def test_the_policy_forbids_inline_script_and_framing(client):
    policy = client.get("/login/")["Content-Security-Policy"]

    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"


def test_every_logged_in_page_is_not_stored(superuser):
    client = Client()
    client.force_login(superuser)
    problems = [
        (name, url, response.get("Cache-Control"))
        for name, url, response in html_pages(client, World())
        if "no-store" not in response.get("Cache-Control", "")
    ]
    assert not problems


def test_the_home_page_is_private_and_not_stored(finance_client):
    response = finance_client.get("/")

    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


# -- Login throttling ------------------------------------------------------------------------


def fail(client, url="/login/", username="alice", address="203.0.113.7"):
    return client.post(
        url, {"username": username, "password": "wrong"}, REMOTE_ADDR=address, follow=False
    )


def log_in(client, url="/login/", username="alice", address="203.0.113.7"):
    return client.post(
        url,
        {"username": username, "password": "secret-password"},
        REMOTE_ADDR=address,
        follow=False,
    )


@pytest.mark.parametrize("url", ["/login/", "/admin/login/"])
def test_ten_failures_lock_the_account_from_that_address(client, url):
    UserFactory(username="alice", is_staff=True, is_superuser=True)
    for _ in range(9):
        assert fail(client, url).status_code == 200

    locked = fail(client, url)

    assert locked.status_code == 429
    assert "locked for 15 minutes" in locked.content.decode()
    right_password = log_in(client, url)
    assert right_password.status_code == 429
    assert "_auth_user_id" not in client.session


def test_nine_failures_do_not_lock(client):
    UserFactory(username="alice")
    for _ in range(9):
        fail(client)

    assert log_in(client).status_code == 302


def test_the_lock_is_per_account_and_address(client):
    UserFactory(username="alice")
    UserFactory(username="bob")
    for _ in range(10):
        fail(client)

    assert log_in(Client(), address="198.51.100.1").status_code == 302
    assert log_in(Client(), username="bob").status_code == 302


def test_the_lock_ends_after_15_minutes(client):
    UserFactory(username="alice")
    for _ in range(10):
        fail(client)
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=15, seconds=1))

    assert log_in(client).status_code == 302
