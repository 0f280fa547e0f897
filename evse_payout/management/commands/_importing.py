"""What `import_cdrs` and `import_locations` share: open the file, run the one import loop
(services.imports) with a progress bar, print each rejected record, and fail if any was."""

import sys
from contextlib import ExitStack

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from evse_payout.payloads.files import open_text, read_records
from evse_payout.services.imports import (
    BatchResult,
    ImportKind,
    ImportReport,
    import_records,
    prepared_cdr_records,
    reads_ahead,
)


def run_import(
    command: BaseCommand,
    *,
    kind: ImportKind,
    path: str,
    dry_run: bool,
    batch_size: int,
    verbosity: int,
    unit: str,
) -> ImportReport:
    def write(stream, text: str) -> None:
        with tqdm.external_write_mode(file=sys.stderr):
            stream.write(text)

    def on_reject(where: str | None, reason: str) -> None:
        write(command.stderr, f"Rejected {where or 'the file'}: {reason}")

    def on_batch(result: BatchResult) -> None:
        if verbosity >= 2:
            counts = ", ".join(
                f"{value:,} {name.replace('_', ' ')}" for name, value in result.counts.items()
            )
            write(
                command.stdout,
                f"{result.first} to {result.last}: {counts}, {len(result.rejected):,} rejected",
            )

    try:
        with (
            ExitStack() as files,
            tqdm(unit=unit, file=sys.stderr, disable=verbosity == 0, dynamic_ncols=True) as bar,
        ):
            if reads_ahead(kind, path):
                # A second process reads and parses ahead while this one writes.
                records = prepared_cdr_records(path)
            else:
                records = read_records(files.enter_context(open_text(path)))

            def counted(records):
                for record in records:
                    bar.update()
                    yield record

            return import_records(
                kind=kind,
                records=counted(records),
                actor_name=command.__module__.rsplit(".", 1)[-1],
                on_reject=on_reject,
                on_batch=on_batch,
                dry_run=dry_run,
                batch_size=batch_size,
            )
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise CommandError(f"{path} is not UTF-8 text: {exc.reason}") from exc


def fail_if_rejected(report: ImportReport) -> None:
    if report.rejected:
        raise CommandError(f"{report.rejected:,} records were rejected (listed above).")
