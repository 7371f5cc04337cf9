from django.core.management.base import CommandError

from corrosion.commands import Command as BaseCommand
from hosts.selectors import host_by_email


def _when(moment):
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


class Command(BaseCommand):
    help = "List a host's API keys and their mode, live or test (key ids only: the keys themselves are never stored)."

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *args, email, **options):
        host = host_by_email(email)
        if host is None:
            raise CommandError(f"No host with the e-mail {email!r}.")
        self.stdout.write(f"{'KEY ID':<10}{'MODE':<6}{'NAME':<20}{'CREATED':<18}{'LAST USED':<18}STATUS")
        for key in host.api_keys.order_by("created_at"):
            status = f"revoked {_when(key.revoked_at)}" if key.revoked_at else "active"
            self.stdout.write(
                f"{key.key_id:<10}{key.mode:<6}{key.name[:19]:<20}{_when(key.created_at):<18}{_when(key.last_used_at):<18}{status}"
            )
