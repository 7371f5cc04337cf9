from django.conf import settings

from corrosion.commands import Command as BaseCommand
from events import worker


class Command(BaseCommand):
    help = (
        "Run the worker: webhook deliveries, retries, offline detection and e-mails. On PostgreSQL "
        "procrastinate's worker (run as many as you like); on SQLite an in-process loop for the demo."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--concurrency",
            type=int,
            default=settings.WORKER_CONCURRENCY,
            help="jobs run at once (default WORKER_CONCURRENCY, 8): a slow receiver holds one slot",
        )

    def handle(self, *args, concurrency, **options):
        worker.run(concurrency=concurrency)
