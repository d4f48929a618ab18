"""The refund's void reason is kept as the key the console translates ("Purchase refunded"); coupons voided
before were given the lower-case text, which no catalogue translates."""

from django.db import migrations


def forwards(apps, schema_editor):
    Coupon = apps.get_model("coupons", "Coupon")
    Coupon.objects.filter(void_reason="purchase refunded").update(void_reason="Purchase refunded")


def backwards(apps, schema_editor):
    Coupon = apps.get_model("coupons", "Coupon")
    Coupon.objects.filter(void_reason="Purchase refunded").update(void_reason="purchase refunded")


class Migration(migrations.Migration):
    dependencies = [("coupons", "0008_issue_job_chunk_count")]

    operations = [migrations.RunPython(forwards, backwards)]
