"""What each kind of job does: it calls the same service a page or command calls, hands it the
job's progress callback, and returns the result shown on the job page (summary, links, figures).
"""

import io
import tempfile
from contextlib import ExitStack
from datetime import date

from django.core.files import File
from django.core.files.storage import default_storage
from django.http import QueryDict
from django.urls import reverse

from .filters.cdrs import filter_cdrs
from .models import CDR, AuditAction, InvoiceRun, Job, JobKind, JobState
from .payloads.files import read_records
from .renderers.bundle import NothingToBundle, bundle_statements, write_run_bundle
from .services.audit import record_audit_event
from .services.imports import (
    CountingReader,
    ImportKind,
    import_records,
    prepared_cdr_records,
    reads_ahead,
)
from .services.invoicing import InvoiceRunSummary, InvoicingError, run_invoicing
from .services.jobs import (
    RUNNERS,
    SEPA_INCLUDED,
    SEPA_PARAMETER,
    JobCancelled,
    JobFailed,
    JobProgress,
)
from .services.rating import rerate_cdrs

# Rejected records kept on the job page; the count says how many there were in all.
MAX_REPORTED_REJECTIONS = 1000
# CDRs per re-rate batch: each batch is a transaction, and a cancel stops after the current one.
RERATE_BATCH_SIZE = 2000


def _link(label: str, url: str) -> dict:
    return {"label": label, "url": url}


def _invoicing(job: Job, progress: JobProgress, *, dry_run: bool) -> InvoiceRunSummary:
    try:
        return run_invoicing(
            cutoff=date.fromisoformat(job.parameters["cutoff"]),
            actor=job.created_by,
            actor_name=job.created_by_label,
            dry_run=dry_run,
            progress=progress.reached,
        )
    except InvoicingError as exc:
        raise JobFailed(str(exc)) from exc


def run_invoice_job(job: Job, progress: JobProgress) -> dict:
    summary = _invoicing(job, progress, dry_run=False)
    return {
        "summary": (
            f"Invoice run {summary.run_id} drafted {len(summary.statements):,} statements with "
            f"{summary.cdr_count:,} CDRs; {summary.excluded_count:,} CDRs were left out. Review "
            "the drafts, then finalize them."
        ),
        "links": [
            _link(
                f"Open invoice run {summary.run_id}",
                reverse("evse_payout:invoice_run_detail", args=[summary.run_id]),
            )
        ],
        "run_id": summary.run_id,
    }


def _preview_figures(summary: InvoiceRunSummary) -> dict:
    """The preview's figures as exact decimal strings; the job page formats them."""
    return {
        "cutoff": summary.cutoff.isoformat(),
        "cdr_count": summary.cdr_count,
        "statements": [
            {
                "account": s.account_name
                + (" (internal revenue report)" if s.is_revenue_report else ""),
                "currency": s.currency,
                "cdr_count": s.cdr_count,
                "excl_vat": str(s.total_excl_vat),
                "fees": str(s.total_fees),
                "net_payout": str(s.net_payout),
            }
            for s in summary.statements
        ],
        "totals": {
            currency: {name: str(value) for name, value in sums.items()}
            for currency, sums in sorted(summary.totals_by_currency().items())
        },
        "exclusions": [
            {
                "label": e.label,
                "count": e.count,
                "amounts": {currency: str(amount) for currency, amount in e.amounts.items()},
            }
            for e in summary.exclusions
        ],
    }


def run_preview_job(job: Job, progress: JobProgress) -> dict:
    summary = _invoicing(job, progress, dry_run=True)
    return {
        "summary": (
            f"Preview for cutoff {summary.cutoff.isoformat()}: {len(summary.statements):,} "
            f"statements with {summary.cdr_count:,} CDRs; {summary.excluded_count:,} CDRs "
            "would be left out. Nothing has been written yet."
        ),
        "preview": _preview_figures(summary),
    }


def rerate_selection(parameters: dict):
    """The CDRs a re-rate job works on: the checked ones, or the overview's filters resolved now."""
    if parameters.get("pks"):
        return CDR.objects.filter(pk__in=parameters["pks"])
    filterset = filter_cdrs(QueryDict(parameters.get("filters", "")))
    if not filterset.is_valid():
        raise JobFailed("the filters of the selection are no longer valid; select again.")
    return filterset.qs.order_by()


def run_rerate_job(job: Job, progress: JobProgress) -> dict:
    cdrs = rerate_selection(job.parameters)
    progress.start(cdrs.not_on_statement().count())
    try:
        summary = rerate_cdrs(
            cdrs=cdrs,
            actor=job.created_by,
            actor_name=job.created_by_label,
            batch_size=RERATE_BATCH_SIZE,
            progress=progress.advance,
        )
    except JobCancelled:
        # The batches done are re-rated (each CDR has its rating history row); the audit trail
        # says who stopped the re-rate and how far it got.
        record_audit_event(
            action=AuditAction.RERATE,
            actor=job.created_by,
            actor_name=job.created_by_label,
            object_count=progress.done,
            summary=(
                f"Re-rate job {job.pk} cancelled after {progress.done:,} of {progress.total:,} "
                "CDRs; those were re-rated, the rest not."
            ),
            details={"job": job.pk, "done": progress.done, "total": progress.total},
        )
        raise
    overview = reverse("evse_payout:cdr_list")
    filters = job.parameters.get("filters", "")
    return {
        "summary": summary.message(),
        "links": [
            _link("Back to the CDR overview", f"{overview}?{filters}" if filters else overview)
        ],
    }


IMPORT_KINDS = {
    JobKind.IMPORT_CDRS: ImportKind.CDRS,
    JobKind.IMPORT_LOCATIONS: ImportKind.LOCATIONS,
}


def _job_records(job: Job, kind: ImportKind, files: ExitStack):
    """The upload's records, and how many bytes of it were read so far."""
    local_path = _local_path(job.upload)
    if local_path and reads_ahead(kind, local_path):
        read = {"bytes": 0}
        records = prepared_cdr_records(local_path, on_bytes=lambda n: read.update(bytes=n))
        return records, lambda: read["bytes"]
    counting = CountingReader(files.enter_context(default_storage.open(job.upload, "rb")))
    text = io.TextIOWrapper(io.BufferedReader(counting), encoding="utf-8-sig")
    return read_records(text), lambda: counting.count


def run_import_job(job: Job, progress: JobProgress) -> dict:
    rejected: list[dict] = []
    kind = IMPORT_KINDS[job.kind]

    def on_reject(where: str | None, reason: str) -> None:
        if len(rejected) < MAX_REPORTED_REJECTIONS:
            rejected.append({"where": where or "the file", "reason": reason})

    progress.start(default_storage.size(job.upload))
    with ExitStack() as files:
        records, bytes_read = _job_records(job, kind, files)
        try:
            report = import_records(
                kind=kind,
                records=records,
                actor_name=f"import page ({job.created_by_label})",
                on_reject=on_reject,
                on_batch=lambda _batch: progress.advance(bytes_read() - progress.done),
                dry_run=bool(job.parameters.get("dry_run")),
            )
        except UnicodeDecodeError as exc:
            raise JobFailed(
                f"the file is not UTF-8 text ({exc.reason}); nothing after the last finished "
                "batch was imported."
            ) from exc
    return _import_result(job, report, rejected)


def _local_path(name: str) -> str | None:
    try:
        return default_storage.path(name)
    except NotImplementedError:  # a remote storage: read it through the storage API
        return None


def _import_result(job: Job, report, rejected: list[dict]) -> dict:
    counts = report.counts
    if job.kind == JobKind.IMPORT_CDRS:
        text = (
            f"{counts['imported']:,} CDRs ({counts['already_present']:,} already present, "
            f"{report.rejected:,} rejected)"
        )
        link = _link("Open the CDR overview", reverse("evse_payout:cdr_list"))
    else:
        text = (
            f"{counts['new'] + counts['updated']:,} locations ({counts['new']:,} new, "
            f"{counts['updated']:,} updated, {report.rejected:,} rejected); EVSEs: "
            f"{counts['evses_created']:,} new, {counts['evses_updated']:,} updated, "
            f"{counts['evses_removed']:,} removed"
        )
        link = _link("Open the unassigned EVSEs", reverse("evse_payout:evses_unassigned"))
    dry_run = job.parameters.get("dry_run")
    summary = (
        f"Dry run: would import {text}; nothing was written." if dry_run else f"Imported {text}."
    )
    return {
        "summary": summary,
        "links": [link],
        "rejected": rejected,
        "rejected_count": report.rejected,
    }


def bundle_storage_name(*, run_id: int, job_id: int) -> str:
    return f"bundles/run-{run_id}-job-{job_id}.zip"


def run_bundle_job(job: Job, progress: JobProgress) -> dict:
    """The ZIP of a run's documents, written to a temporary file, then kept in the default
    storage; an earlier bundle of the same run is dropped once this one is stored."""
    run = InvoiceRun.objects.filter(pk=job.parameters["run"]).first()
    if run is None:
        raise JobFailed(f"invoice run {job.parameters['run']} no longer exists.")
    statements = bundle_statements(run)
    progress.start(len(statements))
    with tempfile.TemporaryFile() as archive:
        try:
            bundle = write_run_bundle(
                run=run,
                archive=archive,
                statements=statements,
                include_sepa=job.parameters.get(SEPA_PARAMETER) == SEPA_INCLUDED,
                progress=progress.advance,
            )
        except NothingToBundle as exc:
            raise JobFailed(str(exc)) from exc
        archive.seek(0)
        name = default_storage.save(
            bundle_storage_name(run_id=run.pk, job_id=job.pk), File(archive)
        )
    _drop_earlier_bundles(job)
    sepa = f" and the SEPA file {bundle.sepa_file}" if bundle.sepa_file else ""
    return {
        "summary": (
            f"ZIP of invoice run {run.pk}: {bundle.document_file_count:,} PDF "
            f"and UBL files of {bundle.statement_count:,} final "
            f"statement{'s' if bundle.statement_count != 1 else ''}{sepa}, with a "
            "README listing each file." + (f" {bundle.sepa_note}" if bundle.sepa_note else "")
        ),
        "links": [
            _link("Download the ZIP", reverse("evse_payout:job_bundle", args=[job.pk])),
            _link(
                f"Back to invoice run {run.pk}",
                reverse("evse_payout:invoice_run_detail", args=[run.pk]),
            ),
        ],
        "file": name,
        "sepa_file": bundle.sepa_file,
    }


def _drop_earlier_bundles(job: Job) -> None:
    """Bundles are rebuilt, not kept forever: the run's earlier ZIPs go once a newer one is in."""
    earlier = Job.objects.filter(
        kind=JobKind.DOCUMENTS_BUNDLE,
        state=JobState.DONE,
        parameters__run=job.parameters["run"],
        pk__lt=job.pk,
    )
    for result in earlier.values_list("result", flat=True):
        if result.get("file"):
            default_storage.delete(result["file"])


RUNNERS.update(
    {
        JobKind.INVOICE_RUN: run_invoice_job,
        JobKind.INVOICE_PREVIEW: run_preview_job,
        JobKind.RERATE: run_rerate_job,
        JobKind.IMPORT_CDRS: run_import_job,
        JobKind.IMPORT_LOCATIONS: run_import_job,
        JobKind.DOCUMENTS_BUNDLE: run_bundle_job,
    }
)
