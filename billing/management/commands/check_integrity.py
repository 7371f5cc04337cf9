from django.core.management.base import CommandError

from corrosion.commands import Command as BaseCommand
from corrosion.integrity import SHOWN_PER_CHECK, registered_checks


class Command(BaseCommand):
    help = (
        "Check every invariant the data must hold (totals = count x rate, lines match counts, status "
        "history consistent with status, every license with its host license, ...): print each "
        "violation, exit non-zero if there is any. Read-only; safe on a live database or a restored backup."
    )

    def add_arguments(self, parser):
        parser.add_argument("--check", action="append", default=[], help="run only these checks (by name)")

    def handle(self, *args, check, **options):
        checks = registered_checks()
        unknown = sorted(set(check) - {c.name for c in checks})
        if unknown:
            raise CommandError(f"No check named {', '.join(unknown)}; run without --check to see them all.")
        if check:
            checks = [c for c in checks if c.name in check]
        broken = 0
        for item in checks:
            found = 0
            for violation in item.violations():
                found += 1
                if found <= SHOWN_PER_CHECK:
                    self.stdout.write(f"{item.name}: {violation}")
            if found > SHOWN_PER_CHECK:
                self.stdout.write(f"{item.name}: ... and {found - SHOWN_PER_CHECK} more")
            status = self.style.SUCCESS("ok") if not found else self.style.ERROR(f"{found} violation(s)")
            self.stdout.write(f"{status}  {item.name}: {item.description}")
            broken += found
        if broken:
            raise CommandError(f"{broken} violation(s) found by {len(checks)} checks.")
        self.stdout.write(self.style.SUCCESS(f"All {len(checks)} checks hold."))
