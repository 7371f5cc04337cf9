from django.core.management.base import CommandError

from audit.services import Actor
from corrosion.commands import Command as BaseCommand
from hosts.selectors import host_by_email
from hosts.services import host_update


class Command(BaseCommand):
    help = "Change a host's wholesale rate (kept in its rate history), its API access, or its invoice details."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--rate", default=None, help="wholesale USD per server per month, e.g. 6.00")
        parser.add_argument("--billing-address", default=None, help='invoice address; lines separated by "|"')
        parser.add_argument("--tax-id", default=None, help="tax id printed on invoices (an empty string clears it)")
        access = parser.add_mutually_exclusive_group()
        access.add_argument("--activate", action="store_const", const=True, dest="active")
        access.add_argument("--deactivate", action="store_const", const=False, dest="active")

    def handle(self, *args, email, rate, active, billing_address, tax_id, **options):
        if rate is None and active is None and billing_address is None and tax_id is None:
            raise CommandError(
                "Nothing to change: give --rate, --activate, --deactivate, --billing-address or --tax-id."
            )
        host = host_by_email(email)
        if host is None:
            raise CommandError(f"No host with the e-mail {email!r}.")
        if billing_address is not None:
            billing_address = billing_address.replace("|", "\n")
        host = host_update(
            host=host,
            actor=Actor.command("update_host"),
            wholesale_rate_usd=rate,
            active=active,
            billing_address=billing_address,
            tax_id=tax_id,
        )
        state = "active" if host.active else "inactive"
        self.stdout.write(self.style.SUCCESS(f"{host.company_name}: rate {host.wholesale_rate_usd} USD, {state}"))
