"""The "Invoice runs" pages: list, new run (preview → Confirm), run page, statement page, downloads."""

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from evse_payout.models import (
    CDR,
    CDRStatus,
    Invoice,
    InvoiceRun,
    InvoiceStatus,
    Job,
    PayoutAccount,
)
from evse_payout.services.invoicing import finalize_run, run_invoicing
from tests.factories import AssignmentFactory, EVSEFactory, LocationFactory, PayoutAccountFactory
from tests.services.test_invoicing import CUTOFF, close, rated_cdr

pytestmark = pytest.mark.django_db

NEW = reverse("evse_payout:invoice_run_new")
LIST = reverse("evse_payout:invoice_run_list")


def drafted_run(accounts: int = 1, per_account: int = 2, excl=Decimal("10.00")) -> InvoiceRun:
    for _ in range(accounts):
        assignment = AssignmentFactory()
        for _ in range(per_account):
            rated_cdr(assignment, excl=excl)
    return InvoiceRun.objects.get(pk=run_invoicing(cutoff=CUTOFF).run_id)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- list ----------------------------------------------------------------------------------------


def test_empty_list_says_what_to_do_next(finance_client):
    response = finance_client.get(LIST)

    assert "No invoice runs yet — start a new invoice run" in response.content.decode()
    assert f'href="{NEW}"' in response.content.decode()


def test_list_shows_each_run_with_its_figures(finance_client):
    drafted_run(accounts=2, per_account=3, excl=Decimal("1000.00"))

    page = finance_client.get(LIST).content.decode()

    assert "2026-03-01" in page
    assert "5,400.00 EUR" in page
    assert "2 draft" in page


def test_viewer_sees_runs_without_the_new_run_action(viewer_client):
    drafted_run()

    page = viewer_client.get(LIST).content.decode()

    assert "Run " in page
    assert "New invoice run" not in page


def test_user_without_view_permission_gets_403(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("nobody", password="x"))

    assert client.get(LIST).status_code == 403


# --- new run: preview, then confirm --------------------------------------------------------------


def test_preview_shows_the_dry_run_figures_and_writes_nothing(finance_client):
    account = PayoutAccountFactory(name="Hotel Zeezicht")
    rated_cdr(AssignmentFactory(payout_account=account), excl=Decimal("1500.00"))
    gone = AssignmentFactory()
    rated_cdr(gone, excl=Decimal("2.50"))
    close(gone)

    response = finance_client.post(NEW, {"cutoff": "2026-03-01", "action": "preview"}, follow=True)

    job = Job.objects.get()
    assert response.redirect_chain == [(reverse("evse_payout:job_detail", args=[job.pk]), 302)]
    page = response.content.decode()
    assert "Hotel Zeezicht" in page
    assert "1,500.00 EUR" in page
    assert "1,350.00 EUR" in page
    assert "EVSE unassigned" in page
    assert "2.50 EUR" in page
    assert '<button type="submit" name="action" value="confirm"' in page
    assert not InvoiceRun.objects.exists()
    assert CDR.objects.filter(status=CDRStatus.RATED).count() == 2


def test_confirm_runs_the_invoicing_as_a_job_whose_page_links_the_run(finance_client):
    rated_cdr()

    response = finance_client.post(NEW, {"cutoff": "2026-03-01", "action": "confirm"}, follow=True)

    run = InvoiceRun.objects.get()
    job = Job.objects.get()
    assert (job.kind, job.state, job.created_by.username) == ("invoice_run", "done", "finance")
    assert response.redirect_chain == [(reverse("evse_payout:job_detail", args=[job.pk]), 302)]
    page = response.content.decode()
    assert "drafted 1 statements with 1 CDRs" in page
    assert f'href="{reverse("evse_payout:invoice_run_detail", args=[run.pk])}"' in page
    assert run.created_by.username == "finance"


def test_cutoff_in_the_future_is_refused(finance_client):
    response = finance_client.post(NEW, {"cutoff": "2999-01-01", "action": "preview"})

    assert "Choose today or an earlier day" in response.content.decode()


def test_viewer_cannot_open_or_post_a_new_run(viewer_client):
    rated_cdr()

    assert viewer_client.get(NEW).status_code == 403
    assert viewer_client.post(NEW, {"cutoff": "2026-03-01", "action": "confirm"}).status_code == 403
    assert not InvoiceRun.objects.exists()


# --- run page ------------------------------------------------------------------------------------


def test_run_page_lists_statements_and_links_each_exclusion_to_those_cdrs(finance_client):
    gone = AssignmentFactory()
    rated_cdr(gone)
    close(gone)
    run = drafted_run(accounts=2)

    page = finance_client.get(
        reverse("evse_payout:invoice_run_detail", args=[run.pk])
    ).content.decode()

    assert page.count(">Draft</a>") == 2
    cdrs = reverse("evse_payout:cdr_list")
    assert f'href="{cdrs}?run={run.pk}&amp;reason=evse_unassigned"' in page
    assert "Finalize all drafts" in page
    assert "Download SEPA file" not in page


@pytest.mark.parametrize("accounts", [1, 6])
def test_run_page_query_count_does_not_grow_with_statements(
    accounts, finance_client, django_assert_num_queries
):
    run = drafted_run(accounts=accounts)
    url = reverse("evse_payout:invoice_run_detail", args=[run.pk])
    finance_client.get(url)

    with django_assert_num_queries(6):
        finance_client.get(url)


def test_finalize_all_drafts_numbers_them_and_offers_the_sepa_file(finance_client):
    run = drafted_run(accounts=2)

    response = finance_client.post(
        reverse("evse_payout:invoice_run_finalize", args=[run.pk]), follow=True
    )

    assert set(Invoice.objects.values_list("status", flat=True)) == {InvoiceStatus.FINAL}
    assert "Finalized 2 statements" in messages_of(response)[0]
    assert "Download SEPA file" in response.content.decode()
    assert "Finalize all drafts" not in response.content.decode()


def test_sepa_download_after_finalizing(finance_client):
    run = drafted_run(accounts=2)
    finalize_run(run=run, actor=None)

    response = finance_client.get(reverse("evse_payout:invoice_run_sepa", args=[run.pk]))

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert b"pain.001.001.03" in response.content
    assert b"<CtrlSum>36.00</CtrlSum>" in response.content


def test_sepa_download_with_invalid_bank_data_names_the_account_and_gives_no_file(finance_client):
    run = drafted_run()
    finalize_run(run=run, actor=None)
    account = Invoice.objects.get().payout_account
    PayoutAccount.objects.filter(pk=account.pk).update(iban="BE00539000000001")

    response = finance_client.get(
        reverse("evse_payout:invoice_run_sepa", args=[run.pk]), follow=True
    )

    assert response["Content-Type"].startswith("text/html")
    assert f"“{account.name}”" in messages_of(response)[0]


def test_sepa_download_refused_while_drafts_remain(finance_client):
    run = drafted_run()

    response = finance_client.get(
        reverse("evse_payout:invoice_run_sepa", args=[run.pk]), follow=True
    )

    assert "Finalize or discard every draft" in messages_of(response)[0]


def test_viewer_sees_no_buttons_and_forged_posts_are_refused(viewer_client):
    run = drafted_run()
    invoice = Invoice.objects.get()

    run_page = viewer_client.get(reverse("evse_payout:invoice_run_detail", args=[run.pk]))
    statement_page = viewer_client.get(reverse("evse_payout:invoice_detail", args=[invoice.pk]))

    assert (
        "<button"
        not in run_page.content.decode().split('id="logout-form"')[1].split("</form>", 1)[1]
    )
    assert "Finalize" not in statement_page.content.decode()
    assert "Discard" not in statement_page.content.decode()
    for name in ("invoice_finalize", "invoice_discard"):
        assert (
            viewer_client.post(reverse(f"evse_payout:{name}", args=[invoice.pk])).status_code == 403
        )
    assert (
        viewer_client.post(reverse("evse_payout:invoice_run_finalize", args=[run.pk])).status_code
        == 403
    )
    assert (
        viewer_client.get(reverse("evse_payout:invoice_run_sepa", args=[run.pk])).status_code == 403
    )
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.DRAFT


# --- statement page ------------------------------------------------------------------------------


def test_statement_page_shows_payer_payee_lines_credits_and_totals(finance_client, settings):
    settings.CPO_NAME = "Laadpalen NV"
    account = PayoutAccountFactory(
        account_holder_name="Hotel Zeezicht BV", vat_number="BE0999999999"
    )
    assignment = AssignmentFactory(
        payout_account=account, evse=EVSEFactory(location=LocationFactory(name="Zeedijk"))
    )
    rated_cdr(assignment, excl=Decimal("1200.00"))
    rated_cdr(assignment, excl=Decimal("-200.00"), credit=True)
    run_invoicing(cutoff=CUTOFF)
    invoice = Invoice.objects.get()

    page = finance_client.get(
        reverse("evse_payout:invoice_detail", args=[invoice.pk])
    ).content.decode()

    assert "Self-billing payout statement" in page
    assert "Laadpalen NV" in page
    assert "Hotel Zeezicht BV" in page
    assert account.iban in page
    assert "BE0999999999" in page
    assert assignment.evse.evse_id in page
    assert "Zeedijk" in page
    assert "1,200.00 EUR" in page
    assert "-200.00 EUR" in page
    assert "900.00 EUR" in page  # net payout
    assert "evse_payout/print.css" in page
    assert ">Finalize</button>" in page
    assert ">Discard…</a>" in page


def test_statement_lines_are_paginated(finance_client):
    drafted_run(per_account=30)
    invoice = Invoice.objects.get()

    page = finance_client.get(
        reverse("evse_payout:invoice_detail", args=[invoice.pk])
    ).content.decode()

    assert page.count('<tr class="') + page.count("<tr >") >= 1
    assert "Next ›" in page


def test_finalize_button_gives_the_statement_its_number(finance_client):
    drafted_run()
    invoice = Invoice.objects.get()

    response = finance_client.post(
        reverse("evse_payout:invoice_finalize", args=[invoice.pk]), follow=True
    )

    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.FINAL
    assert invoice.number in messages_of(response)[0]
    assert ">Finalize</button>" not in response.content.decode()


def test_finalizing_a_final_statement_says_why_not(finance_client):
    run = drafted_run()
    finalize_run(run=run, actor=None)
    invoice = Invoice.objects.get()

    response = finance_client.post(
        reverse("evse_payout:invoice_discard", args=[invoice.pk]), follow=True
    )

    assert "only draft statements can be discarded" in messages_of(response)[0]


def test_discard_asks_for_confirmation_first(finance_client):
    drafted_run()
    invoice = Invoice.objects.get()

    page = finance_client.get(reverse("evse_payout:invoice_discard", args=[invoice.pk]))

    assert "releases its 2 CDRs" in page.content.decode()
    assert ">Confirm</button>" in page.content.decode()
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.DRAFT


def test_discard_button_releases_the_cdrs(finance_client):
    run = drafted_run()
    invoice = Invoice.objects.get()

    response = finance_client.post(
        reverse("evse_payout:invoice_discard", args=[invoice.pk]), follow=True
    )

    assert response.redirect_chain[-1][0] == reverse(
        "evse_payout:invoice_run_detail", args=[run.pk]
    )
    assert "2 CDRs are rated again" in messages_of(response)[0]
    assert set(CDR.objects.values_list("status", flat=True)) == {CDRStatus.RATED}


def test_statement_csv_download_streams_every_line(viewer_client):
    drafted_run(per_account=30)
    invoice = Invoice.objects.get()

    response = viewer_client.get(reverse("evse_payout:invoice_csv", args=[invoice.pk]))

    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8"))))
    assert len(rows) == 31
    assert rows[1][-3:] == ["1.00", "9.00", "no"]
