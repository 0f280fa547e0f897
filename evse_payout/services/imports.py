"""The one import loop for OCPI files (CDRs and locations): read records, batch them, write each
batch through the intake services, and report every rejected record by its place in the file.

`import_cdrs`, `import_locations` and the "Import" page's jobs all run `import_records`; they only
differ in what they do with a rejected record (print it, keep it for the job page) and with a
finished batch (a progress bar, the job's progress and cancel check).
"""

import io
import multiprocessing
import os
import signal
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from queue import Empty
from typing import NamedTuple

from django.db import transaction

from ..payloads.files import Record, read_records
from ..payloads.ocpi import OCPIValidationError
from .ocpi_ingest import PreparedCDR, import_cdr_batch, import_location, prepare_cdr


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


# -- Reading and parsing in a second process ---------------------------------------------------
#
# Parsing a CDR (JSON, pydantic checks, canonical JSON and its hash) costs about as much as rating
# and storing it, so a CDR file import reads and parses in a child process while this one writes:
# both cores work. The child sends each record as a plain tuple (`_to_wire`) of strings, numbers,
# Decimals and datetimes: a pickled dataclass or NamedTuple costs several times more to pickle
# and unpickle than the plain values, and this process has the database work to do as well.
#
# The child is forked, so it starts at once with this process's modules and settings (a spawned
# one set Django up first: ~1 s, during which this process had nothing to write). It never
# touches the database: the connection it inherits stays this process's alone, and it ends with
# os._exit (multiprocessing's way), which closes nothing.

READ_AHEAD_CHUNK = 500
READ_AHEAD_CHUNKS = 8
# Below about 1,000 CDRs the file is read before a second process would gain anything.
READ_AHEAD_MIN_BYTES = 1 << 20


def reads_ahead(kind: ImportKind, path: str) -> bool:
    """Whether a file import parses in a reader process: CDR files big enough to gain from it,
    where processes can be forked."""
    if kind != ImportKind.CDRS or path == "-" or os.name != "posix":
        return False
    try:
        return os.path.getsize(path) >= READ_AHEAD_MIN_BYTES
    except OSError:
        return False  # reading it here reports the error the usual way


class _FlatLocation(NamedTuple):
    id: str
    evse_uid: str
    evse_id: str


class _FlatCost(NamedTuple):
    excl_vat: Decimal
    incl_vat: Decimal | None


class _FlatCDR(NamedTuple):
    """The fields of a parsed CDR that intake reads (`new_cdr`), by the payload's names."""

    country_code: str
    party_id: str
    id: str
    start_date_time: datetime
    end_date_time: datetime
    cdr_location: _FlatLocation
    currency: str
    total_energy: Decimal
    total_time: Decimal
    total_cost: _FlatCost
    credit: bool
    credit_reference_id: str | None
    last_updated: datetime


def _to_wire(record: Record) -> tuple:
    """A record as the reader sends it: (index, where, None, error, fatal) if it failed, else
    (index, where, the CDR's fields as one flat tuple, raw JSON, content hash)."""
    if not record.error:
        try:
            prepared = prepare_cdr(record.payload)
        except OCPIValidationError as exc:
            return (record.index, record.where, None, str(exc), False)
        cdr = prepared.parsed
        where, cost = cdr.cdr_location, cdr.total_cost
        fields = (
            cdr.country_code, cdr.party_id, cdr.id, cdr.start_date_time, cdr.end_date_time,
            where.id, where.evse_uid, where.evse_id, cdr.currency, cdr.total_energy,
            cdr.total_time, cost.excl_vat, cost.incl_vat, cdr.credit, cdr.credit_reference_id,
            cdr.last_updated,
        )  # fmt: skip
        return (record.index, record.where, fields, prepared.raw_json, prepared.content_hash)
    return (record.index, record.where, None, record.error, record.fatal)


def _from_wire(item: tuple) -> Record:
    """The record `_to_wire` sent, its payload a PreparedCDR."""
    index, where, fields, text, extra = item
    if fields is None:
        return Record(index, where, error=text, fatal=extra)
    (
        country_code, party_id, cdr_id, start, end, location_id, evse_uid, evse_id, currency,
        energy, hours, excl_vat, incl_vat, credit, credit_reference_id, last_updated,
    ) = fields  # fmt: skip
    parsed = _FlatCDR(
        country_code, party_id, cdr_id, start, end,
        _FlatLocation(location_id, evse_uid, evse_id), currency, energy, hours,
        _FlatCost(excl_vat, incl_vat), credit, credit_reference_id, last_updated,
    )  # fmt: skip
    return Record(
        index, where, payload=PreparedCDR(parsed=parsed, raw_json=text, content_hash=extra)
    )


class CountingReader(io.RawIOBase):
    """A binary file that counts the bytes read from it (how far into the file the reader is)."""

    def __init__(self, raw):
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


def read_ahead(path: str, queue) -> None:
    """The reader process: parse the file's CDRs and send them in chunks, then None."""
    # As a fresh interpreter would: a worker's SIGTERM handler (finish the current job) must not
    # keep `terminate()` from stopping the reader.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with open(path, "rb") as raw:
            counting = CountingReader(raw)
            text = io.TextIOWrapper(io.BufferedReader(counting), encoding="utf-8-sig")
            chunk = []
            for record in read_records(text):
                chunk.append(_to_wire(record))
                if len(chunk) >= READ_AHEAD_CHUNK:
                    queue.put((chunk, counting.count))
                    chunk = []
            queue.put((chunk, counting.count))
    except (OSError, UnicodeDecodeError) as exc:
        queue.put(exc)
    queue.put(None)


def _next_chunk(queue, reader):
    while True:
        try:
            return queue.get(timeout=1)
        except Empty:
            if not reader.is_alive():
                raise RuntimeError("The import's reader process stopped unexpectedly.") from None


def prepared_cdr_records(path: str, *, on_bytes: Callable[[int], None] | None = None):
    """The CDR records of the file at `path`, parsed by a child process that reads ahead.

    `on_bytes(n)` learns how many bytes of the file the child has read so far. A file error in
    the child (unreadable, not UTF-8) is raised here, as reading the file here would.
    """
    context = multiprocessing.get_context("fork")
    queue = context.Queue(maxsize=READ_AHEAD_CHUNKS)
    reader = context.Process(target=read_ahead, args=(path, queue), daemon=True)
    reader.start()
    try:
        while (item := _next_chunk(queue, reader)) is not None:
            if isinstance(item, BaseException):
                raise item
            chunk, read = item
            if on_bytes is not None:
                on_bytes(read)
            yield from map(_from_wire, chunk)
    finally:
        if reader.is_alive():
            reader.terminate()
        reader.join()
