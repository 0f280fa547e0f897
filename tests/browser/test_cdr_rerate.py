"""Bulk "Rerate CDRs" from the CDR overview in headless Chromium: filter, check, confirm."""

import re

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from evse_payout.models import CDR, CDRStatus
from evse_payout.services.rating import rerate_cdrs
from tests.factories import AssignmentFactory, CDRFactory, EVSEFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def payout_manager():
    # Transactional tests flush the groups of the data migration, so grant the permissions directly.
    user = UserFactory(username="pm")
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="evse_payout", codename__in=["view_cdr", "change_cdr"]
        )
    )
    return user


def test_filter_not_invoiceable_check_rows_rerate_confirm(page, login, payout_manager):
    fixed = EVSEFactory(evse_id="BE*BEC*E0001")
    still_unassigned = EVSEFactory(evse_id="BE*BEC*E0002")
    rated = AssignmentFactory(evse=EVSEFactory(evse_id="BE*BEC*E0003")).evse
    fixed_cdrs = CDRFactory.create_batch(2, evse=fixed)
    held = CDRFactory(evse=still_unassigned)
    CDRFactory(evse=rated)
    rerate_cdrs(cdrs=CDR.objects.all())
    AssignmentFactory(evse=fixed)  # the cause is fixed: the EVSE is assigned now
    login(payout_manager)

    page.goto("/cdrs/")
    expect(page.locator("#result_list tbody tr")).to_have_count(4)
    page.get_by_label("Status").select_option("not_invoiceable")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"status=not_invoiceable"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(3)
    for row in range(3):
        rows.nth(row).get_by_role("checkbox").check()
    page.get_by_role("button", name="Rerate CDRs").click()

    expect(page.get_by_role("heading", name="Re-rate 3 CDRs?")).to_be_visible()
    expect(page.locator("#rerate-preview")).to_contain_text(
        "2 CDRs would change status: 2 newly rated, 16.70 EUR payout"
    )
    page.get_by_role("button", name="Confirm").click()

    expect(page.locator(".messagelist")).to_contain_text(
        "Re-rated 3 CDRs: 2 changed status (2 newly rated, 16.70 EUR payout;"
    )
    expect(page.locator(".messagelist")).to_contain_text("1 EVSE unassigned")
    expect(page).to_have_url(re.compile(r"/cdrs/\?status=not_invoiceable"))
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    assert {CDR.objects.get(pk=cdr.pk).status for cdr in fixed_cdrs} == {CDRStatus.RATED}
    assert CDR.objects.get(pk=held.pk).status == CDRStatus.NOT_INVOICEABLE
