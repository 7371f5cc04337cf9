from audit.models import AuditEvent


def audit_events_for(target):
    """The trail of one object, oldest first."""
    return AuditEvent.objects.filter(target_type=target._meta.label_lower, target_id=str(target.pk)).order_by(
        "occurred_at", "id"
    )
