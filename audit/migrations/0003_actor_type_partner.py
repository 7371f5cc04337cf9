"""audit_events: a partner user (the portal) is an actor too.

The check is widened, so every existing row already holds it; still, adding a CHECK scans the
whole table under ACCESS EXCLUSIVE. On PostgreSQL it is re-added NOT VALID (no scan: the lock lasts
a moment, waited for at most 10 seconds) and 0004 validates it under SHARE UPDATE EXCLUSIVE, which
blocks neither reads nor writes. SQLite does it the usual way.
"""

from django.db import migrations, models


class AddCheckNotValid(migrations.AddConstraint):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        check = self.constraint._get_check_sql(model, schema_editor)
        schema_editor.execute("SET LOCAL lock_timeout = '10s'")
        schema_editor.execute(f"{schema_editor._create_check_sql(model, self.constraint.name, check)} NOT VALID", None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_trigger")]

    operations = [
        migrations.RemoveConstraint(model_name="auditevent", name="audit_actor_type_valid"),
        migrations.AlterField(
            model_name="auditevent",
            name="actor_type",
            field=models.CharField(
                choices=[
                    ("host_key", "Host API key"),
                    ("staff", "Staff user"),
                    ("command", "Management command"),
                    ("system", "System"),
                    ("partner", "Partner user"),
                ],
                max_length=16,
            ),
        ),
        AddCheckNotValid(
            model_name="auditevent",
            constraint=models.CheckConstraint(
                condition=models.Q(("actor_type__in", ["host_key", "staff", "command", "system", "partner"])), name="audit_actor_type_valid"
            ),
        ),
    ]
