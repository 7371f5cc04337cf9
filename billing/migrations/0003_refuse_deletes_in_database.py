from django.db import migrations

from corrosion.db import refuse_in_database


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_permissions")]

    operations = [
        refuse_in_database("billing_months", "UPDATE", "DELETE"),
        refuse_in_database("host_billing_records", "UPDATE", "DELETE"),
        refuse_in_database("host_billing_lines", "UPDATE", "DELETE"),
    ]
