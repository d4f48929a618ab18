# One index less per delivery attempt (a campaign's sender writes one per message) and per consent record: each
# foreign key's own index repeated a named index with the same first column (delivery_attempt_message,
# consent_record_member). Dropped by name, not by AlterField, which would drop each foreign key and check it again
# over the whole table.

import django.db.models.deletion
from django.db import migrations, models

FK_INDEXES = [
    ("campaigns_consentrecord_member_id_3c6cb013", "campaigns_consentrecord", "member_id"),
    ("campaigns_deliveryattempt_outbox_message_id_729e7327", "campaigns_deliveryattempt", "outbox_message_id"),
]


def drop_fk_indexes(apps, schema_editor):
    for name, _table, _column in FK_INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


def create_fk_indexes(apps, schema_editor):
    for name, table, column in FK_INDEXES:
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ("{column}")')


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0008_segment_member_kept_on_visitor_merge'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop_fk_indexes, create_fk_indexes)],
            state_operations=[
                migrations.AlterField(
                    model_name='consentrecord',
                    name='member',
                    field=models.ForeignKey(db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='consent_records', to='members.member', verbose_name='member'),
                ),
                migrations.AlterField(
                    model_name='deliveryattempt',
                    name='outbox_message',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='delivery_attempts', to='members.outboxmessage', verbose_name='outbox message'),
                ),
            ],
        ),
    ]
