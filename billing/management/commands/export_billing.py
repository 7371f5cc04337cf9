import csv
import os
import tempfile
from pathlib import Path

from django.core.management.base import CommandError

from billing.management.arguments import month_argument
from billing.months import month_format
from billing.selectors import EXPORT_COLUMNS, export_rows, month_is_closed
from corrosion.api.renderers import csv_cell
from corrosion.commands import Command as BaseCommand


class Command(BaseCommand):
    help = (
        "Write every host's bill of a closed month as one CSV for invoicing "
        "(month, company, contact e-mail, count, rate, total), to a file or to stdout."
    )

    def add_arguments(self, parser):
        parser.add_argument("--month", type=month_argument, required=True, help="YYYY-MM, a closed month")
        parser.add_argument("--output", help="file to write; default stdout")

    def handle(self, *args, month, output, **options):
        if not month_is_closed(month=month):
            raise CommandError(f"{month_format(month)} is not closed: run close_billing_month first.")
        if output is None:
            count = self._write(self.stdout, month)
            self.stderr.write(f"{count} records for {month_format(month)}.")
            return
        target = Path(output)
        if not target.name or target.is_dir():
            raise CommandError(f"Cannot write {output!r}: give a file name, not a folder.")
        # Written beside the target and renamed into place, so a half-written file never stands
        # where an invoicing job will read it. mkstemp makes it private (0600), as billing data should be.
        try:
            fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
            raise CommandError(f"Cannot write {output!r}: {getattr(exc, 'strerror', None) or exc}.") from exc
        try:
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
                count = self._write(handle, month)
            os.replace(temporary, target)
        except OSError as exc:
            Path(temporary).unlink(missing_ok=True)
            raise CommandError(f"Cannot write {output!r}: {exc.strerror or exc}.") from exc
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self.stdout.write(self.style.SUCCESS(f"Wrote {count} records for {month_format(month)} to {target}."))

    @staticmethod
    def _write(handle, month):
        writer = csv.writer(handle)
        writer.writerow(EXPORT_COLUMNS)
        count = 0
        for row in export_rows(month=month):
            writer.writerow([csv_cell(value) for value in row])
            count += 1
        return count
