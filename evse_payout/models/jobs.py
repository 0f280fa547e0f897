"""Background jobs the user sees: one row per invoice run, big re-rate, file import or documents
bundle started from a page, with its state, progress and result. The task queue (django-tasks)
only carries the id."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class JobKind(models.TextChoices):
    INVOICE_RUN = "invoice_run", "Invoice run"
    INVOICE_PREVIEW = "invoice_preview", "Invoice run preview"
    RERATE = "rerate", "Re-rate CDRs"
    IMPORT_CDRS = "import_cdrs", "Import CDRs"
    IMPORT_LOCATIONS = "import_locations", "Import locations"
    DOCUMENTS_BUNDLE = "documents_bundle", "Documents bundle"


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATES = (JobState.DONE, JobState.FAILED, JobState.CANCELLED)
ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING)
# Jobs that stop at the next batch when cancelled; an invoice run rolls back as a whole.
BATCHED_KINDS = (JobKind.RERATE, JobKind.IMPORT_CDRS, JobKind.IMPORT_LOCATIONS)


class Job(models.Model):
    kind = models.CharField(max_length=20, choices=JobKind.choices)
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.QUEUED)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_label = models.CharField(max_length=150, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    # An uploaded file waiting for the worker (imports), in the default storage.
    upload = models.CharField(max_length=255, blank=True)
    done = models.PositiveBigIntegerField(default=0)
    total = models.PositiveBigIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    progress_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Summary text, links and figures for the page (e.g. the preview's statements).
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    # Which worker process runs it: how an interrupted job is told from a running one.
    worker_host = models.CharField(max_length=255, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=JobState.values), name="job_state_valid"),
            models.CheckConstraint(condition=Q(kind__in=JobKind.values), name="job_kind_valid"),
            models.CheckConstraint(
                condition=Q(started_at__isnull=False) | Q(state__in=["queued", "cancelled"]),
                name="job_started_when_past_queue",
            ),
            models.CheckConstraint(
                condition=Q(finished_at__isnull=False) | Q(state__in=["queued", "running"]),
                name="job_finished_when_finished",
            ),
            # A double click on "Build documents ZIP" starts one bundle per run, not two.
            models.UniqueConstraint(
                F("parameters__run"),
                condition=Q(kind="documents_bundle", state__in=["queued", "running"]),
                name="job_one_active_bundle_per_run",
            ),
        ]
        indexes = [models.Index(fields=["state"], name="job_state_idx")]

    def __str__(self):
        return f"{self.get_kind_display()} job {self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def is_batched(self) -> bool:
        return self.kind in BATCHED_KINDS
