"""Jobs through a real `db_worker` process, on SQLite (a file) and on PostgreSQL (when
DATABASE_URL points there): the task code does not depend on the immediate backend the rest of the
suite uses. Each test gets its own migrated database; the test reads it through `manage.py shell`
(and psycopg for PostgreSQL's locks), never through pytest-django's test database."""

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import dj_database_url
import pytest

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("DATABASE_URL", "")
ON_POSTGRES = PG_URL.startswith("postgres")

SEED = """
import json
from tests.factories import AssignmentFactory, UserFactory
from tests.services.test_invoicing import CUTOFF, close, rated_cdr
from evse_payout.models import JobKind
from evse_payout.services.jobs import start_job
kept = AssignmentFactory()
rated_cdr(kept); rated_cdr(kept)
gone = AssignmentFactory()
held = rated_cdr(gone)
close(gone)
job = start_job(kind=JobKind.INVOICE_RUN, actor=UserFactory(username="finance"),
                parameters={"cutoff": str(CUTOFF)})
print(json.dumps({"job": job.pk, "state": job.state, "held_cdr": held.pk}))
"""

STATE = """
import json
from evse_payout.models import CDR, Invoice, InvoiceRun, Job
job = Job.objects.get(pk=%d)
print(json.dumps({
    "state": job.state, "done": job.done, "total": job.total, "error": job.error,
    "summary": job.result.get("summary", ""), "runs": InvoiceRun.objects.count(),
    "statements": Invoice.objects.count(),
    "invoiced_cdrs": CDR.objects.filter(statement_line__isnull=False).count(),
}))
"""


def _pg_admin_url(name: str) -> str:
    return PG_URL.rsplit("/", 1)[0] + "/" + name


def _psycopg(url: str, autocommit=True):
    import psycopg

    config = dj_database_url.parse(url)
    return psycopg.connect(
        host=config["HOST"], port=config["PORT"] or 5432, user=config["USER"],
        password=config["PASSWORD"] or None, dbname=config["NAME"], autocommit=autocommit,
    )  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def worker_env(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'worker.sqlite3'}"
    else:
        if not ON_POSTGRES:
            pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://…")
        name = dj_database_url.parse(PG_URL)["NAME"] + "_worker"
        with _psycopg(_pg_admin_url("postgres")) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
        url = _pg_admin_url(name)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    manage(env, "migrate", "-v0")
    return env


def manage(env, *args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
        capture_output=True, text=True, timeout=120, **kwargs,
    )  # fmt: skip


def shell(env, code: str) -> dict:
    return json.loads(manage(env, "shell", "-c", code).stdout.strip().splitlines()[-1])


WORKER = ["db_worker", "--no-reload", "--no-startup-delay"]


def test_an_invoice_run_job_runs_in_a_real_db_worker(worker_env):
    seeded = shell(worker_env, SEED)
    assert seeded["state"] == "queued"  # the page that starts it does not wait for it

    manage(worker_env, *WORKER, "--batch")

    state = shell(worker_env, STATE % seeded["job"])
    assert (state["state"], state["done"], state["total"]) == ("done", 6, 6)  # six steps
    assert (state["runs"], state["statements"], state["invoiced_cdrs"]) == (1, 1, 2)
    assert state["summary"].startswith("Invoice run ")


def _wait_for(condition, *, timeout=30.0, what=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.postgres
def test_worker_killed_mid_run_writes_nothing_and_the_job_says_so(worker_env):
    url = worker_env["DATABASE_URL"]
    if not url.startswith("postgres"):
        # SQLite has no row lock to catch the worker mid-run with; tests/services/test_jobs.py
        # covers its dead-process check.
        pytest.skip("needs PostgreSQL row locks to stop the worker inside its transaction")
    seeded = shell(worker_env, SEED)
    watcher = _psycopg(url)
    # Hold a row the run must update, so the worker is caught inside its transaction.
    holder = _psycopg(url, autocommit=False)
    holder.execute("SELECT 1 FROM evse_payout_cdr WHERE id = %s FOR UPDATE", [seeded["held_cdr"]])
    worker = subprocess.Popen(
        [sys.executable, "manage.py", *WORKER, "--interval", "0.1"], cwd=ROOT, env=worker_env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:

        def run_is_waiting():
            row = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            ).fetchone()
            return row[0] > 0

        _wait_for(run_is_waiting, what="the run to wait for the held row")
        running = watcher.execute(
            "SELECT state, done, total FROM evse_payout_job WHERE id = %s", [seeded["job"]]
        )
        # Caught in step 2 (holding back), inside the run's transaction: the first step's progress
        # is visible already, written beside that transaction.
        assert running.fetchone() == ("running", 1, 6)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
        holder.rollback()
        holder.close()

    def backend_gone():
        row = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        ).fetchone()
        return row[0] == 0

    _wait_for(backend_gone, what="the killed worker's session to end")
    watcher.close()

    manage(worker_env, *WORKER, "--batch")  # the next worker start

    state = shell(worker_env, STATE % seeded["job"])
    assert state["state"] == "failed"
    assert state["error"] == "Failed — interrupted (its worker stopped), nothing was written."
    assert (state["runs"], state["statements"], state["invoiced_cdrs"]) == (0, 0, 0)


TWO_RUNS = """
import json
from tests.factories import AssignmentFactory
from tests.services.test_invoicing import CUTOFF, rated_cdr
from evse_payout.models import JobKind
from evse_payout.services.jobs import start_job
kept = AssignmentFactory()
rated_cdr(kept); rated_cdr(kept)
jobs = [start_job(kind=JobKind.INVOICE_RUN, actor=None, parameters={"cutoff": str(CUTOFF)}).pk
        for _ in range(2)]
print(json.dumps({"jobs": jobs}))
"""

OUTCOME = """
import json
from django.db.models import Count
from evse_payout.models import CDR, Invoice, InvoiceRun, Job
print(json.dumps({
    "states": sorted(Job.objects.values_list("state", flat=True)),
    "runs": InvoiceRun.objects.count(),
    "statements": list(Invoice.objects.values_list("cdr_count", flat=True)),
    "invoiced_cdrs": CDR.objects.filter(statement_line__isnull=False).count(),
}))
"""


def test_two_invoice_run_jobs_in_two_workers_never_both_draft(worker_env):
    shell(worker_env, TWO_RUNS)
    workers = [
        subprocess.Popen(
            [sys.executable, "manage.py", *WORKER, "--batch", "--max-tasks", "1"],
            cwd=ROOT,
            env=worker_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(2)
    ]
    for worker in workers:
        assert worker.wait(timeout=120) == 0

    outcome = shell(worker_env, OUTCOME)
    assert outcome["states"] == ["done", "done"]
    assert outcome["runs"] == 2  # the second run waited for the lock, then found nothing left
    assert (outcome["statements"], outcome["invoiced_cdrs"]) == ([2], 2)


BUNDLE_SEED = """
import json
from decimal import Decimal
from tests.documents.helpers import ISSUED_ON, add_lines, payee, statement
from tests.factories import UserFactory
from evse_payout.services.documents import issue_statement_documents
from evse_payout.services.jobs import start_documents_bundle
invoice = statement(payee("de_registered"), excl="20.00", fees="2.00")
add_lines(invoice, 2, excl=lambda i: Decimal("10.0000"), fee=lambda i: Decimal("1.0000"))
issue_statement_documents(invoice=invoice, actor=None, issued_on=ISSUED_ON)
job, _ = start_documents_bundle(run_id=invoice.run_id, actor=UserFactory(username="viewer"),
                                include_sepa=False)
print(json.dumps({"job": job.pk, "state": job.state}))
"""

BUNDLE_STATE = """
import json
from evse_payout.models import Job
job = Job.objects.get(pk=%d)
print(json.dumps({"state": job.state, "done": job.done, "total": job.total, "error": job.error,
                  "file": job.result.get("file", "")}))
"""


def test_a_documents_bundle_job_runs_in_a_real_db_worker(worker_env):
    seeded = shell(worker_env, BUNDLE_SEED)
    assert seeded["state"] == "queued"

    manage(worker_env, *WORKER, "--batch")

    state = shell(worker_env, BUNDLE_STATE % seeded["job"])
    assert (state["state"], state["done"], state["total"], state["error"]) == ("done", 1, 1, "")
    names = zipfile.ZipFile(Path(worker_env["MEDIA_ROOT"]) / state["file"]).namelist()
    assert sorted(names) == [
        "FE-2026-000001.pdf", "FE-2026-000001.xml", "README.txt",
        "SB-2026-000001.pdf", "SB-2026-000001.xml",
    ]  # fmt: skip
