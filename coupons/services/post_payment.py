"""Coupons that follow a purchase: issued by post-payment rules, given back or taken back by its refunds.

Both functions run inside the purchase's (or the refund's) transaction, so a purchase that rolls back takes
its coupons with it. A gift never fails the purchase: a rule whose template is sold out, inactive or at the
member's limit is skipped and logged.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext_noop

from coupons.errors import ClaimWindowClosed, LimitReached, SoldOut, TemplateInactive
from coupons.models import Coupon, CouponTemplate, PostPaymentRule
from coupons.services import coupon_template_issue_to_member, coupons_void

logger = logging.getLogger(__name__)

# Kept in English on the coupon (one value to filter by); the console shows it in the staff member's language.
REFUND_VOID_REASON = gettext_noop("Purchase refunded")


@dataclass(frozen=True)
class RefundOutcome:
    restored: list[Coupon] = field(default_factory=list)
    voided_ids: list[int] = field(default_factory=list)
    voided_codes: list[str] = field(default_factory=list)


def post_payment_rules_matching(*, store_id: int, channel: str, paid_amount: Decimal, now: datetime):
    """The live rules a purchase of `paid_amount` in this store and channel meets, in a stable order."""
    rules = (
        PostPaymentRule.objects.live(now)
        .filter(min_paid_amount__lte=paid_amount)
        .filter(Q(stores__isnull=True) | Q(stores=store_id))
        .distinct()
        .order_by("pk")
    )
    # Channels are a JSON list: filtered here, because SQLite has no JSON containment lookup.
    return [rule for rule in rules if channel in (rule.channels or [])]


@transaction.atomic
def coupons_issue_after_purchase(
    *, member_id: int, purchase_id: int, store_id: int, channel: str, paid_amount: Decimal, now: datetime
) -> list[Coupon]:
    """Issue the coupon of every live post-payment rule the purchase meets; return the coupons issued.

    Idempotent per (rule, purchase): a second call returns the same coupons and issues nothing.
    """
    issued = []
    for rule in post_payment_rules_matching(store_id=store_id, channel=channel, paid_amount=paid_amount, now=now):
        try:
            issued.append(
                coupon_template_issue_to_member(
                    template_id=rule.template_id,
                    member_id=member_id,
                    source=Coupon.Source.POST_PAYMENT,
                    now=now,
                    issue_key=f"post_payment:{rule.pk}:purchase:{purchase_id}",
                    issued_for_purchase_id=purchase_id,
                    post_payment_rule_id=rule.pk,
                )
            )
        except (SoldOut, LimitReached, TemplateInactive, ClaimWindowClosed) as skipped:
            logger.info("post-payment rule %s skipped for purchase %s: %s", rule.pk, purchase_id, skipped.code)
    return issued


@transaction.atomic
def coupons_after_refund(
    *, purchase_id: int, paid_after_refund: Decimal, fully_refunded: bool, now: datetime
) -> RefundOutcome:
    """Apply a refund of a purchase to the coupons around it.

    - The coupon the purchase used comes back to the member on a full refund when its template says
      "restore if still valid" and it still is; on a partial refund the purchase stands with its discount,
      so the coupon stays used.
    - A post-payment coupon the purchase earned is voided (if not used yet) once the refund leaves the
      purchase below its rule's minimum, or refunds it entirely.
    """
    restored = []
    if fully_refunded:
        used = (
            Coupon.objects.select_for_update()
            .filter(redeemed_purchase_id=purchase_id, status=Coupon.Status.REDEEMED)
            .select_related("template")
        )
        for coupon in used:
            still_valid = coupon.valid_until is None or coupon.valid_until > now
            if coupon.template.refund_policy != CouponTemplate.RefundPolicy.RESTORE_IF_VALID or not still_valid:
                continue
            Coupon.objects.filter(pk=coupon.pk, status=Coupon.Status.REDEEMED).update(
                status=Coupon.Status.AVAILABLE,
                redeemed_at=None,
                redeemed_purchase=None,
                redeemed_store=None,
                redeemed_channel="",
                redeemed_reference="",
                discount_amount=None,
                restored_at=now,
            )
            coupon.refresh_from_db()
            restored.append(coupon)

    earned = Coupon.objects.held().filter(issued_for_purchase_id=purchase_id).select_related("post_payment_rule")
    to_void = [
        coupon
        for coupon in earned
        if fully_refunded
        or coupon.post_payment_rule is None
        or paid_after_refund < coupon.post_payment_rule.min_paid_amount
    ]
    if to_void:
        coupons_void(coupon_ids=[coupon.pk for coupon in to_void], now=now, reason=REFUND_VOID_REASON)
    return RefundOutcome(
        restored=restored,
        voided_ids=[coupon.pk for coupon in to_void],
        voided_codes=[coupon.code for coupon in to_void],
    )
