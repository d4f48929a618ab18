# Fewer indexes for the writers of members, purchases and ledgers to keep up (an import writes or updates every index
# of each member it touches; the till writes a purchase and its entries):
# - the prefix search of phone and member number is served by their unique indexes, built with the pattern operator
#   class (equality, = ANY, ON CONFLICT and LIKE 'term%' all use it), instead of a second index on each column;
# - a store's members by status are read from the balances index, whose keys become (home_store, status);
# - points_entry_staff is the prefix of the audit log's audit_points_by_staff (console 0003), with the same condition;
# - the foreign-key indexes of purchases, stored-value entries and tier history are the prefixes of their
#   (member or store, date) indexes, and those of their staff user the prefixes of the audit log's partial indexes of
#   staff rows (console 0003: a user's rows are never NULL, so the planner takes them). They are dropped by name, not
#   by AlterField, which would drop each foreign key and check it again over the whole table.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

FK_INDEXES = [
    ("members_purchase_member_id_e9b9c2f9", "members_purchase", "member_id"),
    ("members_purchase_store_id_c70df47e", "members_purchase", "store_id"),
    ("members_storedvalueentry_member_id_beac7eda", "members_storedvalueentry", "member_id"),
    ("members_tierhistory_member_id_534c0d66", "members_tierhistory", "member_id"),
    ("members_storedvalueentry_created_by_id_a145ca67", "members_storedvalueentry", "created_by_id"),
    ("members_tierhistory_created_by_id_fd3241d5", "members_tierhistory", "created_by_id"),
]


def drop_fk_indexes(apps, schema_editor):
    for name, _table, _column in FK_INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


def create_fk_indexes(apps, schema_editor):
    for name, table, column in FK_INDEXES:
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ("{column}")')


class Migration(migrations.Migration):

    dependencies = [
        ('members', '0021_notification_indexes'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='member',
            name='member_number_unique',
        ),
        migrations.RemoveConstraint(
            model_name='member',
            name='member_phone_unique',
        ),
        migrations.RemoveIndex(
            model_name='member',
            name='members_mem_home_st_487960_idx',
        ),
        migrations.RemoveIndex(
            model_name='member',
            name='member_number_prefix',
        ),
        migrations.RemoveIndex(
            model_name='member',
            name='member_phone_prefix',
        ),
        migrations.RemoveIndex(
            model_name='member',
            name='member_store_balances',
        ),
        migrations.RemoveIndex(
            model_name='pointsentry',
            name='points_entry_staff',
        ),
        migrations.AddIndex(
            model_name='member',
            index=models.Index(fields=['home_store', 'status'], include=('joined_at', 'points_balance', 'points_pending', 'points_debt', 'stored_value_balance'), name='member_store_balances'),
        ),
        migrations.AddConstraint(
            model_name='member',
            constraint=models.UniqueConstraint(fields=('member_number',), name='member_number_unique', opclasses=['varchar_pattern_ops']),
        ),
        migrations.AddConstraint(
            model_name='member',
            constraint=models.UniqueConstraint(fields=('phone',), name='member_phone_unique', opclasses=['varchar_pattern_ops']),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop_fk_indexes, create_fk_indexes)],
            state_operations=[
                migrations.AlterField(
                    model_name='purchase',
                    name='member',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='purchases', to='members.member', verbose_name='member'),
                ),
                migrations.AlterField(
                    model_name='purchase',
                    name='store',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='purchases', to='members.store', verbose_name='store'),
                ),
                migrations.AlterField(
                    model_name='storedvalueentry',
                    name='member',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='stored_value_entries', to='members.member', verbose_name='member'),
                ),
                migrations.AlterField(
                    model_name='tierhistory',
                    name='member',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='tier_history', to='members.member', verbose_name='member'),
                ),
                migrations.AlterField(
                    model_name='storedvalueentry',
                    name='created_by',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='created by'),
                ),
                migrations.AlterField(
                    model_name='tierhistory',
                    name='created_by',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='created by'),
                ),
            ],
        ),
    ]
