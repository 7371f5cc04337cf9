from dataclasses import dataclass

from django.utils import timezone

from audit.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who causes a change: passed from the API, the admin or a command down to the services."""

    type: str
    name: str

    @classmethod
    def host_key(cls, key_id):
        return cls(AuditEvent.ActorType.HOST_KEY, key_id)

    @classmethod
    def staff(cls, user):
        return cls(AuditEvent.ActorType.STAFF, user.get_username())

    @classmethod
    def partner(cls, user):
        """A host's person in the portal: acts as the host (never as staff), named by e-mail."""
        return cls(AuditEvent.ActorType.PARTNER, user.email)

    @classmethod
    def command(cls, name):
        return cls(AuditEvent.ActorType.COMMAND, name)

    @classmethod
    def system(cls, name):
        return cls(AuditEvent.ActorType.SYSTEM, name)


def audit_event_build(*, actor, action, target, data=None, occurred_at=None):
    """An unsaved event, for services that write many at once with bulk_create."""
    return AuditEvent(
        occurred_at=occurred_at or timezone.now(),
        actor_type=actor.type,
        actor=actor.name,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        data=data or {},
    )


def audit_record(*, actor, action, target, data=None, occurred_at=None):
    """Record one state change; call it inside the transaction that makes the change."""
    event = audit_event_build(actor=actor, action=action, target=target, data=data, occurred_at=occurred_at)
    event.save(force_insert=True)
    return event


def audit_record_many(events):
    """Record events built with audit_event_build in one INSERT (a bulk provisioning call)."""
    return AuditEvent.objects.bulk_create(events)
