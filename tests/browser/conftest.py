"""Playwright driving Debian's Chromium (headless) against Django's live server."""

import os
import shutil

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]

# Playwright's sync API runs an event loop in this thread; the live server's ORM calls are safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)
    if shutil.which(CHROMIUM) is None and not os.environ.get("CI"):
        skip = pytest.mark.skip(
            reason=f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        )
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, live_server):
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1400, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def login(page):
    """Log in through the real login form: `login(user)`; the password is the factory's."""

    def do_login(user, password="secret-password"):
        page.goto("/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", password)
        page.click("input[type=submit], button[type=submit]")
        page.wait_for_url(lambda url: "/login/" not in url)
        return page

    return do_login


@pytest.fixture
def finance_user():
    """A Finance login for the invoicing flows (runs and previews are jobs, so it sees jobs).

    Transactional tests flush the groups of the data migration, so the permissions are granted
    directly."""
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    user = UserFactory(username="fin")
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="evse_payout",
            codename__in=[
                "view_invoicerun",
                "view_invoice",
                "add_invoicerun",
                "change_invoice",
                "view_job",
            ],
        )
    )
    return user
