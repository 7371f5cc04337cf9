from audit.services import Actor
from corrosion.commands import Command as BaseCommand
from hosts.services import api_key_revoke


class Command(BaseCommand):
    help = "Revoke an API key by its key id; revocation cannot be undone."

    def add_arguments(self, parser):
        parser.add_argument("key_id")

    def handle(self, *args, key_id, **options):
        api_key = api_key_revoke(key_id=key_id, actor=Actor.command("revoke_api_key"))
        self.stdout.write(
            self.style.SUCCESS(
                f"Key {api_key.key_id} of {api_key.host} revoked at {api_key.revoked_at:%Y-%m-%d %H:%M:%S} UTC"
            )
        )
