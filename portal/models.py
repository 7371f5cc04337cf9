import hashlib
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from hosts.models import Host


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    MEMBER = "member", "Member"


class Membership(models.Model):
    """A person of a host in the portal. One host per person: the user is the unique key, so every
    page can take the host from the signed-in user alone, never from the URL."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="portal_membership")
    host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "portal_memberships"
        ordering = ["host", "created_at"]
        constraints = [models.CheckConstraint(condition=Q(role__in=Role.values), name="portal_memberships_role_valid")]

    def __str__(self):
        return f"{self.user.email} ({self.role}, {self.host})"

    @property
    def is_owner(self):
        return self.role == Role.OWNER


class Invitation(models.Model):
    """An e-mailed link to join a host's portal: valid PORTAL_INVITATION_HOURS, used once. Only the
    token's SHA-256 is kept; the link itself exists in the e-mail (and the inviting command's output)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="invitations")
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=16, choices=Role.choices)
    token_digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    # Who sent it, as the audit trail names actors (a staff username, a partner's e-mail, a command).
    invited_by = models.CharField(max_length=150)

    class Meta:
        db_table = "portal_invitations"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(role__in=Role.values), name="portal_invitations_role_valid"),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")), name="portal_invitations_expiry"
            ),
        ]

    def __str__(self):
        return f"{self.email} to {self.host} ({self.role})"

    @staticmethod
    def digest_of(token):
        return hashlib.sha256(token.encode()).hexdigest()
