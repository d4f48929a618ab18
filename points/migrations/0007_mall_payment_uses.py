from django.db import migrations

BACKFILL_CHUNK = 2000


def mall_payment_uses_backfill(apps, schema_editor):
    """Record the use of every payment that paid the cash part of a mall order (members' PaymentUse)."""
    PaymentUse = apps.get_model("members", "PaymentUse")
    RewardOrder = apps.get_model("points", "RewardOrder")
    orders = (
        RewardOrder.objects.exclude(payment_transaction_id="")
        .order_by("pk")
        .values_list("payment_provider", "payment_transaction_id", "member_id", "created_at")
        .iterator(chunk_size=BACKFILL_CHUNK)
    )
    chunk = []
    for provider, transaction_id, member_id, created_at in orders:
        chunk.append(
            PaymentUse(
                provider=provider, transaction_id=transaction_id, purpose="mall_order", member_id=member_id,
                created_at=created_at,
            )
        )
        if len(chunk) == BACKFILL_CHUNK:
            # A payment already recorded (by members' backfill) keeps its first use.
            PaymentUse.objects.bulk_create(chunk, ignore_conflicts=True)
            chunk = []
    PaymentUse.objects.bulk_create(chunk, ignore_conflicts=True)


class Migration(migrations.Migration):

    dependencies = [
        ("members", "0011_payment_use"),
        ("points", "0006_checkout_tier_discount"),
    ]

    operations = [
        migrations.RunPython(mall_payment_uses_backfill, migrations.RunPython.noop),
    ]
