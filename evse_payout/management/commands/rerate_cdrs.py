"""Re-rate CDRs (R5) after their cause was fixed, e.g. their EVSE was assigned."""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ...filters.cdrs import CDRFilterSet
from ...models import CDR, CDRReason, CDRStatus
from ...services.rating import DEFAULT_BATCH_SIZE, rerate_cdrs

# The overview's filter (query parameter) behind each option: one definition of "which CDRs".
FILTER_OPTIONS = {
    "evse_id": "evse",
    "status": "status",
    "reason": "reason",
    "account": "account",
    "ended_after": "since",
    "ended_before": "until",
}


class Command(BaseCommand):
    help = (
        "Re-rate CDRs (DESIGN R5). Without filters: every CDR that is not invoiced (invoiced CDRs "
        "are never touched). Filters combine; --since/--until select on the end of the session, "
        "half-open [since, until), dates in UTC. --dry-run reports what would change and writes "
        "nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--evse",
            metavar="EVSE_ID",
            help="Only CDRs of this EVSE ID (part of an ID: every EVSE ID containing it).",
        )
        parser.add_argument(
            "--status", choices=[s for s in CDRStatus.values if s != CDRStatus.INVOICED]
        )
        parser.add_argument("--reason", choices=[r for r in CDRReason.values if r])
        parser.add_argument("--account", type=int, metavar="ID", help="Payout account id.")
        parser.add_argument("--since", metavar="YYYY-MM-DD", help="Ended on or after this day.")
        parser.add_argument("--until", metavar="YYYY-MM-DD", help="Ended before this day.")
        parser.add_argument("--dry-run", action="store_true", help="Report only; write nothing.")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            metavar="N",
            help="CDRs per transaction (default %(default)s).",
        )

    def handle(self, *args, **options):
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        data = {
            name: options[option]
            for name, option in FILTER_OPTIONS.items()
            if options[option] not in (None, "")
        }
        filterset = CDRFilterSet(data, queryset=CDR.objects.all())
        if not filterset.is_valid():
            errors = "; ".join(
                f"--{FILTER_OPTIONS[name].replace('_', '-')} {data.get(name)}: {' '.join(messages)}"
                for name, messages in filterset.errors.items()
            )
            raise CommandError(f"Invalid filter: {errors}")
        with tqdm(
            desc="Re-rating CDRs",
            unit=" CDRs",
            disable=options["verbosity"] == 0,
            file=self.stderr._out,
        ) as bar:
            summary = rerate_cdrs(
                cdrs=filterset.qs,
                actor_name="rerate_cdrs",
                dry_run=options["dry_run"],
                batch_size=options["batch_size"],
                progress=bar.update,
            )
        if options["verbosity"] >= 2:
            for status, count in sorted(summary.by_status.items()):
                self.stdout.write(f"  {status}: {count:,}")
            for reason, count in sorted(summary.by_reason.items()):
                self.stdout.write(f"  not invoiceable, {reason}: {count:,}")
        self.stdout.write(summary.message())
