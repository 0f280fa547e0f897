"""The "Invoice runs" pages: list, new run (preview → Confirm), run page, statement page, downloads."""

import csv
import io
import re
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
from tests.factories import AssignmentFactory as CPOAssignmentFactory
from tests.factories import EVSEFactory, LocationFactory
from tests.factories import PartnerAccountFactory as PayoutAccountFactory
from tests.factories import PartnerAssignmentFactory as AssignmentFactory
from tests.factories import PayoutAccountFactory as CPOAccountFactory
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

    # Each statement link names its account, not only "Draft" (issue 15).
    names = Invoice.objects.values_list("payout_account__name", flat=True)
    assert all(f">Draft — {name}</a>" in page for name in names) and len(names) == 2
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

    # + the revenue reports and the carried-forward statements, one query each
    with django_assert_num_queries(8):
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
    assert b"pain.001.001.09" in response.content
    # Per account: 20.00 + 21 % VAT − (2.00 fees + 21 % VAT) = 24.20 − 2.42 = 21.78.
    assert b"<CtrlSum>43.56</CtrlSum>" in response.content


def test_sepa_download_with_invalid_bank_data_names_the_account_and_gives_no_file(finance_client):
    run = drafted_run()
    account = Invoice.objects.get().payout_account
    PayoutAccount.objects.filter(pk=account.pk).update(iban="BE00539000000001")
    finalize_run(run=run, actor=None)

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

    body = run_page.content.decode().split('id="logout-form"')[1].split("</form>", 1)[1]
    # The one button: the documents ZIP, a download any viewer may build; disabled until a
    # statement is final.
    bundle = re.search(r'<form [^>]*id="documents-bundle".*?</form>', body, re.DOTALL).group(0)
    assert 'disabled aria-describedby="documents-bundle-help">Build documents ZIP' in bundle
    assert "<button" not in body.replace(bundle, "")
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
    original = rated_cdr(assignment, excl=Decimal("1200.00"))
    rated_cdr(assignment, excl=Decimal("-200.00"), credit=True, credited_cdr=original)
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
    assert "1,200.0000 EUR" in page  # a line keeps its 4 decimals
    assert "-200.0000 EUR" in page
    assert "900.00 EUR" in page  # net payout, rounded once
    assert "rounded once" in page
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
    # The page (and its printout) must not pass for the whole statement (issue 15, problem 4).
    assert "Lines 1–25 of 30 shown." in page
    assert "The totals below are for all 30 lines; download the CSV for every line" in page


def test_a_statement_on_one_page_has_no_partial_lines_note(finance_client):
    drafted_run(per_account=2)
    invoice = Invoice.objects.get()

    page = finance_client.get(reverse("evse_payout:invoice_detail", args=[invoice.pk]))

    assert "partial-lines-note" not in page.content.decode()


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
    assert rows[1][-3:] == ["1.0000", "9.0000", "no"]


# --- finalize asks first (issue 15, problem 3) ---------------------------------------------------


def test_finalize_all_drafts_first_shows_a_confirmation_with_the_figures(finance_client):
    run = drafted_run(accounts=2)
    names = sorted(Invoice.objects.values_list("payout_account__name", flat=True))

    response = finance_client.get(reverse("evse_payout:invoice_run_finalize", args=[run.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Finalizing gives 2 draft statements (4 CDRs; net payout 36.00 EUR)" in page
    assert all(name in page for name in names)
    assert "This cannot be undone" in page
    assert set(Invoice.objects.values_list("status", flat=True)) == {InvoiceStatus.DRAFT}


def test_finalize_one_statement_first_shows_a_confirmation(finance_client):
    drafted_run()
    invoice = Invoice.objects.get()

    response = finance_client.get(reverse("evse_payout:invoice_finalize", args=[invoice.pk]))

    assert "Finalizing gives 1 draft statement (2 CDRs; net payout 18.00 EUR)" in (
        response.content.decode()
    )
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.DRAFT


def test_the_statement_page_finalize_button_leads_to_the_confirmation(finance_client):
    drafted_run()
    invoice = Invoice.objects.get()

    page = finance_client.get(reverse("evse_payout:invoice_detail", args=[invoice.pk]))

    confirm_url = reverse("evse_payout:invoice_finalize", args=[invoice.pk])
    assert f'<form method="get" action="{confirm_url}">' in page.content.decode()


def test_new_run_form_defaults_the_cutoff_to_today(finance_client, settings):
    from django.utils import timezone

    page = finance_client.get(NEW).content.decode()

    assert f'value="{timezone.localdate():%Y-%m-%d}"' in page


def test_discard_confirmation_is_styled_as_dangerous_and_lists_what_it_affects(finance_client):
    drafted_run()
    invoice = Invoice.objects.get()

    page = finance_client.get(reverse("evse_payout:invoice_discard", args=[invoice.pk]))

    content = page.content.decode()
    assert 'class="danger-zone module"' in content and "button default danger" in content
    assert f'href="/cdrs/?invoice={invoice.pk}">see them</a>), net payout 18.00 EUR' in content


# --- settlement (issue 12) ----------------------------------------------------------------------


def test_run_page_names_the_cutoff_time_zone(finance_client, settings):
    settings.BUSINESS_TIME_ZONE = "Europe/Brussels"
    run = drafted_run()

    page = finance_client.get(reverse("evse_payout:invoice_run_detail", args=[run.pk]))

    assert "before 00:00 Europe/Brussels" in page.content.decode()


def test_run_page_shows_the_cpo_revenue_report_apart_from_the_statements(finance_client):
    rated_cdr(AssignmentFactory(), excl=Decimal("10.00"))
    own = CPOAssignmentFactory(payout_account=CPOAccountFactory(name="CPO own revenue"))
    rated_cdr(own, excl=Decimal("90.00"))
    run = InvoiceRun.objects.get(pk=run_invoicing(cutoff=CUTOFF).run_id)
    finalize_run(run=run, actor=None)

    page = finance_client.get(reverse("evse_payout:invoice_run_detail", args=[run.pk]))

    html = page.content.decode()
    statements, reports = html.split('id="revenue-reports"')
    assert "CPO own revenue" not in statements
    assert "CPO own revenue" in reports
    assert "90.00 EUR" in reports
    report = Invoice.objects.get(payout_account=own.payout_account)
    assert report.number is None and report.status == InvoiceStatus.FINAL
    assert set(CDR.objects.values_list("status", flat=True)) == {CDRStatus.INVOICED}


def test_run_page_lists_carried_forward_accounts_and_the_next_statement_opens_with_it(
    finance_client,
):
    assignment = AssignmentFactory()
    original = rated_cdr(assignment, excl=Decimal("5.00"))
    run = InvoiceRun.objects.get(pk=run_invoicing(cutoff=CUTOFF).run_id)
    finalize_run(run=run, actor=None)
    rated_cdr(assignment, excl=Decimal("-5.00"), credit=True, credited_cdr=original)
    owing = InvoiceRun.objects.get(pk=run_invoicing(cutoff=CUTOFF).run_id)
    (carried,) = finalize_run(run=owing, actor=None)

    run_page = finance_client.get(reverse("evse_payout:invoice_run_detail", args=[owing.pk]))

    assert carried.carried_forward
    assert "Carried forward" in run_page.content.decode()
    # 5.44 paid (self-billed 5.00 + 1.05 VAT less fee 0.50 + 0.11 VAT), then −5.44 owed back.
    assert "-5.44 EUR" in run_page.content.decode()
    rated_cdr(assignment, excl=Decimal("10.00"))
    next_run = InvoiceRun.objects.get(pk=run_invoicing(cutoff=CUTOFF).run_id)
    following = Invoice.objects.get(run=next_run)
    statement_page = finance_client.get(
        reverse("evse_payout:invoice_detail", args=[following.pk])
    ).content.decode()
    assert f"Balance carried forward from {carried.number}" in statement_page
    # The draft: net payout 9.00 − 5.44 brought forward; finalize adds the documents' VAT.
    assert following.payable == Decimal("3.56")
    finalize_run(run=next_run, actor=None)
    following.refresh_from_db()
    assert following.payable == Decimal("5.45")  # 12.10 − 1.21 − 5.44


def test_final_statement_page_shows_the_payee_data_frozen_at_finalize(finance_client):
    run = drafted_run()
    finalize_run(run=run, actor=None)
    invoice = Invoice.objects.get()
    frozen_iban = invoice.payout_account.iban
    account = invoice.payout_account
    account.iban = "BE71096123456769"
    account.save()

    page = finance_client.get(
        reverse("evse_payout:invoice_detail", args=[invoice.pk])
    ).content.decode()

    assert frozen_iban in page
    assert "BE71096123456769" not in page
    assert "As frozen when the statement was finalized" in page


def test_credit_of_an_original_on_a_final_statement_names_that_statement(finance_client):
    assignment = AssignmentFactory()
    original = rated_cdr(assignment, excl=Decimal("20.00"))
    first = InvoiceRun.objects.get(pk=run_invoicing(cutoff=CUTOFF).run_id)
    (statement,) = finalize_run(run=first, actor=None)
    credit = rated_cdr(assignment, excl=Decimal("-20.00"), credit=True, credited_cdr=original)
    rated_cdr(assignment, excl=Decimal("30.00"))

    run_invoicing(cutoff=CUTOFF)

    credit.refresh_from_db()
    assert credit.statement.payout_account == assignment.payout_account
    page = finance_client.get(
        reverse("evse_payout:invoice_detail", args=[credit.statement.pk])
    ).content.decode()
    assert f"(credit of {original.cdr_id} on {statement.number})" in page


def test_a_run_of_the_cpo_own_account_alone_can_be_finalized_from_its_page(finance_client):
    rated_cdr(CPOAssignmentFactory(), excl=Decimal("90.00"))
    run = InvoiceRun.objects.get(pk=run_invoicing(cutoff=CUTOFF).run_id)

    page = finance_client.get(reverse("evse_payout:invoice_run_detail", args=[run.pk]))
    response = finance_client.post(
        reverse("evse_payout:invoice_run_finalize", args=[run.pk]), follow=True
    )

    assert "Finalize all drafts" in page.content.decode()
    assert "1 internal revenue report finalized" in messages_of(response)[0]
    assert Invoice.objects.get().status == InvoiceStatus.FINAL


def test_revenue_report_page_says_what_it_is_and_has_no_payable_amount(finance_client):
    rated_cdr(CPOAssignmentFactory(), excl=Decimal("90.00"))
    run_invoicing(cutoff=CUTOFF)
    report = Invoice.objects.get()

    page = finance_client.get(
        reverse("evse_payout:invoice_detail", args=[report.pk])
    ).content.decode()

    assert "Internal revenue report" in page
    assert "Self-billing payout statement" not in page
    assert "Payable" not in page
    assert "81.00 EUR" in page  # net: 90.00 − 10 % fee


def test_pages_with_times_name_their_zone(finance_client, settings):
    settings.TIME_ZONE = settings.BUSINESS_TIME_ZONE = "Europe/Brussels"
    drafted_run()
    invoice = Invoice.objects.get()

    runs = finance_client.get(LIST).content.decode()
    statement = finance_client.get(
        reverse("evse_payout:invoice_detail", args=[invoice.pk])
    ).content.decode()
    form = finance_client.get(NEW).content.decode()

    assert "Started (Europe/Brussels)" in runs
    assert "Ended (Europe/Brussels)" in statement
    assert "00:00 of this day (Europe/Brussels)" in form
