"""Reads for the jobs pages: recent jobs, and a job's progress in the words the page shows."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import QuerySet

from ..models import Job, JobState

RECENT_JOBS = 100


def recent_jobs() -> QuerySet:
    return Job.objects.select_related("created_by").order_by("-created_at", "-pk")[:RECENT_JOBS]


@dataclass(frozen=True)
class JobProgressView:
    done: int
    total: int | None
    percent: int | None
    elapsed: timedelta | None
    remaining: timedelta | None


def job_progress(job: Job, now: datetime) -> JobProgressView:
    """Done of total, percent, time since start and an estimate of the time left (running)."""
    total = job.total
    done = job.done
    if job.state == JobState.DONE:
        done = total if total is not None else done
        percent = 100
    elif total:
        percent = min(100, done * 100 // total)
    else:
        percent = None
    end = job.finished_at or now
    elapsed = end - job.started_at if job.started_at else None
    remaining = None
    if job.state == JobState.RUNNING and elapsed and total and 0 < done < total:
        remaining = timedelta(seconds=round(elapsed.total_seconds() * (total - done) / done))
    return JobProgressView(done, total, percent, elapsed, remaining)


def format_duration(value: timedelta | None) -> str:
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"
