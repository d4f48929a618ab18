"""Recording purchases and keeping a member's purchase statistics. Earning points, and the checkout around a sale,
are the points app's job (points.services.checkout)."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils.translation import gettext_lazy as _

from infra.bulk_sql import set_based
from infra.errors import InvalidInput
from members import sql
from members.errors import IdempotencyKeyReused
from members.models import Member, PaymentUse, Purchase, PurchaseChannel, PurchaseItem
from members.services.payments import MEMBER_PAYMENT_PROVIDERS, payment_use_record
from members.signals import purchase_recorded, send_after_commit

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Sale:
    """A sale as its purchase records it: where, how and under which id it was sold, to whom, the money, the lines.

    The amounts are the checkout's: `discount_amount` holds every discount (the seller's, the tier's, the coupon's),
    `points_value_amount` and `stored_value_amount` what the member paid with points and stored value. Each item is
    a dict of sku, unit_price and optionally name, category and quantity (points.cart.CartLine.as_dict).
    """

    store_id: int
    channel: str
    external_id: str
    purchased_at: datetime
    gross_amount: Decimal
    payment_method: str
    member_id: int | None = None
    discount_amount: Decimal = Decimal(0)
    points_value_amount: Decimal = Decimal(0)
    stored_value_amount: Decimal = Decimal(0)
    items: tuple[dict, ...] = ()


def _amounts(sale: Sale) -> tuple[dict, Decimal]:
    amounts = {
        "gross_amount": Decimal(sale.gross_amount).quantize(CENT),
        "discount_amount": Decimal(sale.discount_amount).quantize(CENT),
        "points_value_amount": Decimal(sale.points_value_amount).quantize(CENT),
        "stored_value_amount": Decimal(sale.stored_value_amount).quantize(CENT),
    }
    paid = (
        amounts["gross_amount"]
        - amounts["discount_amount"]
        - amounts["points_value_amount"]
        - amounts["stored_value_amount"]
    )
    if any(value < 0 for value in amounts.values()) or paid < 0:
        raise InvalidInput.for_field("gross_amount", _("Amounts must not be negative or exceed the gross amount."))
    return amounts, paid


def _insert(sale: Sale, *, amounts: dict, paid: Decimal) -> Purchase:
    purchase = Purchase(
        member_id=sale.member_id,
        store_id=sale.store_id,
        channel=sale.channel,
        external_id=sale.external_id,
        purchased_at=sale.purchased_at,
        paid_amount=paid,
        payment_method=sale.payment_method,
        **amounts,
    )
    rows = [
        PurchaseItem(
            purchase=purchase,
            sku=item["sku"],
            name=item.get("name", ""),
            category=item.get("category", ""),
            quantity=item.get("quantity", 1),
            unit_price=Decimal(item["unit_price"]).quantize(CENT),
            amount=(Decimal(item["unit_price"]) * item.get("quantity", 1)).quantize(CENT),
        )
        for item in sale.items
    ]
    write = sql.purchase_insert if set_based() else _write
    write(purchase=purchase, items=rows)
    return purchase


def _write(*, purchase: Purchase, items: list[PurchaseItem]) -> None:
    """The purchase, its items and the member's statistics through the ORM: the reference of sql.purchase_insert."""
    purchase.save(force_insert=True)
    for item in items:
        item.purchase = purchase  # its id is known now
    PurchaseItem.objects.bulk_create(items)
    if purchase.member_id:
        Member.objects.filter(pk=purchase.member_id).update(**purchase_member_updates(purchase=purchase))


def purchase_member_updates(*, purchase: Purchase) -> dict:
    """Return the F() updates of a member's purchase statistics for one more purchase (for Member.update)."""
    purchased_at = purchase.purchased_at
    return {
        "purchase_count": F("purchase_count") + 1,
        "total_spend": F("total_spend") + purchase.paid_amount,
        "first_purchase_at": Least(Coalesce(F("first_purchase_at"), purchased_at), purchased_at),
        "last_purchase_at": Greatest(Coalesce(F("last_purchase_at"), purchased_at), purchased_at),
    }


@transaction.atomic(savepoint=False)
def purchase_record(sale: Sale) -> Purchase:
    """Record a sale and its items and, for a member, move their purchase statistics; the one writer of purchases.

    Points, coupons, stored value and the instant tier review are the checkout's (points.services.checkout), which
    calls this first and reviews the tier last. A sale is recorded once per (channel, store, external id): the
    caller looks for a replay first (under the member's lock for a member's sale); the unique constraint is the
    backstop. No savepoint of its own: a refused insert ends the caller's transaction (wrap the call in
    `transaction.atomic()` to recover from it).
    A mini-program sale paid through a member payment provider records its payment's use (payment_use_record).
    Raises InvalidInput (amounts), IdempotencyKeyReused (the external id is taken), PaymentAlreadyUsed (the
    mini-program payment paid for something else).
    """
    amounts, paid = _amounts(sale)
    try:
        purchase = _insert(sale, amounts=amounts, paid=paid)
    except IntegrityError as exc:
        raise IdempotencyKeyReused.for_field("external_id", _("Already used for a different purchase.")) from exc
    member_id = sale.member_id
    if sale.channel == PurchaseChannel.MINI_PROGRAM and sale.payment_method in MEMBER_PAYMENT_PROVIDERS:
        # A mini-program sale's external id is the member's payment (the WeChat Pay order number), whoever
        # reports it: that payment then pays for nothing else. After the purchase's own insert, so that a
        # twin of this sale is answered as a replay, not refused as a second use.
        payment_use_record(
            provider=sale.payment_method, transaction_id=sale.external_id, member_id=member_id,
            purpose=PaymentUse.Purpose.PURCHASE, now=sale.purchased_at, field="external_id",
        )  # fmt: skip
    if member_id:
        send_after_commit(purchase_recorded, purchase_id=purchase.pk, member_id=member_id)
    return purchase


@transaction.atomic
def purchase_mark_refunded(*, purchase_id: int, refunded_paid_amount: Decimal, is_fully_refunded: bool) -> str:
    """Mark a purchase (partially) refunded and take the refunded paid amount off the member's total spend; return
    its new status.

    The refund itself (amount checks, points) is the points app's job; this keeps the purchase's status and
    the member's statistics right. Purchase count and dates are left as they were.
    """
    status = Purchase.Status.REFUNDED if is_fully_refunded else Purchase.Status.PARTIALLY_REFUNDED
    Purchase.objects.filter(pk=purchase_id).update(status=status)
    member_id = Purchase.objects.filter(pk=purchase_id).values_list("member_id", flat=True).first()
    amount = Decimal(refunded_paid_amount).quantize(CENT)
    if member_id and amount > 0:
        Member.objects.filter(pk=member_id).update(total_spend=Greatest(F("total_spend") - amount, Decimal("0.00")))
    return status
