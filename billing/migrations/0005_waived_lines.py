"""The servers the grace rule waived, kept with each record: a new table, append-only like the lines.

Its foreign keys take SHARE ROW EXCLUSIVE on licenses and host_billing_records (writes to them
wait) only while this migration runs, a moment: the new table is empty, so nothing is scanned.
The lines' new check (status and termination time agree) is added by 0006, without a long lock.
"""

import django.db.models.deletion
import uuid
from django.db import migrations, models

from corrosion.db import refuse_in_database


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0004_total_room_for_largest_bill'),
        ('licensing', '0010_validate_license_status_changes_foreign_key'),
    ]

    operations = [
        migrations.CreateModel(
            name='BillingWaivedLine',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('server_id', models.CharField(max_length=255)),
                ('license_key', models.CharField(max_length=64)),
                ('hostname', models.CharField(max_length=255)),
                ('customer_email', models.EmailField(max_length=254)),
                ('status', models.CharField(choices=[('active', 'Active'), ('suspended', 'Suspended'), ('terminated', 'Terminated')], max_length=16)),
                ('provisioned_at', models.DateTimeField()),
                ('terminated_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'db_table': 'host_billing_waived_lines',
                'ordering': ['record', 'server_id'],
            },
        ),
        migrations.AddField(
            model_name='billingwaivedline',
            name='license',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='waived_billing_lines', to='licensing.license'),
        ),
        migrations.AddField(
            model_name='billingwaivedline',
            name='record',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='waived_lines', to='billing.billingrecord'),
        ),
        migrations.AddConstraint(
            model_name='billingwaivedline',
            constraint=models.UniqueConstraint(fields=('record', 'server_id'), name='host_billing_waived_lines_record_server_unique'),
        ),
        migrations.AddConstraint(
            model_name='billingwaivedline',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['active', 'suspended', 'terminated'])), name='host_billing_waived_lines_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='billingwaivedline',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('status', 'terminated'), ('terminated_at__isnull', False)), models.Q(models.Q(('status', 'terminated'), _negated=True), ('terminated_at__isnull', True)), _connector='OR'), name='host_billing_waived_lines_terminated_at_matches_status'),
        ),
        refuse_in_database("host_billing_waived_lines", "UPDATE", "DELETE"),
    ]
