"""The status history's foreign key to licenses, added once the back-fill is in.

On PostgreSQL the constraint is added NOT VALID: no scan of the 200,000 back-filled rows, so the
SHARE ROW EXCLUSIVE lock it takes on licenses (it blocks writes to licenses) lasts a moment; and
the lock is waited for at most 10 seconds, so a long transaction on licenses makes this migration
fail (run it again) instead of queueing every write behind it. New rows are checked from here on;
0009 checks the old ones without blocking writes. Elsewhere (SQLite) the field is altered as usual.
"""

import django.db.models.deletion
from django.db import migrations, models


class AlterForeignKeyNotValid(migrations.AlterField):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        field = model._meta.get_field(self.name)
        schema_editor.execute("SET LOCAL lock_timeout = '10s'")
        schema_editor.execute(f"{schema_editor._create_fk_sql(model, field, '_fk_%(to_table)s_%(to_column)s')} NOT VALID")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        # AlterField undoes itself by running its forwards between the swapped states: drop the key.
        migrations.AlterField.database_forwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [("licensing", "0008_backfill_license_status_changes")]

    operations = [
        AlterForeignKeyNotValid(
            model_name="licensestatuschange",
            name="license",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="status_changes",
                to="licensing.license",
            ),
        ),
    ]
