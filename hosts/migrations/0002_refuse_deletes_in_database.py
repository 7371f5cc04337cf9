from django.db import migrations

from corrosion.db import refuse_in_database


class Migration(migrations.Migration):
    dependencies = [("hosts", "0001_initial")]

    operations = [
        refuse_in_database("hosts", "DELETE"),
        refuse_in_database("host_api_keys", "DELETE"),
        refuse_in_database("host_rates", "UPDATE", "DELETE"),
    ]
