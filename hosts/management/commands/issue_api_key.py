from django.core.management.base import CommandError

from audit.services import Actor
from corrosion.commands import Command as BaseCommand
from hosts.selectors import host_by_email
from hosts.services import api_key_issue


class Command(BaseCommand):
    help = "Issue another API key to a host (for rotation); the key is printed once."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--name", default="", help="a label for the key")
        parser.add_argument(
            "--test", action="store_true", help="a test-mode key (crn_test_...): its licenses are never billed"
        )

    def handle(self, *args, email, name, test, **options):
        host = host_by_email(email)
        if host is None:
            raise CommandError(f"No host with the e-mail {email!r}.")
        issued = api_key_issue(host=host, name=name, livemode=not test, actor=Actor.command("issue_api_key"))
        mode = "test" if test else "live"
        self.stdout.write(self.style.SUCCESS(f"Issued {mode} key {issued.api_key.key_id} to {host.company_name}"))
        self.stdout.write(f"Key id: {issued.api_key.key_id}")
        self.stdout.write(f"API key (shown once, store it now): {issued.raw_key}")
