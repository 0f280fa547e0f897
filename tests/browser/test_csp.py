"""The Content-Security-Policy in a real browser: no page breaks it, and htmx and the app's
JavaScript still run from static files (issue 11 §5)."""

import pytest
from playwright.sync_api import expect

from tests.factories import EVSEFactory, LocationFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


def violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations || []")


def test_pages_run_their_scripts_without_csp_violations(page, login):
    for number in range(3):
        EVSEFactory(evse_id=f"BE*BEC*E000{number}", location=LocationFactory(owner=None))
    user = UserFactory(username="boss", is_staff=True, is_superuser=True)
    page.add_init_script(WATCH_VIOLATIONS)
    messages = []
    page.on("console", lambda message: messages.append(message.text))
    login(user)

    page.goto("/assignment/")
    assert page.evaluate("typeof window.htmx") == "object"
    page.get_by_label("City").fill("Gent")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(".results-count")).to_have_text("3 matching EVSEs")
    page.locator("#result_list thead input[type=checkbox]").check()
    expect(page.locator(".select-across")).to_be_visible()
    assert violations(page) == []
    page.goto("/admin/evse_payout/payoutaccount/add/")
    page.goto("/admin/evse_payout/evse/")

    assert violations(page) == []
    assert not [text for text in messages if "Content Security Policy" in text]
