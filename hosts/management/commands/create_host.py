from audit.services import Actor
from corrosion.commands import Command as BaseCommand
from hosts.services import host_create


class Command(BaseCommand):
    help = "Create a hosting partner and its first API key; the key is printed once."

    def add_arguments(self, parser):
        parser.add_argument("--company", required=True)
        parser.add_argument("--email", required=True)
        # Read as text and checked by the service: a rate is never rounded on its way in.
        parser.add_argument("--rate", default=None, help="wholesale USD per server per month, e.g. 6.00")

    def handle(self, *args, company, email, rate, **options):
        kwargs = {"wholesale_rate_usd": rate} if rate is not None else {}
        host, issued = host_create(
            company_name=company, contact_email=email, actor=Actor.command("create_host"), **kwargs
        )
        self.stdout.write(self.style.SUCCESS(f"Created host {host.company_name} <{host.contact_email}> ({host.id})"))
        self.stdout.write(f"Rate: {host.wholesale_rate_usd} USD per server per month")
        self.stdout.write(f"Key id: {issued.api_key.key_id}")
        self.stdout.write(f"API key (shown once, store it now): {issued.raw_key}")
