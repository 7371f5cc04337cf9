"""The base of every management command of ours: a refusal is one line and a non-zero exit."""

from django.core.management.base import BaseCommand, CommandError

from corrosion.errors import DomainError


class Command(BaseCommand):
    """Turns a service's DomainError into a CommandError, which Django prints as one line (exit 1)."""

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
