"""Recording purchases and keeping a member's purchase statistics. Earning points is the points app's job."""

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Greatest, Least

from members.errors import IdempotencyKeyReused, InvalidInput
from members.models import Member, Purchase, PurchaseItem
from members.services.tiers import tier_evaluate_member
from members.signals import purchase_recorded, send_after_commit

CENT = Decimal("0.01")


@transaction.atomic
def purchase_record(
    *,
    store_id: int,
    channel: str,
    external_id: str,
    purchased_at: datetime,
    gross_amount: Decimal,
    payment_method: str,
    member_id: int | None = None,
    discount_amount: Decimal = Decimal(0),
    points_value_amount: Decimal = Decimal(0),
    stored_value_amount: Decimal = Decimal(0),
    items: list[dict] | None = None,
) -> Purchase:
    """Record a sale once per (channel, store, external id); a replay returns the first record.

    Raises InvalidInput (amounts), IdempotencyKeyReused (same external id, different sale).
    """
    amounts = {
        "gross_amount": Decimal(gross_amount).quantize(CENT),
        "discount_amount": Decimal(discount_amount).quantize(CENT),
        "points_value_amount": Decimal(points_value_amount).quantize(CENT),
        "stored_value_amount": Decimal(stored_value_amount).quantize(CENT),
    }
    paid = (
        amounts["gross_amount"]
        - amounts["discount_amount"]
        - amounts["points_value_amount"]
        - amounts["stored_value_amount"]
    )
    if any(value < 0 for value in amounts.values()) or paid < 0:
        raise InvalidInput(fields={"gross_amount": ["amounts must not be negative or exceed the gross amount"]})
    existing = Purchase.objects.filter(channel=channel, store_id=store_id, external_id=external_id).first()
    if existing:
        if existing.member_id != member_id or existing.gross_amount != amounts["gross_amount"]:
            raise IdempotencyKeyReused(fields={"external_id": ["already used for a different purchase"]})
        return existing
    purchase = Purchase.objects.create(
        member_id=member_id,
        store_id=store_id,
        channel=channel,
        external_id=external_id,
        purchased_at=purchased_at,
        paid_amount=paid,
        payment_method=payment_method,
        **amounts,
    )
    PurchaseItem.objects.bulk_create(
        PurchaseItem(
            purchase=purchase,
            sku=item["sku"],
            name=item.get("name", ""),
            category=item.get("category", ""),
            quantity=item.get("quantity", 1),
            unit_price=Decimal(item["unit_price"]).quantize(CENT),
            amount=(Decimal(item["unit_price"]) * item.get("quantity", 1)).quantize(CENT),
        )
        for item in items or []
    )
    if member_id:
        Member.objects.filter(pk=member_id).update(
            purchase_count=F("purchase_count") + 1,
            total_spend=F("total_spend") + paid,
            first_purchase_at=Least(Coalesce(F("first_purchase_at"), purchased_at), purchased_at),
            last_purchase_at=Greatest(Coalesce(F("last_purchase_at"), purchased_at), purchased_at),
        )
        send_after_commit(purchase_recorded, purchase_id=purchase.pk, member_id=member_id)
        # A purchase that lifts the tier score over a higher tier's threshold upgrades at once (never down).
        tier_evaluate_member(member_id=member_id, now=purchased_at)
    return purchase


@transaction.atomic
def purchase_mark_refunded(*, purchase_id: int, refunded_paid_amount: Decimal, is_fully_refunded: bool) -> None:
    """Mark a purchase (partially) refunded and take the refunded paid amount off the member's total spend.

    The refund itself (amount checks, points) is the points app's job; this keeps the purchase's status and
    the member's statistics right. Purchase count and dates are left as they were.
    """
    status = Purchase.Status.REFUNDED if is_fully_refunded else Purchase.Status.PARTIALLY_REFUNDED
    Purchase.objects.filter(pk=purchase_id).update(status=status)
    member_id = Purchase.objects.filter(pk=purchase_id).values_list("member_id", flat=True).first()
    amount = Decimal(refunded_paid_amount).quantize(CENT)
    if member_id and amount > 0:
        Member.objects.filter(pk=member_id).update(total_spend=Greatest(F("total_spend") - amount, Decimal("0.00")))
