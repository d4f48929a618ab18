# Fewer indexes written per notification (a campaign writes one per member, a million at once): the index of
# Notification.member is the prefix of the inbox index (member, -id); the index of OutboxMessage.notification is the
# prefix of the unique (notification, channel); the pattern-matching twin of the unique dedupe_key serves no query.
# The indexes are dropped by name and the unique constraint renamed in place, so that no foreign key is dropped and
# checked again over the whole table and no unique index is built again (what AlterField and AddConstraint do).

import django.db.models.deletion
from django.db import migrations, models

DROPPED = [
    ("members_notification_member_id_9be3d096", 'ON "members_notification" ("member_id")'),
    ("members_outboxmessage_notification_id_f2687985", 'ON "members_outboxmessage" ("notification_id")'),
    ("members_notification_dedupe_key_076c651e_like", 'ON "members_notification" ("dedupe_key" varchar_pattern_ops)'),
]


def rename_unique(apps, schema_editor, *, forward=True):
    # PostgreSQL names unique=True's constraint <table>_<column>_key; SQLite keeps it inside the table's definition.
    if schema_editor.connection.vendor != "postgresql":
        return
    old, new = "members_notification_dedupe_key_key", "notification_dedupe_key_unique"
    if not forward:
        old, new = new, old
    schema_editor.execute(f'ALTER TABLE "members_notification" RENAME CONSTRAINT "{old}" TO "{new}"')


def rename_unique_back(apps, schema_editor):
    rename_unique(apps, schema_editor, forward=False)


def drop_indexes(apps, schema_editor):
    for name, _definition in DROPPED:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


def create_indexes(apps, schema_editor):
    for name, definition in DROPPED:
        if name.endswith("_like") and schema_editor.connection.vendor != "postgresql":
            continue  # only PostgreSQL had the pattern-matching index
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" {definition}')


class Migration(migrations.Migration):

    dependencies = [
        ('members', '0020_program_settings_expiry_by_the_points_policy'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunPython(drop_indexes, create_indexes),
                migrations.RunPython(rename_unique, rename_unique_back),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name='notification',
                    name='dedupe_key',
                    field=models.CharField(help_text='Set by the job that wrote it, so that running the job again notifies nobody twice.', max_length=150, verbose_name='deduplication key'),
                ),
                migrations.AlterField(
                    model_name='notification',
                    name='member',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='notifications', to='members.member', verbose_name='member'),
                ),
                migrations.AlterField(
                    model_name='outboxmessage',
                    name='notification',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='outbox_messages', to='members.notification', verbose_name='notification'),
                ),
                migrations.AddConstraint(
                    model_name='notification',
                    constraint=models.UniqueConstraint(fields=('dedupe_key',), name='notification_dedupe_key_unique'),
                ),
            ],
        ),
    ]
