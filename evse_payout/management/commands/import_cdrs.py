from django.core.management.base import BaseCommand

from evse_payout.services.imports import ImportKind

from ._importing import fail_if_rejected, run_import


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
        report = run_import(
            self, kind=ImportKind.CDRS, path=file, dry_run=dry_run, batch_size=batch_size,
            verbosity=verbosity, unit=" CDRs",
        )  # fmt: skip
        counts = report.counts
        summary = (
            f"{counts['imported']:,} CDRs ({counts['already_present']:,} already present, "
            f"{report.rejected:,} rejected)"
        )
        self.stdout.write(
            f"Dry run: would import {summary}; nothing was written."
            if dry_run
            else f"Imported {summary}"
        )
        fail_if_rejected(report)
