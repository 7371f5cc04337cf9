import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from audit.services import Actor
from corrosion.commands import Command as BaseCommand
from hosts.models import Host
from hosts.services import api_key_issue, host_create

DEMO_EMAIL = "demo-host@example.com"


class Command(BaseCommand):
    help = "Local demo only (DEBUG on): a demo host with a fresh API key, and a staff login; both printed."

    def add_arguments(self, parser):
        parser.add_argument("--port", default="8000", help="the port the printed URLs use")

    def handle(self, *args, port, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo prints credentials and only runs with DEBUG on.")
        actor = Actor.command("seed_demo")
        host = Host.objects.filter(contact_email__iexact=DEMO_EMAIL).first()
        if host is None:
            host, issued = host_create(company_name="Demo Hosting", contact_email=DEMO_EMAIL, actor=actor)
        else:
            # Keys are stored only as digests, so a rerun can only print a new one.
            issued = api_key_issue(host=host, name="demo", actor=actor)

        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username="admin", defaults={"email": "admin@example.com"})
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()

        base = f"http://127.0.0.1:{port}"
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("Corrosion demo is ready."))
        self.stdout.write(f"  Demo host:    {host.company_name} <{host.contact_email}>")
        self.stdout.write(f"  API key:      {issued.raw_key}")
        self.stdout.write(f"  Try it:       curl -H 'Authorization: Bearer {issued.raw_key}' {base}/api/host/licenses")
        self.stdout.write(f"  Admin:        {base}/admin/  user admin  password {password}")
        self.stdout.write(f"  API docs:     {base}/api/docs/")
        self.stdout.write("")
