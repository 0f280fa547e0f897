"""A job in headless Chromium: start an invoice run from the page, watch its page follow the
progress (htmx polling) while a real django-tasks-db worker runs it, then open the run."""

import re
import threading

import pytest
from django.contrib.auth.models import Permission
from django.db import connection, connections
from django_tasks_db.management.commands.db_worker import Worker
from playwright.sync_api import expect

from evse_payout.models import InvoiceRun, Job
from tests.factories import AssignmentFactory, UserFactory
from tests.services.test_invoicing import rated_cdr

pytestmark = pytest.mark.django_db(transaction=True)

DB_BACKEND = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


class BatchWorkers:
    """db_workers in threads of this process (they share SQLite's in-memory test database the way
    the live server does), each in batch mode: it runs the queued jobs, then stops.

    No worker is left polling: on SQLite a polling worker holds an exclusive transaction for an
    instant every interval, and in the shared in-memory database a page request that lands in
    that instant fails with "database table is locked" (one run in three did).
    """

    def __init__(self):
        self.threads = []
        self.shared = connections["default"] if connection.vendor == "sqlite" else None

    def start(self) -> None:
        self.wait()
        worker = Worker(
            queue_names=["default"], interval=0.1, batch=True, backend_name="default",
            startup_delay=False, max_tasks=None, worker_id="browser-test", excluded_queue_names=[],
        )  # fmt: skip

        def run():
            if self.shared is not None:
                connections["default"] = self.shared
            worker.run()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.threads.append(thread)

    def wait(self) -> None:
        for thread in self.threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in self.threads), "a worker hung"


@pytest.fixture
def workers(settings):
    settings.TASKS = DB_BACKEND
    workers = BatchWorkers()
    if workers.shared is not None:
        workers.shared.inc_thread_sharing()
    yield workers
    workers.wait()
    if workers.shared is not None:
        workers.shared.dec_thread_sharing()


@pytest.fixture
def finance_user():
    user = UserFactory(username="fin")
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="evse_payout",
            codename__in=["view_invoicerun", "view_invoice", "add_invoicerun", "view_job"],
        )
    )
    return user


def test_start_an_invoice_run_watch_it_reach_100_percent_and_open_it(
    page, login, finance_user, workers
):
    rated_cdr(AssignmentFactory())
    login(finance_user)

    page.goto("/invoice-runs/new/")
    page.get_by_label("Cutoff").fill("2026-03-01")
    page.get_by_role("button", name="Preview").click()

    # The page answered before any worker ran the job: it is queued, and the page polls.
    expect(page.locator("#job-state")).to_have_text("Queued")
    assert Job.objects.get().state == "queued"
    workers.start()
    expect(page.locator("#job-state")).to_have_text("Done")
    workers.wait()
    page.get_by_role("button", name="Confirm").click()

    expect(page.locator("#job-state")).to_have_text("Queued")
    workers.start()
    expect(page.locator("#job-percent")).to_have_text("100 %")
    expect(page.locator("#job-summary")).to_contain_text("drafted 1 statements with 1 CDRs")
    page.get_by_role("link", name=re.compile("Open invoice run")).click()

    run = InvoiceRun.objects.get()
    expect(page).to_have_url(re.compile(rf"/invoice-runs/{run.pk}/$"))
    assert run.created_by == finance_user
