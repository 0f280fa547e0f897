"""The jobs pages, the Import page and the pages that start jobs (tasks run immediately here)."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from evse_payout.models import CDR, CDRStatus, Job, JobKind, JobState
from evse_payout.services import imports
from evse_payout.views import cdrs as cdr_views
from tests.factories import AssignmentFactory, CDRFactory, ocpi_cdr_payload

pytestmark = pytest.mark.django_db

IMPORT = reverse("evse_payout:import_file")


def detail(job):
    return reverse("evse_payout:job_detail", args=[job.pk])


def running_job(**fields) -> Job:
    return Job.objects.create(
        kind=JobKind.RERATE, state=JobState.RUNNING, created_at=timezone.now(),
        started_at=timezone.now(), worker_pid=None, **fields,
    )  # fmt: skip


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture(autouse=True)
def workers_alive(monkeypatch):
    """The running jobs here have no worker process; tests/services/test_jobs.py covers how a
    dead worker is told from a live one."""
    monkeypatch.setattr("evse_payout.views.jobs.mark_interrupted_jobs", lambda: 0)


def test_running_job_page_polls_its_status_every_second(viewer_client):
    job = running_job(done=250, total=1000, worker_host="elsewhere")

    page = viewer_client.get(detail(job)).content.decode()

    assert 'hx-trigger="every 1s"' in page
    assert "250 of 1,000 CDRs" in page
    assert "25 %" in page
    assert '<meta http-equiv="refresh" content="2">' in page  # without JavaScript


def test_htmx_poll_gets_only_the_status_part(viewer_client):
    job = running_job(done=1, total=4, worker_host="elsewhere")

    response = viewer_client.get(detail(job), headers={"HX-Request": "true"})

    body = response.content.decode()
    assert body.lstrip().startswith('<div id="job-status"')
    assert "job-facts" not in body
    assert "HX-Request" in response["Vary"]


def test_finished_job_page_stops_polling(viewer_client):
    job = Job.objects.create(
        kind=JobKind.RERATE, state=JobState.DONE, created_at=timezone.now(),
        started_at=timezone.now(), finished_at=timezone.now(), result={"summary": "Re-rated 3 CDRs."},
    )  # fmt: skip

    page = viewer_client.get(detail(job)).content.decode()

    assert "hx-trigger" not in page
    assert "Re-rated 3 CDRs." in page
    assert "100 %" in page


def test_recent_jobs_are_linked_from_home(viewer_client):
    job = running_job(worker_host="elsewhere")

    home = viewer_client.get(reverse("evse_payout:home")).content.decode()
    listing = viewer_client.get(reverse("evse_payout:job_list")).content.decode()

    assert f'href="{reverse("evse_payout:job_list")}"' in home
    assert f'href="{detail(job)}"' in listing


def test_empty_job_list_says_how_to_start_one(viewer_client):
    page = viewer_client.get(reverse("evse_payout:job_list")).content.decode()

    assert "No jobs yet" in page


def test_cancel_asks_first_then_stops_the_job(manager_client):
    job = running_job(worker_host="elsewhere")
    url = reverse("evse_payout:job_cancel", args=[job.pk])

    assert "stops after the batch" in manager_client.get(url).content.decode()
    response = manager_client.post(url, follow=True)

    job.refresh_from_db()
    assert job.cancel_requested
    assert "stops after its current batch" in response.content.decode()


def jsonl(*payloads) -> SimpleUploadedFile:
    text = "\n".join(json.dumps(p) if isinstance(p, dict) else p for p in payloads)
    return SimpleUploadedFile("cdrs.jsonl", text.encode(), content_type="application/json")


@pytest.mark.parametrize("read_ahead", [False, True], ids=["in-process", "reader-process"])
def test_import_page_imports_cdrs_as_a_job_and_lists_each_rejected_record(
    manager_client, monkeypatch, read_ahead
):
    if read_ahead:
        monkeypatch.setattr(imports, "READ_AHEAD_MIN_BYTES", 0)
    upload = jsonl(ocpi_cdr_payload(id="CDR-A"), "{not json", ocpi_cdr_payload(id="CDR-B"))

    response = manager_client.post(IMPORT, {"kind": "import_cdrs", "file": upload}, follow=True)

    job = Job.objects.get()
    assert response.redirect_chain == [(detail(job), 302)]
    assert job.state == JobState.DONE
    assert job.result["summary"] == "Imported 2 CDRs (0 already present, 1 rejected)."
    assert job.result["rejected"][0]["where"] == "line 2"
    page = response.content.decode()
    assert "line 2" in page and "Not valid JSON" in page
    assert set(CDR.objects.values_list("cdr_id", flat=True)) == {"CDR-A", "CDR-B"}
    assert job.done == job.total and job.total == len(upload)


def test_import_dry_run_writes_nothing(manager_client):
    upload = jsonl(ocpi_cdr_payload(id="CDR-A"))

    manager_client.post(IMPORT, {"kind": "import_cdrs", "file": upload, "dry_run": "on"})

    assert Job.objects.get().result["summary"].startswith("Dry run: would import 1 CDRs")
    assert not CDR.objects.exists()


def test_import_page_without_a_file_says_so(manager_client):
    response = manager_client.post(IMPORT, {"kind": "import_cdrs"})

    assert "This field is required." in response.content.decode()
    assert not Job.objects.exists()


def test_viewer_cannot_import(viewer_client):
    assert viewer_client.get(IMPORT).status_code == 403


def test_a_large_rerate_runs_as_a_job(manager_client, monkeypatch):
    monkeypatch.setattr(cdr_views, "JOB_THRESHOLD", 2)
    assignment = AssignmentFactory()
    cdrs = [CDRFactory(evse=assignment.evse) for _ in range(3)]

    confirmation = manager_client.post(
        reverse("evse_payout:cdr_rerate"), {"pk": [c.pk for c in cdrs]}
    ).content.decode()
    response = manager_client.post(
        reverse("evse_payout:cdr_rerate"), {"pk": [c.pk for c in cdrs], "confirm": "1"}
    )

    assert "re-rated in the background" in confirmation

    job = Job.objects.get()
    assert response["Location"] == detail(job)
    assert (job.kind, job.state, job.done, job.total) == ("rerate", "done", 3, 3)
    assert CDR.objects.filter(status=CDRStatus.RATED).count() == 3
