"""Migration operations that change a big table without a long lock (PostgreSQL), shared by the apps'
migrations. On SQLite, the demo's database, each does what Django's own operation does.

A CHECK added the usual way scans every row under ACCESS EXCLUSIVE, queueing every read and write
of the table behind it. `AddCheckNotValid` adds it NOT VALID instead (no scan: the lock lasts a
moment, and is waited for at most 10 seconds, so a long transaction makes the migration fail and
be re-run rather than queue everyone), and `validate_constraint`, in the next migration so the
brief lock is released first, checks the existing rows under SHARE UPDATE EXCLUSIVE, which blocks
neither reads nor writes.
"""

from django.db import migrations


class AddCheckNotValid(migrations.AddConstraint):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        check = self.constraint._get_check_sql(model, schema_editor)
        schema_editor.execute("SET LOCAL lock_timeout = '10s'")
        # No parameters: a check may hold a LIKE pattern whose "%" must reach the database as it is.
        schema_editor.execute(f"{schema_editor._create_check_sql(model, self.constraint.name, check)} NOT VALID", None)


def validate_constraint(table, name):
    """A migration operation that validates a constraint added NOT VALID (PostgreSQL only)."""

    def validate(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")

    return migrations.RunPython(validate, migrations.RunPython.noop, elidable=False)
