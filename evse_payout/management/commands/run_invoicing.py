"""Run invoicing (R6): draft one payout statement per account from the CDRs before a cutoff."""

from datetime import date, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.formats import number_format
from tqdm import tqdm

from ...models import PayoutAccount
from ...money import format_money as amount
from ...services.invoicing import (
    InvoiceRunSummary,
    InvoicingError,
    business_time_zone,
    run_invoicing,
)


def _cutoff(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--cutoff must be a date as YYYY-MM-DD, not “{value}”.") from exc


class Command(BaseCommand):
    help = (
        "Draft payout statements (DESIGN R6) from every rated CDR that ended before the cutoff "
        "(00:00 of that day in settings.BUSINESS_TIME_ZONE) and whose EVSE is still assigned to "
        "the account it was rated for. Prints the statements and the CDRs left out per reason. "
        "--account settles one account alone (default cutoff: up to today, e.g. before "
        "deactivating it). --dry-run computes the same figures and writes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--cutoff", metavar="YYYY-MM-DD", type=_cutoff)
        parser.add_argument(
            "--account", type=int, metavar="ID", help="Invoice this payout account alone."
        )
        parser.add_argument("--dry-run", action="store_true", help="Show the figures only.")

    def _account(self, pk: int | None) -> PayoutAccount | None:
        if pk is None:
            return None
        account = PayoutAccount.objects.filter(pk=pk).first()
        if account is None:
            raise CommandError(f"--account {pk}: no payout account has this id.")
        return account

    def handle(self, *args, cutoff, account, dry_run: bool, verbosity: int, **options):
        account = self._account(account)
        if cutoff is None:
            if account is None:
                raise CommandError("--cutoff is required (it may be left out with --account).")
            cutoff = timezone.localdate(timezone=business_time_zone()) + timedelta(days=1)
        bar = tqdm(unit=" CDRs", disable=verbosity == 0, file=self.stderr._out)

        def progress(advanced: int, total: int) -> None:
            bar.total = total
            bar.update(advanced)

        try:
            summary = run_invoicing(
                cutoff=cutoff,
                actor_name="run_invoicing",
                dry_run=dry_run,
                progress=progress,
                account=account,
            )
        except InvoicingError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        self._report(summary)

    def _table(self, header: list[str], rows: list[list[str]]) -> None:
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        for index, row in enumerate([header, *rows]):
            cells = [row[0].ljust(widths[0])] + [
                cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
            ]
            self.stdout.write("  ".join(cells).rstrip())
            if index == 0:
                self.stdout.write("  ".join("-" * width for width in widths))

    def _report(self, summary: InvoiceRunSummary) -> None:
        title = "Dry run — nothing was written" if summary.dry_run else f"Run {summary.run_id}"
        zone = settings.BUSINESS_TIME_ZONE
        self.stdout.write(f"{title}, cutoff {summary.cutoff.isoformat()} (00:00 {zone})\n")
        if summary.statements:
            self._table(
                ["Account", "CDRs", "Collected excl. VAT", "Fees", "Net payout"],
                [
                    [
                        s.account_name,
                        number_format(s.cdr_count, force_grouping=True),
                        amount(s.total_excl_vat, s.currency),
                        amount(s.total_fees, s.currency),
                        amount(s.net_payout, s.currency),
                    ]
                    for s in summary.statements
                ]
                + [
                    [
                        "Total",
                        "",
                        amount(totals["total_excl_vat"], currency),
                        amount(totals["total_fees"], currency),
                        amount(totals["net_payout"], currency),
                    ]
                    for currency, totals in sorted(summary.totals_by_currency().items())
                ],
            )
        else:
            self.stdout.write("No CDR to invoice before this cutoff.")
        if summary.exclusions:
            self.stdout.write("\nLeft out:")
            self._table(
                ["Reason", "CDRs", "Collected excl. VAT"],
                [
                    [
                        exclusion.label,
                        number_format(exclusion.count, force_grouping=True),
                        "; ".join(
                            amount(value, currency)
                            for currency, value in sorted(exclusion.amounts.items())
                        ),
                    ]
                    for exclusion in summary.exclusions
                ],
            )
        verb = "would draft" if summary.dry_run else "drafted"
        self.stdout.write(
            self.style.SUCCESS(
                f"\n{len(summary.statements):,} statements {verb} with "
                f"{summary.cdr_count:,} CDRs; {summary.excluded_count:,} CDRs left out."
            )
        )
