import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from evse_payout.ocpi.files import open_text, read_records
from evse_payout.services.ocpi_ingest import ImportBatchResult, import_cdr_batch


class Command(BaseCommand):
    help = (
        "Import OCPI 2.2.1 CDRs from FILE: a JSON list, one JSON object, or one object per line "
        "(JSON Lines). Each new CDR is stored and rated; CDRs already present are skipped. "
        "Every rejected record is listed with its position; the exit code is 1 if any was."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path of the file, or - for standard input.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check every record and write nothing."
        )
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, file, dry_run, batch_size, verbosity, **options):
        self.verbosity = verbosity
        self.totals = ImportBatchResult()
        self.rejected = 0
        try:
            with (
                open_text(file) as fp,
                tqdm(
                    unit=" CDRs", file=sys.stderr, disable=verbosity == 0, dynamic_ncols=True
                ) as self.bar,
            ):
                batch, where = [], {}
                for record in read_records(fp):
                    self.bar.update()
                    if record.error:
                        self._reject(record.where, record.error)
                        if record.fatal:
                            self._reject(None, "the rest of the file could not be read")
                        continue
                    batch.append((record.index, record.payload))
                    where[record.index] = record.where
                    if len(batch) >= batch_size:
                        self._import(batch, where, dry_run=dry_run)
                        batch, where = [], {}
                self._import(batch, where, dry_run=dry_run)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise CommandError(f"{file} is not UTF-8 text: {exc.reason}") from exc

        counts = (
            f"{self.totals.imported:,} CDRs ({self.totals.already_present:,} already present, "
            f"{self.rejected:,} rejected)"
        )
        if dry_run:
            self.stdout.write(f"Dry run: would import {counts}; nothing was written.")
        else:
            self.stdout.write(f"Imported {counts}")
        if self.rejected:
            raise CommandError(f"{self.rejected:,} records were rejected (listed above).")

    def _import(self, batch, where, *, dry_run):
        if not batch:
            return
        result = import_cdr_batch(records=batch, actor_name="import_cdrs", dry_run=dry_run)
        self.totals.imported += result.imported
        self.totals.already_present += result.already_present
        for index, reason in result.rejected:
            self._reject(where[index], reason)
        if self.verbosity >= 2:
            self._write(
                self.stdout,
                f"{where[batch[0][0]]} to {where[batch[-1][0]]}: {result.imported:,} imported, "
                f"{result.already_present:,} already present, {len(result.rejected):,} rejected",
            )

    def _reject(self, where, reason):
        if where is not None:
            self.rejected += 1
        self._write(self.stderr, f"Rejected {where or 'the file'}: {reason}")

    def _write(self, stream, text):
        with tqdm.external_write_mode(file=sys.stderr):
            stream.write(text)
