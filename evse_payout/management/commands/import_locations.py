from django.core.management.base import BaseCommand

from evse_payout.services.imports import ImportKind

from ._importing import fail_if_rejected, run_import


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
        report = run_import(
            self, kind=ImportKind.LOCATIONS, path=file, dry_run=dry_run, batch_size=batch_size,
            verbosity=verbosity, unit=" locations",
        )  # fmt: skip
        counts = report.counts
        summary = (
            f"{counts['new'] + counts['updated']:,} locations ({counts['new']:,} new, "
            f"{counts['updated']:,} updated, {report.rejected:,} rejected); EVSEs: "
            f"{counts['evses_created']:,} new, {counts['evses_updated']:,} updated, "
            f"{counts['evses_removed']:,} removed"
        )
        self.stdout.write(
            f"Dry run: would import {summary}; nothing was written."
            if dry_run
            else f"Imported {summary}"
        )
        fail_if_rejected(report)
