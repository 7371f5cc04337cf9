"""Rows that money and history depend on are never deleted, and closed bills never change.

Three layers, each catching what the one before cannot: the admin offers no delete or edit, the
ORM refuses (model methods and querysets below), and on PostgreSQL a trigger refuses the SQL
itself, whoever sends it. TRUNCATE, which only the test runner uses, is left alone.

Also here: statement_timeout(), for the rare service that needs longer than a request may wait.
"""

from contextlib import contextmanager, nullcontext

from django.db import connection, models
from django.db.models.deletion import ProtectedError


@contextmanager
def statement_timeout(seconds):
    """Within the current transaction, a statement or lock wait may take `seconds` (None: no limit)
    instead of DATABASE_STATEMENT_TIMEOUT_SECONDS (corrosion/postgresql). Other databases have no
    limit to change."""
    limit = getattr(connection, "statement_timeout", None)
    with limit(seconds) if limit is not None else nullcontext():
        yield


def _refuse(model, what):
    raise ProtectedError(f"{model._meta.verbose_name_plural} are never {what}: history depends on them.", set())


class UndeletableQuerySet(models.QuerySet):
    def delete(self):
        _refuse(self.model, "deleted")


class ImmutableQuerySet(UndeletableQuerySet):
    def update(self, **kwargs):
        _refuse(self.model, "changed")


class Undeletable(models.Model):
    """Deactivate or terminate instead; see the services."""

    objects = UndeletableQuerySet.as_manager()

    class Meta:
        abstract = True

    def delete(self, *args, **kwargs):
        _refuse(type(self), "deleted")


class Immutable(Undeletable):
    """Written once (created or bulk-created), then only read."""

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            _refuse(type(self), "changed")
        super().save(*args, **kwargs)


def _trigger_sql(table, operations):
    name = f"{table}_refuse_{'_'.join(op.lower() for op in operations)}"
    return (
        f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{table}: % refused, history depends on this row', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER {name} BEFORE {" OR ".join(operations)} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}();
""",
        f"DROP TRIGGER IF EXISTS {name} ON {table}; DROP FUNCTION IF EXISTS {name}();",
    )


def refuse_in_database(table, *operations):
    """A migration operation: on PostgreSQL, a trigger that refuses `operations` (DELETE, UPDATE) on `table`."""
    from django.db import migrations

    create, drop = _trigger_sql(table, operations)

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(create, params=None)

    def backwards(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(drop, params=None)

    return migrations.RunPython(forwards, backwards)
