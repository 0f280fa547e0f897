"""Background jobs: start one (a Job row, then a task on the queue), run it exactly once in a
worker, write its progress, cancel it, and tell an interrupted job from a running one.

Exactly once: a worker claims a job with a conditional UPDATE (queued → running), so a task
delivered twice runs the job once. An invoice run is one transaction: a worker killed mid-run
(kill -9) writes nothing, and the job is marked "failed — interrupted" by the next worker that
starts a job or by the next look at the jobs pages. Whether a running job's worker is alive:
on PostgreSQL the worker holds a session advisory lock on the job while it runs, which the
server releases when the worker's connection dies; on SQLite (one machine) the worker's process
id is checked.
"""

import logging
import os
import socket
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from ..models import ACTIVE_STATES, Job, JobKind, JobState

logger = logging.getLogger(__name__)

# Progress is written at most this often (seconds), and at the end of each batch that ends later.
PROGRESS_INTERVAL = 1.0
# First key of the PostgreSQL advisory locks of running jobs (second key: the job id).
ADVISORY_LOCK_SPACE = 0x4A0B


class JobCancelled(Exception):
    """Raised inside a job at its next batch once someone asked to cancel it."""


class JobFailed(Exception):
    """The job cannot do its work; the message says why in words and is shown on its page."""


class JobError(Exception):
    """A request about a job was refused; the message says why and nothing changed."""


def start_job(
    *,
    kind: JobKind,
    actor,
    parameters: dict[str, Any],
    upload: UploadedFile | None = None,
) -> Job:
    """Record the job (and its uploaded file), then put it on the task queue. Returns at once
    with a database backend; the immediate backend (tests) runs the job before returning."""
    from ..tasks import run_job

    with transaction.atomic():
        job = Job.objects.create(
            kind=kind,
            created_at=timezone.now(),
            created_by=actor,
            created_by_label=actor.get_username() if actor else "system",
            parameters=parameters,
        )
        if upload is not None:
            job.upload = default_storage.save(f"imports/job-{job.pk}.json", upload)
            job.save(update_fields=["upload"])
    try:
        result = run_job.enqueue(job.pk)
    except Exception as exc:
        _finish(job, JobState.FAILED, error=f"The job could not be queued: {exc}")
        raise JobError(f"The job could not be queued: {exc}") from exc
    Job.objects.filter(pk=job.pk).update(task_id=str(result.id)[:64])
    job.refresh_from_db()
    return job


# The documents bundle's parameter that says whether the run's SEPA file goes in the ZIP: only
# for a starter who may download the SEPA file itself.
SEPA_PARAMETER = "SEPA file"
SEPA_INCLUDED = "included"
SEPA_LEFT_OUT = "left out (downloading it needs the Finance role)"


def active_bundle_job(*, run_id: int) -> Job | None:
    """The run's documents bundle job that is queued or running, if any."""
    return (
        Job.objects.filter(
            kind=JobKind.DOCUMENTS_BUNDLE, state__in=ACTIVE_STATES, parameters__run=run_id
        )
        .order_by("pk")
        .first()
    )


def start_documents_bundle(*, run_id: int, actor, include_sepa: bool) -> tuple[Job, bool]:
    """Start the ZIP of a run's documents, or return the bundle job of that run already queued
    or running (and False): the database keeps it to one at a time per run."""
    existing = active_bundle_job(run_id=run_id)
    if existing is not None:
        return existing, False
    parameters = {"run": run_id, SEPA_PARAMETER: SEPA_INCLUDED if include_sepa else SEPA_LEFT_OUT}
    try:
        return start_job(kind=JobKind.DOCUMENTS_BUNDLE, actor=actor, parameters=parameters), True
    except IntegrityError:
        # Another request started one between the look-up and the insert.
        existing = active_bundle_job(run_id=run_id)
        if existing is None:
            raise JobError(
                f"A documents ZIP of invoice run {run_id} was being started at the same moment "
                "and has finished already; nothing was started. Start it again if you need a "
                "newer one."
            ) from None
        return existing, False


def request_cancel(*, job: Job, actor) -> Job:
    """Cancel a queued job now; ask a running one to stop at its next batch (an invoice run:
    to roll back). A finished job cannot be cancelled."""
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job.pk)
        if locked.is_finished:
            raise JobError(f"{locked} is {locked.get_state_display().lower()}; nothing to cancel.")
        locked.cancel_requested = True
        locked.cancelled_by = actor
        fields = ["cancel_requested", "cancelled_by"]
        if locked.state == JobState.QUEUED:
            locked.state = JobState.CANCELLED
            locked.finished_at = timezone.now()
            locked.result = {"summary": "Cancelled before it started; nothing was done."}
            fields += ["state", "finished_at", "result"]
        locked.save(update_fields=fields)
    return locked


class JobProgress:
    """The progress callback a job hands to a service: counts what is done, writes it at most
    every PROGRESS_INTERVAL seconds, and raises JobCancelled once a cancel was asked for."""

    def __init__(self, job: Job, *, clock: Callable[[], float] = time.monotonic):
        self.job = job
        self.clock = clock
        self.done = 0
        self.total: int | None = None
        self.last_write = clock()
        # Started outside any transaction (a worker): progress written inside the service's own
        # transaction goes through a second connection (see `_write_beside`). Started inside one
        # (a test's), the job row is not visible to another connection, so it is written here.
        self._may_write_beside = (
            connection.vendor == "postgresql" and not connection.in_atomic_block
        )
        self._beside = None

    def start(self, total: int | None) -> None:
        self.total = total
        self._write()

    def advance(self, count: int) -> None:
        """After a batch: `count` more items are done."""
        self.done += count
        if self.clock() - self.last_write >= PROGRESS_INTERVAL:
            self._write()
        self.check_cancelled()

    def reached(self, done: int, total: int | None) -> None:
        """`done` of `total` items are done (the invoice run's callback)."""
        self.done, self.total = done, total
        self._write()
        self.check_cancelled()

    def check_cancelled(self) -> None:
        if Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            raise JobCancelled

    def _write(self) -> None:
        if self._may_write_beside and connection.in_atomic_block:
            self._write_beside()
        else:
            Job.objects.filter(pk=self.job.pk).update(
                done=self.done, total=self.total, progress_at=timezone.now()
            )
        self.last_write = self.clock()

    def _write_beside(self) -> None:
        """Inside the service's transaction (an invoice run is one), progress written on its own
        connection would stay unseen until the end: it is written on a second connection, in
        autocommit, so the job page shows it at once."""
        if self._beside is None:
            self._beside = connections.create_connection(connection.alias)
        table = connection.ops.quote_name(Job._meta.db_table)
        with self._beside.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET done = %s, total = %s, progress_at = %s WHERE id = %s",
                [self.done, self.total, timezone.now(), self.job.pk],
            )

    def close(self) -> None:
        if self._beside is not None:
            self._beside.close()
            self._beside = None


def _finish(job: Job, state: JobState, **fields) -> None:
    Job.objects.filter(pk=job.pk).update(state=state, finished_at=timezone.now(), **fields)


def _claim(job_id: int) -> Job | None:
    """queued → running for this worker; None if the job ran already or was cancelled."""
    claimed = Job.objects.filter(pk=job_id, state=JobState.QUEUED).update(
        state=JobState.RUNNING,
        started_at=timezone.now(),
        worker_host=socket.gethostname(),
        worker_pid=os.getpid(),
    )
    return Job.objects.get(pk=job_id) if claimed else None


def _advisory(function: str, job_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s, %s)", [ADVISORY_LOCK_SPACE, job_id])
        return bool(cursor.fetchone()[0])


@contextmanager
def _running_here(job_id: int):
    """Hold the job's advisory lock (PostgreSQL) for as long as this worker runs it. Yields
    False if another worker holds it: the same job delivered twice is running there."""
    if connection.vendor != "postgresql":
        yield True
        return
    if not _advisory("pg_try_advisory_lock", job_id):
        yield False
        return
    try:
        yield True
    finally:
        _advisory("pg_advisory_unlock", job_id)


def _process_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def interrupted_message(job: Job) -> str:
    if job.is_batched:
        return (
            f"Failed — interrupted (its worker stopped) after {job.done:,} of "
            f"{job.total if job.total is not None else '?'} {unit_of(job)}. The batches done before "
            "were written; nothing after. Start it again to finish: it skips what is done."
        )
    if job.kind == JobKind.DOCUMENTS_BUNDLE:
        return "Failed — interrupted (its worker stopped); no ZIP was kept. Build it again."
    return "Failed — interrupted (its worker stopped), nothing was written."


def _mark_interrupted(job: Job) -> bool:
    marked = Job.objects.filter(pk=job.pk, state=JobState.RUNNING).update(
        state=JobState.FAILED, finished_at=timezone.now(), error=interrupted_message(job)
    )
    if marked:
        _drop_upload(job)  # its worker died before it could
    return bool(marked)


def mark_interrupted_jobs() -> int:
    """Mark every running job whose worker is gone as failed; returns how many."""
    marked = 0
    for job in Job.objects.filter(state=JobState.RUNNING).order_by("pk"):
        if connection.vendor == "postgresql":
            # Getting the lock means no live worker holds it; the conditional UPDATE under it
            # leaves a job that just finished alone.
            if _advisory("pg_try_advisory_lock", job.pk):
                try:
                    marked += _mark_interrupted(job)
                finally:
                    _advisory("pg_advisory_unlock", job.pk)
        elif job.worker_host == socket.gethostname() and not _process_alive(job.worker_pid):
            marked += _mark_interrupted(job)
    return marked


def unit_of(job: Job) -> str:
    return {
        JobKind.IMPORT_CDRS: "bytes of the file",
        JobKind.IMPORT_LOCATIONS: "bytes of the file",
        JobKind.DOCUMENTS_BUNDLE: "statements",
        JobKind.INVOICE_RUN: "steps of the run",
        JobKind.INVOICE_PREVIEW: "steps of the run",
    }.get(job.kind, "CDRs")


# What each kind of job does: filled by `evse_payout.job_kinds` (loaded when the app is ready),
# which sits above the services because it reads uploaded files and the overview's filters.
RUNNERS: dict[str, Callable[[Job, "JobProgress"], dict]] = {}


def execute_job(*, job_id: int) -> None:
    """Run one job in this worker: claim it, run its kind, record the outcome on the job."""
    mark_interrupted_jobs()
    with _running_here(job_id) as ours:
        job = _claim(job_id) if ours else None
        if job is None:
            return
        progress = JobProgress(job)
        # What stays done when the job stops early: an invoice run is rolled back as a whole.
        kept = (lambda: progress.done) if job.is_batched else (lambda: 0)
        try:
            result = RUNNERS[job.kind](job, progress)
        except JobCancelled:
            _finish(job, JobState.CANCELLED, done=kept(), result=_cancelled(job, progress))
        except JobFailed as exc:
            _finish(job, JobState.FAILED, done=kept(), error=f"Failed — {exc}")
        except Exception as exc:
            logger.exception("Job %s failed", job_id)
            _finish(
                job,
                JobState.FAILED,
                done=kept(),
                error=f"Failed — an unexpected error stopped it ({type(exc).__name__}: {exc}). "
                + _written_note(job),
            )
        else:
            _finish(job, JobState.DONE, done=progress.total or progress.done, result=result)
        finally:
            progress.close()
            _drop_upload(job)


def _written_note(job: Job) -> str:
    if job.is_batched:
        return "The batches done before it were written."
    if job.kind == JobKind.DOCUMENTS_BUNDLE:
        return "No ZIP was kept."
    return "Nothing was written."


def _cancelled(job: Job, progress: JobProgress) -> dict:
    if job.is_batched:
        total = f" of {progress.total:,}" if progress.total is not None else ""
        summary = (
            f"Cancelled after {progress.done:,}{total} {unit_of(job)}: what was done before "
            "stays done, nothing after it was touched."
        )
    elif job.kind == JobKind.DOCUMENTS_BUNDLE:
        summary = (
            f"Cancelled after {progress.done:,} of {progress.total or 0:,} statements; no ZIP "
            "was kept."
        )
    else:
        summary = "Cancelled: the invoice run was rolled back; nothing was written."
    return {"summary": summary}


def _drop_upload(job: Job) -> None:
    if job.upload:
        default_storage.delete(job.upload)
