# The tier's foreign key and the segments share one index (tier, status, month of birthday), not partial, in place of
# the foreign key's own index and the segments' partial one (tier, month of birthday) WHERE status = 'active': every
# member insert, and every member update that cannot stay on its page (import, purchase, expiry), writes one index
# fewer. A tier's members (the console's filter, the check before a tier is deleted) are read from its first column.
# The foreign key's index is dropped by name, not by AlterField, which would drop the foreign key and check it again
# over the whole table (as in 0022).

import django.db.models.deletion
import django.db.models.functions.datetime
from django.db import migrations, models

TIER_FK_INDEX = "members_member_tier_id_7a19be9d"


def drop_tier_fk_index(apps, schema_editor):
    schema_editor.execute(f'DROP INDEX IF EXISTS "{TIER_FK_INDEX}"')


def create_tier_fk_index(apps, schema_editor):
    schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{TIER_FK_INDEX}" ON "members_member" ("tier_id")')


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0023_partial_openid_and_last_purchase_indexes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="member",
            index=models.Index(
                models.F("tier"),
                models.F("status"),
                django.db.models.functions.datetime.ExtractMonth("birthday"),
                name="member_tier_status_bday_month",
            ),
        ),
        migrations.RemoveIndex(
            model_name="member",
            name="member_active_tier_bday_month",
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop_tier_fk_index, create_tier_fk_index)],
            state_operations=[
                migrations.AlterField(
                    model_name="member",
                    name="tier",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        to="members.tier",
                        verbose_name="tier",
                    ),
                ),
            ],
        ),
    ]
