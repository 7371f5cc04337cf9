"""Licenses: a test license's key starts CRN-TEST-, and only a test license's key does.

Adding a CHECK takes ACCESS EXCLUSIVE on licenses (no heartbeat, no bill read) for as long as it
scans every row; so on PostgreSQL it is added NOT VALID (no scan: the lock lasts a moment, waited
for at most 10 seconds) and 0014 validates the existing rows under SHARE UPDATE EXCLUSIVE, which
blocks neither reads nor writes. SQLite adds it the usual way.
"""

from django.db import migrations, models


class AddCheckNotValid(migrations.AddConstraint):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        check = self.constraint._get_check_sql(model, schema_editor)
        schema_editor.execute("SET LOCAL lock_timeout = '10s'")
        # No parameters: the check holds a LIKE pattern whose "%" must reach the database as it is.
        schema_editor.execute(f"{schema_editor._create_check_sql(model, self.constraint.name, check)} NOT VALID", None)


class Migration(migrations.Migration):
    dependencies = [("licensing", "0012_host_licenses_one_per_server_per_mode")]

    operations = [
        AddCheckNotValid(
            model_name="license",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("livemode", True), models.Q(("license_key__startswith", "CRN-TEST-"), _negated=True)),
                    models.Q(("license_key__startswith", "CRN-TEST-"), ("livemode", False)),
                    _connector="OR",
                ),
                name="licenses_key_prefix_matches_mode",
            ),
        ),
    ]
