# Members without an openid (imported, joined at a till) or without a purchase are left out of the openid's unique
# index and of the last purchase's index: an import, an expiry or a grant rewriting such a member then writes two
# indexes fewer (on PostgreSQL every index, unless the update stays on its page). Every lookup of these columns names
# a value, so the planner still reads the partial indexes (tests/console/test_console_scale.py).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0022_leaner_write_indexes"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="member",
            name="member_wechat_openid_unique",
        ),
        migrations.RemoveIndex(
            model_name="member",
            name="members_mem_last_pu_9f62d6_idx",
        ),
        migrations.AddIndex(
            model_name="member",
            index=models.Index(
                condition=models.Q(("last_purchase_at__isnull", False)),
                fields=["last_purchase_at"],
                name="member_last_purchase",
            ),
        ),
        migrations.AddConstraint(
            model_name="member",
            constraint=models.UniqueConstraint(
                condition=models.Q(("wechat_openid__isnull", False)),
                fields=("wechat_openid",),
                name="member_wechat_openid_unique",
            ),
        ),
    ]
