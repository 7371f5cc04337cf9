from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError

from audit.services import Actor
from hosts.services import HostError, host_create


def parse_rate(value):
    try:
        return Decimal(value)
    except InvalidOperation:
        raise CommandError(f"Not a rate: {value!r} (use e.g. 6.00).") from None


class Command(BaseCommand):
    help = "Create a hosting partner and its first API key; the key is printed once."

    def add_arguments(self, parser):
        parser.add_argument("--company", required=True)
        parser.add_argument("--email", required=True)
        parser.add_argument("--rate", type=parse_rate, default=None, help="wholesale USD per server per month")

    def handle(self, *args, company, email, rate, **options):
        kwargs = {"wholesale_rate_usd": rate} if rate is not None else {}
        try:
            host, issued = host_create(
                company_name=company, contact_email=email, actor=Actor.command("create_host"), **kwargs
            )
        except HostError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Created host {host.company_name} <{host.contact_email}> ({host.id})"))
        self.stdout.write(f"Rate: {host.wholesale_rate_usd} USD per server per month")
        self.stdout.write(f"Key id: {issued.api_key.key_id}")
        self.stdout.write(f"API key (shown once, store it now): {issued.raw_key}")
