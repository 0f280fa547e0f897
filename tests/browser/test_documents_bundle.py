"""The ZIP of a run's documents in headless Chromium: press the button on the run page, follow
the job page to "Done", download the ZIP and find every document in it."""

import zipfile
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from evse_payout.models import Document
from evse_payout.services.documents import issue_statement_documents
from tests.documents.helpers import ISSUED_ON, add_lines, payee, statement

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_build_the_documents_zip_follow_its_job_and_download_it(page, login, finance_user):
    invoice = statement(payee("de_registered"), excl="20.00", fees="2.00")
    add_lines(invoice, 2, excl=lambda i: Decimal("10.0000"), fee=lambda i: Decimal("1.0000"))
    issue_statement_documents(invoice=invoice, actor=None, issued_on=ISSUED_ON)
    login(finance_user)

    page.goto(f"/invoice-runs/{invoice.run_id}/")
    page.get_by_role("button", name="Build documents ZIP").click()

    expect(page.locator(".messagelist")).to_contain_text("builds the ZIP of invoice run")
    expect(page.locator("#job-state")).to_have_text("Done")
    expect(page.locator("#job-progress")).to_contain_text("1 of 1 statements")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the ZIP").click()

    assert download.value.suggested_filename == f"documents-run-{invoice.run_id}.zip"
    names = set(zipfile.ZipFile(download.value.path()).namelist())
    for number in Document.objects.values_list("number", flat=True):
        assert {f"{number}.pdf", f"{number}.xml"} <= names
    assert {"README.txt", f"payouts-run-{invoice.run_id}-pain.001.001.09.xml"} <= names
