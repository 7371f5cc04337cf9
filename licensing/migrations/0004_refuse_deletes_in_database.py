from django.db import migrations

from corrosion.db import refuse_in_database


class Migration(migrations.Migration):
    dependencies = [("licensing", "0003_list_order_by_license_id")]

    operations = [
        refuse_in_database("licenses", "DELETE"),
        refuse_in_database("host_licenses", "DELETE"),
    ]
