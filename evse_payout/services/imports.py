"""The one import loop for OCPI files (CDRs and locations): read records, batch them, write each
batch through the intake services, and report every rejected record by its place in the file.

`import_cdrs`, `import_locations` and the "Import" page's jobs all run `import_records`; they only
differ in what they do with a rejected record (print it, keep it for the job page) and with a
finished batch (a progress bar, the job's progress and cancel check).
"""

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from django.db import transaction

from ..ocpi.files import Record
from ..ocpi.schemas import OCPIValidationError
from .ocpi_ingest import import_cdr_batch, import_location


class ImportKind(StrEnum):
    CDRS = "cdrs"
    LOCATIONS = "locations"


DEFAULT_BATCH_SIZE = {ImportKind.CDRS: 1000, ImportKind.LOCATIONS: 200}
UNREADABLE_REST = "the rest of the file could not be read"


@dataclass
class BatchResult:
    """What one batch did: counts by name, and the rejected records as (where, reason)."""

    first: str
    last: str
    counts: Counter = field(default_factory=Counter)
    rejected: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ImportReport:
    counts: Counter = field(default_factory=Counter)
    rejected: int = 0
    records: int = 0


# `on_reject(where, reason)`: `where` is None when the reason is about the file, not one record.
RejectHandler = Callable[[str | None, str], None]
BatchHandler = Callable[[BatchResult], None]


def _write_cdrs(batch: list[Record], *, actor_name: str, dry_run: bool) -> BatchResult:
    result = import_cdr_batch(
        records=[(record.index, record.payload) for record in batch],
        actor_name=actor_name,
        dry_run=dry_run,
    )
    where = {record.index: record.where for record in batch}
    return BatchResult(
        first=batch[0].where,
        last=batch[-1].where,
        counts=Counter(imported=result.imported, already_present=result.already_present),
        rejected=[(where[index], reason) for index, reason in result.rejected],
    )


def _write_locations(batch: list[Record], *, actor_name: str, dry_run: bool) -> BatchResult:
    # One transaction per batch (fast on SQLite too); each location is its own savepoint, so a
    # rejected one leaves the others of its batch in place.
    result = BatchResult(first=batch[0].where, last=batch[-1].where)
    with transaction.atomic():
        for record in batch:
            try:
                upsert = import_location(payload=record.payload, actor_name=actor_name)
            except OCPIValidationError as exc:
                result.rejected.append((record.where, str(exc)))
                continue
            result.counts["new" if upsert.created else "updated"] += 1
            result.counts["evses_created"] += upsert.evses_created
            result.counts["evses_updated"] += upsert.evses_updated
            result.counts["evses_removed"] += upsert.evses_removed
        if dry_run:
            transaction.set_rollback(True)
    return result


WRITERS = {ImportKind.CDRS: _write_cdrs, ImportKind.LOCATIONS: _write_locations}


def batches(
    records: Iterable[Record], *, size: int, on_reject: RejectHandler
) -> Iterable[list[Record]]:
    """The readable records in lists of `size`; unreadable ones go to `on_reject` at once."""
    batch: list[Record] = []
    for record in records:
        if record.error:
            on_reject(record.where, record.error)
            if record.fatal:
                on_reject(None, UNREADABLE_REST)
            continue
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def import_records(
    *,
    kind: ImportKind,
    records: Iterable[Record],
    actor_name: str,
    on_reject: RejectHandler,
    on_batch: BatchHandler | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
) -> ImportReport:
    """Import every record; each batch is written (and committed) before the next is read.

    A dry run checks every record and writes nothing. `on_batch` runs after each batch is
    written; raising there stops the import with the batches before it kept.
    """
    report = ImportReport()
    write = WRITERS[kind]

    def reject(where: str | None, reason: str) -> None:
        if where is not None:
            report.rejected += 1
        on_reject(where, reason)

    for batch in batches(records, size=batch_size or DEFAULT_BATCH_SIZE[kind], on_reject=reject):
        result = write(batch, actor_name=actor_name, dry_run=dry_run)
        report.records += len(batch)
        report.counts.update(result.counts)
        for where, reason in result.rejected:
            reject(where, reason)
        if on_batch is not None:
            on_batch(result)
    return report
