"""Coupon expiry reminders are marketing (campaigns.channels.policy): the default coupon_expiring campaign was made
transactional, so it reached members without marketing consent, with no opt-out, past caps and the global control
group. Existing coupon_expiring campaigns become marketing, as new ones are made."""

from django.db import migrations


def coupon_reminders_marketing(apps, schema_editor):
    Campaign = apps.get_model("campaigns", "Campaign")
    Campaign.objects.filter(kind="coupon_expiring", is_marketing=False).update(
        is_marketing=True, respects_global_control=True
    )


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0009_leaner_write_indexes")]

    operations = [migrations.RunPython(coupon_reminders_marketing, migrations.RunPython.noop)]
