"""Background jobs: exactly once, progress, cancel, interrupted workers (tasks run immediately)."""

import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.utils import timezone

from evse_payout import job_kinds
from evse_payout.models import (
    CDR,
    AuditAction,
    AuditEvent,
    CDRStatus,
    InvoiceRun,
    Job,
    JobKind,
    JobState,
)
from evse_payout.selectors.jobs import job_progress
from evse_payout.services.jobs import (
    ADVISORY_LOCK_SPACE,
    JobError,
    JobProgress,
    execute_job,
    mark_interrupted_jobs,
    request_cancel,
    start_job,
)
from tests.factories import AssignmentFactory, CDRFactory, UserFactory
from tests.services.test_invoicing import CUTOFF, rated_cdr

pytestmark = pytest.mark.django_db


def queued(kind, **parameters) -> Job:
    return Job.objects.create(kind=kind, created_at=timezone.now(), parameters=parameters)


def test_invoice_run_job_drafts_the_run_and_links_it():
    rated_cdr()
    user = UserFactory(username="finance")

    job = start_job(kind=JobKind.INVOICE_RUN, actor=user, parameters={"cutoff": str(CUTOFF)})

    job.refresh_from_db()
    run = InvoiceRun.objects.get()
    assert (job.state, job.done, job.total) == (JobState.DONE, 6, 6)  # the run's six steps
    assert job.result["run_id"] == run.pk
    assert job.result["links"][0]["url"] == f"/invoice-runs/{run.pk}/"
    assert run.created_by == user
    assert job.started_at is not None and job.finished_at >= job.started_at


def test_preview_job_keeps_the_figures_and_writes_nothing():
    rated_cdr(excl=Decimal("1500.00"))

    job = start_job(kind=JobKind.INVOICE_PREVIEW, actor=None, parameters={"cutoff": str(CUTOFF)})

    job.refresh_from_db()
    assert job.state == JobState.DONE
    assert job.result["preview"]["statements"][0]["excl_vat"] == "1500.00"
    assert job.result["preview"]["statements"][0]["net_payout"] == "1350.00"
    assert not InvoiceRun.objects.exists()
    assert CDR.objects.get().status == CDRStatus.RATED


def test_a_job_delivered_twice_runs_once():
    rated_cdr()
    job = start_job(kind=JobKind.INVOICE_RUN, actor=None, parameters={"cutoff": str(CUTOFF)})

    execute_job(job_id=job.pk)

    assert InvoiceRun.objects.count() == 1
    assert Job.objects.get(pk=job.pk).state == JobState.DONE


def test_failing_run_says_why_in_words():
    job = queued(JobKind.RERATE, filters="status=bogus")

    execute_job(job_id=job.pk)

    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert job.error == "Failed — the filters of the selection are no longer valid; select again."


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_is_written_at_most_every_second():
    job = queued(JobKind.RERATE)
    clock = FakeClock()
    progress = JobProgress(job, clock=clock)
    progress.start(10)

    progress.advance(2)
    clock.now = 0.5
    progress.advance(2)
    assert Job.objects.get(pk=job.pk).done == 0
    clock.now = 1.1
    progress.advance(2)
    assert (Job.objects.get(pk=job.pk).done, Job.objects.get(pk=job.pk).total) == (6, 10)


def test_cancelled_rerate_stops_after_the_current_batch_and_says_how_far(monkeypatch):
    monkeypatch.setattr(job_kinds, "RERATE_BATCH_SIZE", 2)
    assignment = AssignmentFactory()
    cdrs = [CDRFactory(evse=assignment.evse) for _ in range(5)]
    job = queued(JobKind.RERATE, pks=[cdr.pk for cdr in cdrs])
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)

    execute_job(job_id=job.pk)

    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert job.result["summary"].startswith("Cancelled after 2 of 5 CDRs")
    assert CDR.objects.filter(status=CDRStatus.RATED).count() == 2
    audit = AuditEvent.objects.get(action=AuditAction.RERATE)
    assert (
        audit.summary
        == f"Re-rate job {job.pk} cancelled after 2 of 5 CDRs; those were re-rated, the rest not."
    )


def test_cancelled_invoice_run_is_rolled_back():
    cdr = rated_cdr()
    job = queued(JobKind.INVOICE_RUN, cutoff=str(CUTOFF))
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)

    execute_job(job_id=job.pk)

    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert "rolled back; nothing was written" in job.result["summary"]
    assert job.done == 0
    assert not InvoiceRun.objects.exists()
    cdr.refresh_from_db()
    assert (cdr.status, cdr.statement) == (CDRStatus.RATED, None)


def test_cancelling_a_queued_job_means_it_never_runs():
    rated_cdr()
    job = queued(JobKind.INVOICE_RUN, cutoff=str(CUTOFF))

    request_cancel(job=job, actor=None)
    execute_job(job_id=job.pk)

    assert Job.objects.get(pk=job.pk).state == JobState.CANCELLED
    assert not InvoiceRun.objects.exists()


def test_a_finished_job_cannot_be_cancelled():
    job = queued(JobKind.RERATE)
    Job.objects.filter(pk=job.pk).update(
        state=JobState.DONE, started_at=timezone.now(), finished_at=timezone.now()
    )

    with pytest.raises(JobError, match="is done; nothing to cancel"):
        request_cancel(job=job, actor=None)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _running(job: Job, pid: int) -> None:
    import socket

    Job.objects.filter(pk=job.pk).update(
        state=JobState.RUNNING, started_at=timezone.now(), worker_host=socket.gethostname(),
        worker_pid=pid,
    )  # fmt: skip


def test_a_job_whose_worker_died_is_marked_interrupted_and_nothing_written():
    job = queued(JobKind.INVOICE_RUN, cutoff=str(CUTOFF))
    _running(job, _dead_pid())

    assert mark_interrupted_jobs() == 1

    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert job.error == "Failed — interrupted (its worker stopped), nothing was written."


def test_a_job_whose_worker_lives_is_left_running():
    job = queued(JobKind.INVOICE_RUN, cutoff=str(CUTOFF))
    _running(job, os.getpid())
    holder = None
    if connection.vendor == "postgresql":
        # The worker's session holds the job's advisory lock while it runs.
        holder = connections.create_connection("default")
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [ADVISORY_LOCK_SPACE, job.pk])
    try:
        assert mark_interrupted_jobs() == 0
    finally:
        if holder is not None:
            holder.close()

    assert Job.objects.get(pk=job.pk).state == JobState.RUNNING


def test_progress_shows_percent_elapsed_and_time_left():
    now = timezone.now()
    job = Job(
        kind=JobKind.RERATE, state=JobState.RUNNING, done=250, total=1000,
        started_at=now - timedelta(seconds=10), created_at=now,
    )  # fmt: skip

    progress = job_progress(job, now)

    assert (progress.percent, progress.elapsed, progress.remaining) == (
        25,
        timedelta(seconds=10),
        timedelta(seconds=30),
    )


@pytest.mark.postgres
def test_a_job_running_in_another_worker_is_not_run_again_here():
    rated_cdr()
    job = queued(JobKind.INVOICE_RUN, cutoff=str(CUTOFF))
    other_worker = connections.create_connection("default")
    with other_worker.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [ADVISORY_LOCK_SPACE, job.pk])
    try:
        execute_job(job_id=job.pk)
    finally:
        other_worker.close()

    assert Job.objects.get(pk=job.pk).state == JobState.QUEUED
    assert not InvoiceRun.objects.exists()
