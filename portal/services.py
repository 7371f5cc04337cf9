import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audit.services import Actor, audit_record
from corrosion.errors import DomainError, ErrorCode
from licensing.models import License
from portal.models import Invitation, Membership, Role

# A partner user's username: never an e-mail, so never the username licensing gives a customer of
# the same address (licensing.services.customer_username), and the two never merge.
_USERNAME_PREFIX = "partner:"


@dataclass(frozen=True)
class SentInvitation:
    invitation: Invitation
    link: str


def partner_username(email):
    name = _USERNAME_PREFIX + email
    if len(name) <= get_user_model()._meta.get_field("username").max_length:
        return name
    return _USERNAME_PREFIX + hashlib.sha256(email.encode()).hexdigest()


# Unset (the demo): the demo server's own address; production sets it (`check --deploy` reminds).
DEMO_BASE_URL = "http://127.0.0.1:8000"


def public_base_url():
    return (settings.PUBLIC_BASE_URL or DEMO_BASE_URL).rstrip("/")


def invitation_link(token):
    return public_base_url() + reverse("portal:accept_invitation", args=[token])


def ensure_host_active(host):
    """A deactivated host's people may sign in and read; they change nothing."""
    if not host.active:
        raise DomainError(ErrorCode.HOST_INACTIVE, "This account is deactivated: you can read it, not change it.")


def _clean_email(email):
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise DomainError(
            ErrorCode.INVALID, "Enter a valid e-mail address.", fields={"email": ["Enter a valid e-mail address."]}
        ) from None
    return email.lower()


def _check_email_free(email, host):
    """Refuse an address that is a customer's, staff's, or a member's of any host (this one included)."""
    User = get_user_model()
    users = User.objects.filter(email__iexact=email)
    if users.filter(is_staff=True).exists() or users.filter(is_superuser=True).exists():
        raise DomainError(ErrorCode.PARTNER_EMAIL_TAKEN, f"{email} belongs to Corrosion staff.")
    if License.objects.filter(customer__email__iexact=email).exists():
        raise DomainError(ErrorCode.PARTNER_EMAIL_TAKEN, f"{email} belongs to a customer.")
    membership = Membership.objects.filter(user__email__iexact=email).first()
    if membership is not None:
        whose = "this account" if membership.host_id == host.pk else "another account"
        raise DomainError(ErrorCode.PARTNER_EMAIL_TAKEN, f"{email} is already a member of {whose}.")


@transaction.atomic
def invitation_create(*, host, email, role, actor):
    """Invite a person to the host's portal; e-mails the link (after commit) and returns it once."""
    email = _clean_email(email)
    if role not in Role.values:
        raise DomainError(ErrorCode.INVALID, "Role is owner or member.", fields={"role": ["Choose owner or member."]})
    _check_email_free(email, host)
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    invitation = Invitation.objects.create(
        host=host,
        email=email,
        role=role,
        token_digest=Invitation.digest_of(token),
        created_at=now,
        expires_at=now + timedelta(hours=settings.PORTAL_INVITATION_HOURS),
        invited_by=actor.name,
    )
    audit_record(
        actor=actor, action="portal.invited", target=host, data={"email": email, "role": role}, occurred_at=now
    )
    link = invitation_link(token)
    transaction.on_commit(lambda: _send_invitation(invitation, link))
    return SentInvitation(invitation=invitation, link=link)


def _send_invitation(invitation, link):
    send_mail(
        subject=f"You are invited to {invitation.host.company_name} on Corrosion",
        message=(
            f"You have been invited to the Corrosion partner portal of {invitation.host.company_name} "
            f"as {invitation.get_role_display().lower()}.\n\n"
            f"Open this link to set your password (valid {settings.PORTAL_INVITATION_HOURS} hours, once):\n\n"
            f"{link}\n"
        ),
        from_email=None,
        recipient_list=[invitation.email],
    )


def invitation_for_token(token):
    """The usable invitation of this token, or DomainError: unknown, used and expired look alike."""
    invitation = (
        Invitation.objects.select_related("host")
        .filter(token_digest=Invitation.digest_of(token or ""), used_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if invitation is None:
        raise DomainError(
            ErrorCode.INVITATION_INVALID, "This invitation link is not valid: it has expired or been used."
        )
    return invitation


@transaction.atomic
def invitation_accept(*, token, password):
    """Use the invitation once: the person's user (created, or a former member's reused), its
    password and its membership. The password is validated by the caller's form."""
    invitation = invitation_for_token(token)
    # Locked, so the same link used twice at once makes one membership and one error.
    invitation = Invitation.objects.select_for_update().select_related("host").get(pk=invitation.pk)
    if invitation.used_at is not None:
        raise DomainError(
            ErrorCode.INVITATION_INVALID, "This invitation link is not valid: it has expired or been used."
        )
    _check_email_free(invitation.email, invitation.host)
    User = get_user_model()
    user, _ = User.objects.get_or_create(
        username=partner_username(invitation.email), defaults={"email": invitation.email}
    )
    user.set_password(password)
    user.is_active = True
    user.save()
    membership = Membership.objects.create(user=user, host=invitation.host, role=invitation.role)
    now = timezone.now()
    invitation.used_at = now
    invitation.save(update_fields=["used_at"])
    audit_record(
        actor=Actor.partner(user),
        action="portal.joined",
        target=invitation.host,
        data={"email": invitation.email, "role": invitation.role},
        occurred_at=now,
    )
    return membership


@transaction.atomic
def membership_remove(*, host, membership_id, actor):
    """Remove a person from the host's portal; the last owner stays (someone must hold the keys)."""
    membership = (
        Membership.objects.select_for_update().select_related("user").filter(host=host, pk=membership_id).first()
    )
    if membership is None:
        raise DomainError(ErrorCode.MEMBERSHIP_NOT_FOUND, "No such member.")
    if membership.is_owner and Membership.objects.filter(host=host, role=Role.OWNER).count() == 1:
        raise DomainError(ErrorCode.LAST_OWNER, "The last owner cannot be removed: make another owner first.")
    email = membership.user.email
    membership.delete()
    audit_record(actor=actor, action="portal.removed", target=host, data={"email": email, "role": membership.role})
