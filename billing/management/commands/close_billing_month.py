from audit.services import Actor
from billing.management.arguments import month_argument, positive_int
from billing.models import CloseSummary
from billing.months import month_format
from billing.selectors import month_to_close_default
from billing.services import BATCH_SIZE, month_close
from corrosion.commands import Command as BaseCommand

NAME_WIDTH = 40


class ProgressBar:
    """A one-line bar redrawn in place; only on a terminal, so cron logs stay clean."""

    width = 30

    def __init__(self, out):
        self.out = out
        self.shown = None

    def update(self, done, total):
        percent = 100 if total == 0 else min(100, done * 100 // total)
        if percent == self.shown:
            return
        self.shown = percent
        filled = self.width * percent // 100
        bar = "#" * filled + "." * (self.width - filled)
        self.out.write(f"\r[{bar}] {percent:3d}%  {done}/{total} servers", ending="")
        self.out.flush()

    def finish(self):
        if self.shown is not None:
            self.out.write("")


class Command(BaseCommand):
    help = (
        "Close a billing month for every host: one record per host with its lines, written at once. "
        "Default: the latest month that can be closed (ended, plus BILLING_GRACE_HOURS) and is not. "
        "Safe to re-run: a closed month is left as it is."
    )

    def add_arguments(self, parser):
        parser.add_argument("--month", type=month_argument, help="YYYY-MM (UTC)")
        parser.add_argument("--dry-run", action="store_true", help="compute and print the bills, write nothing")
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=BATCH_SIZE,
            help="rows per INSERT on SQLite (PostgreSQL writes the month in one statement)",
        )

    def handle(self, *args, month, dry_run, batch_size, **options):
        if month is None:
            month = month_to_close_default()
            if month is None:
                self.stdout.write("Nothing to close: every month that can be closed is closed.")
                return
        bar = ProgressBar(self.stdout) if self.stdout.isatty() else None
        try:
            summary = month_close(
                month=month,
                actor=Actor.command("close_billing_month"),
                dry_run=dry_run,
                batch_size=batch_size,
                progress=bar.update if bar else None,
            )
        finally:
            if bar:
                bar.finish()
        self._print_summary(summary)

    def _print_summary(self, summary):
        month = month_format(summary.month)
        Outcome = CloseSummary.Outcome
        if summary.outcome == Outcome.CLOSED:
            self.stdout.write(self.style.SUCCESS(f"Closed {month} at {summary.closed_at:%Y-%m-%d %H:%M:%S} UTC."))
        elif summary.outcome == Outcome.ALREADY_CLOSED:
            self.stdout.write(
                self.style.WARNING(
                    f"{month} was already closed at {summary.closed_at:%Y-%m-%d %H:%M:%S} UTC; nothing changed."
                )
            )
        else:
            self.stdout.write(self.style.WARNING(f"Dry run for {month}: nothing was written."))

        width = max([len("Host"), *(min(len(row.company_name), NAME_WIDTH) for row in summary.rows)])
        self.stdout.write(f"{'Host':<{width}}  {'Servers':>8}  {'Rate USD':>10}  {'Total USD':>12}")
        for row in summary.rows:
            name = row.company_name if len(row.company_name) <= NAME_WIDTH else row.company_name[: NAME_WIDTH - 1] + "…"
            self.stdout.write(
                f"{name:<{width}}  {row.active_license_count:>8}  {row.wholesale_rate_usd:>10}  {row.total_amount_usd:>12}"
            )
        hosts = f"Total, {summary.host_count} host{'s' if summary.host_count != 1 else ''}"
        self.stdout.write(f"{hosts:<{width}}  {summary.server_count:>8}  {'':>10}  {summary.total_amount_usd:>12}")
        if summary.invoices:
            first, last = summary.invoices[0][0], summary.invoices[-1][0]
            count = len(summary.invoices)
            self.stdout.write(f"Issued {count} invoice{'s' if count != 1 else ''}: {first} to {last}.")
