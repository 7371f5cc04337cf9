import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import ProtectedError

from audit.models import AuditEvent
from audit.services import Actor, audit_record
from tests.factories import HostFactory

pytestmark = pytest.mark.django_db


def test_it_refuses_to_change_or_delete_an_event_through_the_orm():
    event = audit_record(actor=Actor.command("tests"), action="host.created", target=HostFactory())
    event.action = "something.else"
    with pytest.raises(ProtectedError, match="never changed"):
        event.save()
    with pytest.raises(ProtectedError, match="never deleted"):
        event.delete()
    with pytest.raises(ProtectedError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(ProtectedError):
        AuditEvent.objects.filter(pk=event.pk).delete()


@pytest.mark.postgres_only
def test_the_database_refuses_to_change_or_delete_an_event():
    event = audit_record(actor=Actor.command("tests"), action="host.created", target=HostFactory())
    for sql in ("UPDATE audit_events SET action = 'x' WHERE id = %s", "DELETE FROM audit_events WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "host.created"


def test_it_rejects_an_unknown_actor_type():
    from django.db import IntegrityError
    from django.utils import timezone

    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEvent.objects.create(
            occurred_at=timezone.now(), actor_type="alien", actor="x", action="a", target_type="t", target_id="1"
        )
