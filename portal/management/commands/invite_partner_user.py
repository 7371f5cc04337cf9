from audit.services import Actor
from corrosion.commands import Command as BaseCommand
from corrosion.errors import DomainError, ErrorCode
from hosts.selectors import host_by_email
from portal.models import Role
from portal.services import invitation_create


class Command(BaseCommand):
    help = "Invite a person to a host's partner portal: e-mails the link and prints it on a line of its own."

    def add_arguments(self, parser):
        parser.add_argument("host_email", help="the host's contact e-mail")
        parser.add_argument("user_email", help="the person's e-mail")
        parser.add_argument("--role", choices=Role.values, default=Role.OWNER)

    def handle(self, *args, host_email, user_email, role, **options):
        host = host_by_email(host_email)
        if host is None:
            raise DomainError(ErrorCode.NOT_FOUND, f"No host with contact e-mail {host_email}.")
        sent = invitation_create(host=host, email=user_email, role=role, actor=Actor.command("invite_partner_user"))
        self.stdout.write(
            f"Invited {sent.invitation.email} to {host.company_name} as {role}; the link, valid 72 hours, once:"
        )
        self.stdout.write(sent.link)
