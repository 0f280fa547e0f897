import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from evse_payout.ocpi.files import open_text, read_records
from evse_payout.ocpi_format import OCPIValidationError
from evse_payout.services.ocpi_ingest import import_location


class Command(BaseCommand):
    help = (
        "Create or update OCPI 2.2.1 locations with their EVSEs and connectors from FILE: a JSON "
        "list, one JSON object, or one object per line (JSON Lines). New EVSEs are unassigned. "
        "Every rejected record is listed with its position; the exit code is 1 if any was."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path of the file, or - for standard input.")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Apply every record inside a transaction that is rolled back: check, write nothing.",
        )
        parser.add_argument("--batch-size", type=int, default=200)

    def handle(self, *args, file, dry_run, batch_size, verbosity, **options):
        self.counts = dict.fromkeys(
            ("new", "updated", "rejected", "evses_created", "evses_updated", "evses_removed"), 0
        )
        try:
            with (
                open_text(file) as fp,
                tqdm(
                    unit=" locations", file=sys.stderr, disable=verbosity == 0, dynamic_ncols=True
                ) as self.bar,
            ):
                batch = []
                for record in read_records(fp):
                    self.bar.update()
                    if record.error:
                        self._reject(record.where, record.error)
                        if record.fatal:
                            self._reject(None, "the rest of the file could not be read")
                        continue
                    batch.append(record)
                    if len(batch) >= batch_size:
                        self._import(batch, dry_run=dry_run)
                        batch = []
                self._import(batch, dry_run=dry_run)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise CommandError(f"{file} is not UTF-8 text: {exc.reason}") from exc

        counts = self.counts
        summary = (
            f"{counts['new'] + counts['updated']:,} locations ({counts['new']:,} new, "
            f"{counts['updated']:,} updated, {counts['rejected']:,} rejected); EVSEs: "
            f"{counts['evses_created']:,} new, {counts['evses_updated']:,} updated, "
            f"{counts['evses_removed']:,} removed"
        )
        if dry_run:
            self.stdout.write(f"Dry run: would import {summary}; nothing was written.")
        else:
            self.stdout.write(f"Imported {summary}")
        if counts["rejected"]:
            raise CommandError(f"{counts['rejected']:,} records were rejected (listed above).")

    def _import(self, batch, *, dry_run):
        # One transaction per batch (fast on SQLite too); each location is its own savepoint,
        # so a rejected one leaves the others of its batch in place.
        with transaction.atomic():
            for record in batch:
                try:
                    result = import_location(payload=record.payload, actor_name="import_locations")
                except OCPIValidationError as exc:
                    self._reject(record.where, str(exc))
                    continue
                self.counts["new" if result.created else "updated"] += 1
                self.counts["evses_created"] += result.evses_created
                self.counts["evses_updated"] += result.evses_updated
                self.counts["evses_removed"] += result.evses_removed
            if dry_run:
                transaction.set_rollback(True)

    def _reject(self, where, reason):
        if where is not None:
            self.counts["rejected"] += 1
        with tqdm.external_write_mode(file=sys.stderr):
            self.stderr.write(f"Rejected {where or 'the file'}: {reason}")
