"""Check the back-filled history rows against licenses: VALIDATE CONSTRAINT takes only SHARE UPDATE
EXCLUSIVE on the history table and ROW SHARE on licenses, so reads and writes go on meanwhile.
In its own migration, so 0008's brief lock is released first. PostgreSQL only: SQLite checked the
rows when 0008 rebuilt its table."""

from django.db import migrations


def validate(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    model = apps.get_model("licensing", "LicenseStatusChange")
    (name,) = schema_editor._constraint_names(model, ["license_id"], foreign_key=True)
    schema_editor.execute(f"ALTER TABLE license_status_changes VALIDATE CONSTRAINT {schema_editor.quote_name(name)}")


class Migration(migrations.Migration):
    dependencies = [("licensing", "0009_license_status_changes_foreign_key")]

    operations = [migrations.RunPython(validate, migrations.RunPython.noop, elidable=False)]
