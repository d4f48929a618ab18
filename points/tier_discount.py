"""The tier discount at checkout: how much a member's tier (Tier.discount_percent) takes off a cart. Pure functions.

How it combines with the rest of a checkout (the merchant chooses the order in the tier policy):
1. the till's own discount (`discount_amount`) comes off the gross amount first;
2. "before coupons" (the default): the tier discount is taken from what is left, then the coupon is checked
   against the member price (its minimum spend counts the amount after the tier discount, and an item-scoped
   coupon sees its lines after their share of the tier discount); "after coupons": the coupon comes first,
   as on a cart without a tier, and the tier discount is taken from what the coupon leaves;
3. points and stored value pay what is left, and points are earned on what is paid.
The discount is the tier's percentage of the amount at its turn, rounded half up to the cent, and at most the
policy's `discount_max_amount` per purchase. When a cart lists its items, lines whose category the policy
excludes (gift cards, items already on sale) are left out: the discount applies to the share of the amount that
the other lines make up. Without items, the whole amount is eligible. Anonymous sales, members without a tier or
whose status does not earn, and tiers at 0 % get no tier discount.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class TierDiscountTerms:
    """One member's tier discount as the checkout applies it (see points.selectors.tier_discount_terms_get)."""

    percent: Decimal
    before_coupons: bool = True
    max_amount: Decimal | None = None
    excluded_categories: frozenset[str] = frozenset()  # trimmed and case-folded

    def is_excluded(self, item) -> bool:
        return item.category.strip().casefold() in self.excluded_categories


def eligible_share(*, terms: TierDiscountTerms, items) -> Decimal:
    """The share (0..1) of a cart's amount that the tier discount applies to: the lines not excluded."""
    if not items or not terms.excluded_categories:
        return Decimal(1)
    total = sum((item.amount for item in items), ZERO)
    if total <= 0:
        return Decimal(0)
    return sum((item.amount for item in items if not terms.is_excluded(item)), ZERO) / total


def tier_discount_amount(
    *,
    terms: TierDiscountTerms | None,
    gross_amount: Decimal,
    discount_amount: Decimal,
    items,
    coupon_discount_amount: Decimal = ZERO,
) -> Decimal:
    """Return what the tier takes off: its percentage of the amount at its turn (after the till's discount, and
    after the coupon when it applies after coupons), on the eligible share, capped, never more than that amount."""
    if terms is None or terms.percent <= 0:
        return ZERO
    amount = gross_amount - discount_amount
    if not terms.before_coupons:
        amount -= coupon_discount_amount
    if amount <= 0:
        return ZERO
    base = amount * eligible_share(terms=terms, items=items)
    discount = (base * terms.percent / HUNDRED).quantize(CENT, rounding=ROUND_HALF_UP)
    if terms.max_amount is not None:
        discount = min(discount, terms.max_amount)
    return min(discount, amount)


def line_amounts_after(*, terms: TierDiscountTerms | None, items, tier_discount: Decimal) -> list[Decimal]:
    """Each line's amount once the tier discount is shared out over the eligible lines in proportion to their
    amounts (what an item-scoped coupon sees when the tier discount comes before coupons)."""
    amounts = [item.amount for item in items]
    if terms is None or not tier_discount:
        return amounts
    eligible = sum((item.amount for item in items if not terms.is_excluded(item)), ZERO)
    if eligible <= 0:
        return amounts
    return [
        item.amount
        if terms.is_excluded(item)
        else max(item.amount - (tier_discount * item.amount / eligible).quantize(CENT, rounding=ROUND_HALF_UP), ZERO)
        for item in items
    ]
