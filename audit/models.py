import uuid

from django.db import models

from corrosion.db import Immutable


class AuditEvent(Immutable):
    """One state change: who did what to which object, and when. Append-only."""

    class ActorType(models.TextChoices):
        HOST_KEY = "host_key", "Host API key"
        STAFF = "staff", "Staff user"
        COMMAND = "command", "Management command"
        SYSTEM = "system", "System"
        PARTNER = "partner", "Partner user"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    occurred_at = models.DateTimeField(db_index=True)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    # The key id, the staff username or the command name: never a secret.
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "audit_events"
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id", "occurred_at"], name="audit_target_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(actor_type__in=["host_key", "staff", "command", "system", "partner"]),
                name="audit_actor_type_valid",
            )
        ]

    def __str__(self):
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_type}:{self.actor} {self.action}"
