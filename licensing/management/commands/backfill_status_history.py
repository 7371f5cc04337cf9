from corrosion.commands import Command as BaseCommand
from licensing.services import status_history_backfill


class Command(BaseCommand):
    help = (
        "Add the status history that licenses written by the previous release during a rollout lack. "
        "Run once the previous release has stopped serving; safe to re-run."
    )

    def handle(self, *args, **options):
        started, closed = status_history_backfill()
        self.stdout.write(f"{started} license(s) given a status history; {closed} history(ies) closed on their status.")
