"""Whether a coupon fits a cart, and why not: a pure check shared by validation and redemption.

The reasons are stable codes; a redemption raises the error of the same code (coupons.errors).
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from coupons.pricing import ZERO, Discount, discount_for, to_cents


class Reason:
    VOID = "coupon_void"
    REDEEMED = "coupon_already_redeemed"
    EXPIRED = "coupon_expired"
    NOT_YET_VALID = "coupon_not_yet_valid"
    RESERVED = "coupon_reserved"
    WRONG_CHANNEL = "wrong_channel"
    WRONG_STORE = "wrong_store"
    DOES_NOT_STACK_WITH_POINTS = "does_not_stack_with_points"
    CATEGORY_NOT_IN_CART = "category_not_in_cart"
    MIN_SPEND_NOT_MET = "min_spend_not_met"


@dataclass(frozen=True)
class CartItem:
    sku: str
    amount: Decimal
    category: str = ""


@dataclass(frozen=True)
class Cart:
    """What a checkout is about to buy. `reference` names the checkout that may hold a reservation."""

    amount: Decimal
    channel: str
    store_id: int | None = None
    items: tuple[CartItem, ...] = ()
    uses_points: bool = False
    reference: str = ""


@dataclass(frozen=True)
class Check:
    reason: str | None
    discount: Discount
    base_amount: Decimal = field(default=ZERO)

    @property
    def is_applicable(self) -> bool:
        return self.reason is None


def _base_amount(template, cart: Cart) -> Decimal | None:
    """Return the amount the coupon applies to; None when it is limited to items the cart lacks."""
    categories, skus = set(template.categories or ()), set(template.skus or ())
    if not categories and not skus:
        return to_cents(cart.amount)
    matching = [item for item in cart.items if item.category in categories or item.sku in skus]
    if not matching:
        return None
    return min(to_cents(sum((item.amount for item in matching), ZERO)), to_cents(cart.amount))


def coupon_check(*, coupon, template_store_ids: Iterable[int], cart: Cart, now: datetime) -> Check:
    """Return whether `coupon` can be used on `cart` at `now`, the reason when not, and the discount."""
    template = coupon.template
    base = _base_amount(template, cart)
    discount = discount_for(template, base if base is not None else ZERO)
    reason = _first_reason(coupon, set(template_store_ids), cart, now, base)
    if reason is not None:
        return Check(reason=reason, discount=Discount(amount=ZERO, label=discount.label), base_amount=base or ZERO)
    return Check(reason=None, discount=discount, base_amount=base)


def _first_reason(coupon, store_ids, cart, now, base) -> str | None:
    template = coupon.template
    status = coupon.status
    if status == "void":
        return Reason.VOID
    if status == "redeemed":
        return Reason.REDEEMED
    if status == "expired" or (coupon.valid_until is not None and coupon.valid_until <= now):
        return Reason.EXPIRED
    if coupon.valid_from > now:
        return Reason.NOT_YET_VALID
    if (
        status == "reserved"
        and coupon.reserved_until > now
        and (not cart.reference or coupon.reservation_reference != cart.reference)
    ):
        return Reason.RESERVED
    if cart.channel not in (template.channels or ()):
        return Reason.WRONG_CHANNEL
    if store_ids and cart.store_id not in store_ids:
        return Reason.WRONG_STORE
    if cart.uses_points and not template.stacks_with_points:
        return Reason.DOES_NOT_STACK_WITH_POINTS
    if base is None:
        return Reason.CATEGORY_NOT_IN_CART
    if base < to_cents(template.min_spend or 0):
        return Reason.MIN_SPEND_NOT_MET
    return None


def is_in_audience(*, template, member, tier_ids: Iterable[int], tag_ids: Iterable[int], member_tag_ids) -> bool:
    """Tell whether a member belongs to a template's audience.

    Frozen and closed members are in no audience; visitors only in a public one. Tiers and tags narrow the
    audience further: the member must be in one of the tiers (if any are given) and carry one of the tags
    (if any are given).
    """
    if member.status not in ("active", "visitor"):
        return False
    if template.audience != "public" and member.status != "active":
        return False
    tier_ids, tag_ids = set(tier_ids), set(tag_ids)
    if tier_ids and member.tier_id not in tier_ids:
        return False
    return not tag_ids or bool(tag_ids & set(member_tag_ids))
