"""The ZIP of a run's documents as a background job (tasks run immediately here): the button
starts it, the job page follows it, the ZIP holds every PDF and UBL, the SEPA file and a README."""

import io
import zipfile
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from lxml import etree

from evse_payout.models import Document, Invoice, Job, JobKind, JobState
from evse_payout.renderers import bundle as bundle_module
from evse_payout.services import jobs as jobs_service
from evse_payout.services.documents import issue_statement_documents
from evse_payout.services.jobs import JobError, start_documents_bundle
from tests.documents.helpers import ISSUED_ON, add_lines, payee, statement
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def final(sub_cpo, *, run=None, excl="20.00", fees="2.00") -> Invoice:
    invoice = statement(sub_cpo, excl=excl, fees=fees)
    if run is not None:
        Invoice.objects.filter(pk=invoice.pk).update(run=run)
        invoice.refresh_from_db()
    count = int(Decimal(excl) / 10)
    add_lines(invoice, count, excl=lambda i: Decimal("10.0000"), fee=lambda i: Decimal("1.0000"))
    issue_statement_documents(invoice=invoice, actor=None, issued_on=ISSUED_ON)
    return invoice


@pytest.fixture
def run():
    """A run of two final statements (a German and a Belgian payee), with their documents."""
    first = final(payee("de_registered"))
    final(payee("be_registered", name="Hotel Zeezicht"), run=first.run, excl="30.00")
    return first.run


def build(client, run):
    return client.post(reverse("evse_payout:invoice_run_bundle", args=[run.pk]))


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def download(client, job):
    response = client.get(reverse("evse_payout:job_bundle", args=[job.pk]))
    assert response.status_code == 200, response.status_code
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_the_button_starts_a_job_and_the_job_page_links_the_zip(finance_client, run):
    response = build(finance_client, run)

    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("evse_payout:job_detail", args=[job.pk])
    assert messages_of(response) == [
        f"Documents bundle job {job.pk} started: it builds the ZIP of invoice run {run.pk}. "
        "This page follows it and links the download when it is done."
    ]
    assert (job.kind, job.state, job.done, job.total) == (JobKind.DOCUMENTS_BUNDLE, "done", 2, 2)
    assert job.result["file"] == f"bundles/run-{run.pk}-job-{job.pk}.zip"
    assert job.result["summary"] == (
        f"ZIP of invoice run {run.pk}: 8 PDF and UBL files of 2 final statements and the SEPA "
        f"file payouts-run-{run.pk}-pain.001.001.09.xml, with a README listing each file."
    )
    page = finance_client.get(response["Location"]).content.decode()
    assert f'href="{reverse("evse_payout:job_bundle", args=[job.pk])}">Download the ZIP' in page
    assert "2 of 2 statements" in page


def test_the_zip_holds_each_document_as_pdf_and_ubl_the_sepa_file_and_a_readme(finance_client, run):
    build(finance_client, run)
    job = Job.objects.get()

    archive = download(finance_client, job)

    numbers = sorted(Document.objects.filter(invoice__run=run).values_list("number", flat=True))
    assert numbers == ["FE-2026-000001", "FE-2026-000002", "SB-2026-000001", "SB-2026-000002"]
    sepa = f"payouts-run-{run.pk}-pain.001.001.09.xml"
    expected = {f"{n}.pdf" for n in numbers} | {f"{n}.xml" for n in numbers}
    assert set(archive.namelist()) == expected | {sepa, "README.txt"}
    for number in numbers:
        assert archive.read(f"{number}.pdf").startswith(b"%PDF-")
        ubl = etree.fromstring(archive.read(f"{number}.xml"))
        assert ubl.findtext("{*}ID") == number
    assert b"<NbOfTxs>2</NbOfTxs>" in archive.read(sepa)


def test_the_readme_lists_each_file_with_its_statement_and_amount(finance_client, run):
    build(finance_client, run)
    archive = download(finance_client, Job.objects.get())
    readme = archive.read("README.txt").decode()

    statements = {i.payee_name: i for i in Invoice.objects.filter(run=run)}
    zeezicht = statements["Hotel Zeezicht"]
    self_billed = zeezicht.documents.get(kind="self_billed_invoice")
    rows = [line.split() for line in readme.splitlines()]
    # Belgian registered payee: 30.00 + 21 % VAT.
    assert [
        f"{self_billed.number}.pdf",
        zeezicht.number,
        "Self-billed",
        "invoice",
        "36.30",
        "EUR",
    ] in rows
    assert [
        f"{self_billed.number}.xml",
        zeezicht.number,
        "Self-billed",
        "invoice",
        "36.30",
        "EUR",
    ] in rows
    listed = {row[0] for row in rows if row}
    assert set(archive.namelist()) - {"README.txt"} <= listed
    assert f"Documents of invoice run {run.pk}" in readme
    assert "2 final statements" in readme


def test_a_viewer_builds_the_zip_without_the_sepa_file(viewer_client, run):
    build(viewer_client, run)
    job = Job.objects.get()

    archive = download(viewer_client, job)

    assert job.parameters == {"run": run.pk, "SEPA file": jobs_service.SEPA_LEFT_OUT}
    assert not [name for name in archive.namelist() if "pain.001" in name]
    assert len(archive.namelist()) == 9  # 4 documents × PDF and UBL, and the README


def test_a_zip_with_the_sepa_file_is_not_for_a_viewer(finance_client, viewer, run):
    build(finance_client, run)
    job = Job.objects.get()
    client = Client()
    client.force_login(viewer)

    response = client.get(reverse("evse_payout:job_bundle", args=[job.pk]))

    assert response.status_code == 403


def test_progress_is_written_per_statement(finance_client, run, monkeypatch):
    monkeypatch.setattr(jobs_service, "PROGRESS_INTERVAL", 0)
    seen = []
    render = bundle_module.render_document_pdf

    def recording(document):
        seen.append(Job.objects.values_list("done", "total").get())
        return render(document)

    monkeypatch.setattr(bundle_module, "render_document_pdf", recording)

    build(finance_client, run)

    # Two documents per statement; the row says 0 of 2 during the first, 1 of 2 during the second.
    assert seen == [(0, 2), (0, 2), (1, 2), (1, 2)]
    assert Job.objects.values_list("state", "done", "total").get() == ("done", 2, 2)


def test_cancelling_stops_after_the_current_statement_and_keeps_no_zip(
    finance_client, run, monkeypatch
):
    render = bundle_module.render_document_pdf

    def cancel_while_rendering(document):
        Job.objects.update(cancel_requested=True)
        return render(document)

    monkeypatch.setattr(bundle_module, "render_document_pdf", cancel_while_rendering)

    response = build(finance_client, run)

    job = Job.objects.get()
    assert job.state == JobState.CANCELLED
    assert job.result == {"summary": "Cancelled after 1 of 2 statements; no ZIP was kept."}
    assert not default_storage.exists(f"bundles/run-{run.pk}-job-{job.pk}.zip")
    page = finance_client.get(response["Location"]).content.decode()
    assert "Cancelled after 1 of 2 statements; no ZIP was kept." in page
    assert "Download the ZIP" not in page


def test_cancel_page_says_a_bundle_stops_after_its_statement(finance_client, run):
    job = Job.objects.create(
        kind=JobKind.DOCUMENTS_BUNDLE, state=JobState.RUNNING, created_at=timezone.now(),
        started_at=timezone.now(), parameters={"run": run.pk},
    )  # fmt: skip
    url = reverse("evse_payout:job_cancel", args=[job.pk])

    page = finance_client.get(url).content.decode()
    response = finance_client.post(url)

    assert "It stops after the statement it is working on and keeps no ZIP" in page
    assert messages_of(response) == [
        f"Documents bundle job {job.pk} stops after its current statement; no ZIP is kept."
    ]
    assert Job.objects.get(pk=job.pk).cancel_requested


def queued_bundle(run) -> Job:
    return Job.objects.create(
        kind=JobKind.DOCUMENTS_BUNDLE, created_at=timezone.now(), parameters={"run": run.pk}
    )


def test_starting_while_one_is_queued_follows_that_one(finance_client, run):
    waiting = queued_bundle(run)

    response = build(finance_client, run)

    assert response["Location"] == reverse("evse_payout:job_detail", args=[waiting.pk])
    assert messages_of(response) == [
        f"The ZIP of invoice run {run.pk} is already being built by Documents bundle job "
        f"{waiting.pk} (queued); this page follows it instead of starting another."
    ]
    assert list(Job.objects.values_list("pk", flat=True)) == [waiting.pk]


def test_the_database_refuses_a_second_active_bundle_of_a_run(run):
    queued_bundle(run)

    with pytest.raises(IntegrityError), transaction.atomic():
        queued_bundle(run)


def test_a_bundle_started_at_the_same_moment_is_followed(run, monkeypatch):
    """The look-up saw none, the insert met the other request's job: follow that one."""
    waiting = queued_bundle(run)
    answers = iter([None, waiting])
    monkeypatch.setattr(jobs_service, "active_bundle_job", lambda run_id: next(answers))

    job, started = start_documents_bundle(run_id=run.pk, actor=None, include_sepa=False)

    assert (job, started) == (waiting, False)
    assert Job.objects.count() == 1


def test_a_bundle_that_finished_at_the_same_moment_says_so(run, monkeypatch):
    queued_bundle(run)
    monkeypatch.setattr(jobs_service, "active_bundle_job", lambda run_id: None)

    with pytest.raises(JobError, match="was being started at the same moment"):
        start_documents_bundle(run_id=run.pk, actor=None, include_sepa=False)


def test_a_finished_bundle_does_not_block_the_next(finance_client, run):
    build(finance_client, run)
    build(finance_client, run)

    assert list(Job.objects.values_list("state", flat=True)) == ["done", "done"]


def test_a_newer_zip_replaces_the_older_whose_download_then_says_so(finance_client, run):
    build(finance_client, run)
    build(finance_client, run)
    older, newer = Job.objects.order_by("pk")

    response = finance_client.get(reverse("evse_payout:job_bundle", args=[older.pk]))

    assert response.status_code == 404
    assert "is no longer stored: a newer ZIP of invoice run" in response.content.decode()
    assert not default_storage.exists(older.result["file"])
    assert default_storage.exists(newer.result["file"])


def test_a_missing_file_is_a_404_that_says_so(finance_client, run):
    build(finance_client, run)
    job = Job.objects.get()
    default_storage.delete(job.result["file"])

    response = finance_client.get(reverse("evse_payout:job_bundle", args=[job.pk]))

    assert response.status_code == 404
    assert f"The ZIP that Documents bundle job {job.pk} built is no longer stored" in (
        response.content.decode()
    )


def test_a_job_not_done_has_nothing_to_download_yet(finance_client, run):
    job = queued_bundle(run)

    response = finance_client.get(reverse("evse_payout:job_bundle", args=[job.pk]))

    assert response["Location"] == reverse("evse_payout:job_detail", args=[job.pk])
    assert messages_of(response) == [
        f"Documents bundle job {job.pk} is queued: it has no ZIP to download."
    ]


def test_the_download_is_only_for_bundle_jobs(finance_client):
    other = Job.objects.create(kind=JobKind.RERATE, created_at=timezone.now())
    default_storage.save("bundles/other.zip", ContentFile(b"x"))

    response = finance_client.get(reverse("evse_payout:job_bundle", args=[other.pk]))

    assert response.status_code == 404


def test_a_login_without_the_run_permission_gets_403(client, run):
    client.force_login(UserFactory(username="nobody"))
    finance = Client()
    finance.force_login(UserFactory(username="boss", is_superuser=True))
    build(finance, run)
    job = Job.objects.get()

    assert build(client, run).status_code == 403
    assert client.get(reverse("evse_payout:job_bundle", args=[job.pk])).status_code == 403
    assert Job.objects.count() == 1


def test_starting_needs_the_csrf_token(finance, run):
    client = Client(enforce_csrf_checks=True)
    client.force_login(finance)

    response = build(client, run)

    assert response.status_code == 403
    assert b"CSRF" in response.content
    assert not Job.objects.exists()


def test_the_run_page_offers_a_post_button_with_the_csrf_token(viewer_client, run):
    page = viewer_client.get(reverse("evse_payout:invoice_run_detail", args=[run.pk]))
    html = page.content.decode()

    form = html[html.index('<form method="post" action="/invoice-runs/') :]
    form = form[: form.index("</form>")]
    assert f'action="{reverse("evse_payout:invoice_run_bundle", args=[run.pk])}"' in form
    assert "csrfmiddlewaretoken" in form
    assert '<button type="submit" class="button">Build documents ZIP</button>' in form
    assert "the SEPA file" not in form  # a viewer's ZIP has none


def test_a_run_without_final_statements_disables_the_button_and_says_why(finance_client):
    draft = statement(payee("de_registered"), status="draft", number=None)

    page = finance_client.get(reverse("evse_payout:invoice_run_detail", args=[draft.run_id]))
    response = build(finance_client, draft.run)

    html = page.content.decode()
    assert 'disabled aria-describedby="documents-bundle-help">Build documents ZIP' in html
    assert "No documents yet: only final Sub-CPO statements have them" in html
    assert response["Location"] == reverse("evse_payout:invoice_run_detail", args=[draft.run_id])
    assert messages_of(response) == [
        f"Invoice run {draft.run_id} has no documents yet: finalize it first."
    ]
    assert not Job.objects.exists()


def test_a_bundle_job_of_a_run_without_documents_fails_in_words(run):
    Document.objects.all().delete()

    job, _ = start_documents_bundle(run_id=run.pk, actor=None, include_sepa=True)

    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert job.error == (
        f"Failed — invoice run {run.pk} has no final statement with documents; finalize its "
        "drafts first, then build the ZIP again."
    )


def test_the_old_download_address_sends_to_the_run_page_with_a_word(viewer_client, run):
    response = viewer_client.get(reverse("evse_payout:invoice_run_documents", args=[run.pk]))

    assert response["Location"] == reverse("evse_payout:invoice_run_detail", args=[run.pk])
    assert messages_of(response) == [
        f"The ZIP of invoice run {run.pk}'s documents is now built in the background: press "
        "“Build documents ZIP” below; its job page links the download when it is ready."
    ]
    assert not Job.objects.exists()
