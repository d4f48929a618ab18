"""Checkout and refunds: record a purchase, spend and earn points in one transaction; undo it pro rata.

A checkout is asked with a Cart (what is bought) and a CheckoutContext (where, when, for whom): points.cart. It
reads the checkout settings, finds the member, checks the cart, answers a replay, prices the cart, then writes;
each step is a function below, in that order.

Lock order, as everywhere: the member row first (members.services.locks), then the purchase row. Every
ledger write carries a key derived from the purchase or refund, so a retry never writes twice; the
checkout and refund rows keep a hash of their request, so a retry with the same body gets the first
answer and the same external id with another body is refused (`idempotency_key_reused`).
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet, Sum
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from coupons.errors import ERROR_BY_REASON, CouponAlreadyRedeemed
from coupons.rules import Cart as CouponCart
from coupons.rules import CartItem as CouponCartItem
from coupons.selectors import coupon_for_cart_by_code
from coupons.services import coupon_redeem
from coupons.services.post_payment import coupons_after_refund, coupons_issue_after_purchase
from infra.errors import InvalidInput, LoyaltyError, NotFound
from infra.prepared import PreparedRead
from members.errors import IdempotencyKeyReused, InsufficientPoints, PaymentAmountMismatch, PointsAmountTooLarge
from members.models import Member, PointsEntry, PointsLot, Purchase, Store
from members.selectors import MemberKey, points_spent_expiry
from members.selectors.holds import points_available
from members.services.idempotency import idempotency_request_hash
from members.services.ledger import (
    PurchaseEarn,
    PurchaseSpend,
    points_cancel_pending,
    points_credit,
    points_debit,
    points_purchase_settle,
)
from members.services.locks import lock_member
from members.services.purchases import CENT, Sale, purchase_mark_refunded, purchase_record
from members.services.stored_value import stored_value_refund, stored_value_spend
from members.services.tiers import tier_evaluate_member
from points.cart import Cart, CartLine, CheckoutContext
from points.errors import (
    ItemsInconsistent,
    MemberRequired,
    PointsShareExceeded,
    PointsSpendingNotAllowed,
    PurchasedAtOutOfRange,
    RefundExceedsPurchase,
    StoreInactive,
)
from points.models import MultiplierWindow, PointsPolicy, PurchaseCheckout, PurchaseRefund
from points.rules import CartFacts, CartItem, Earning, earn_points
from points.selectors import (
    CheckoutSettings,
    checkout_settings_get,
    member_facts_get,
    member_first_named,
    multiplier_windows_open,
    pos_member_keys,
    tier_discount_terms_get,
)
from points.tier_discount import TierDiscountTerms, line_amounts_after, tier_discount_amount

Kind = PointsEntry.Kind
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
# The most units one line of a cart may count: a till's quantity field, not a wholesale order.
MAX_ITEM_QUANTITY = 9_999
# The largest line a purchase can store (PurchaseItem.amount: 12 digits, 2 decimals). The lines must add up to the
# gross amount only within the policy's tolerance, so a line may exceed a gross amount at the column's limit.
MAX_LINE_AMOUNT = Decimal("9999999999.99")


@dataclass(frozen=True)
class Pricing:
    """What a cart would do: the tier discount, the points spent and their value, the points earned and why."""

    points_to_spend: int
    points_value: Decimal
    max_points_spendable: int
    max_points_value: Decimal
    earning: Earning
    eligible_amount: Decimal
    earn_is_pending: bool
    earn_activates_at: datetime | None
    earn_expires_at: datetime | None
    coupon_discount_amount: Decimal = ZERO
    coupon_label: str = ""
    stored_value_amount: Decimal = ZERO
    points_balance: int | None = None  # the member's, as priced; None without a member
    tier_discount_amount: Decimal = ZERO  # what the member's tier took off (points.tier_discount)
    member_number: str | None = None  # the member priced for; None without a member

    @property
    def amount_due(self) -> Decimal:
        """What is left to pay by the payment method once discounts, coupon, points and stored value are off."""
        return self.eligible_amount - self.stored_value_amount


@dataclass(frozen=True)
class CouponQuote:
    """What a coupon takes off a cart (checked, not yet redeemed)."""

    code: str
    discount_amount: Decimal
    label: str


@dataclass(frozen=True)
class CheckoutResult:
    purchase: Purchase
    checkout: PurchaseCheckout
    is_replay: bool
    member_number: str | None = None  # the buyer's; None for an anonymous sale

    @property
    def coupon_code(self) -> str | None:
        return self.checkout.coupon.code if self.checkout.coupon_id else None


@dataclass(frozen=True)
class RefundResult:
    refund: PurchaseRefund
    is_replay: bool
    purchase_status: str  # the purchase's, once the refund is done (or, for a replay, as it is now)


# -- the cart's checks (no writes) -------------------------------------------------------------------------------
def _money(value, name: str) -> Decimal:
    try:
        amount = Decimal(value).quantize(CENT)
    except (ArithmeticError, TypeError, ValueError):
        raise InvalidInput.for_field(name, _("Give an amount with at most two decimals.")) from None
    if amount < 0:
        raise InvalidInput.for_field(name, _("The amount must not be negative."))
    return amount


def _positive(value) -> Decimal:
    amount = _money(value, "gross_amount")
    if amount <= 0:
        raise InvalidInput.for_field("gross_amount", _("The amount must be greater than zero."))
    return amount


def _cart_amounts_checked(cart: Cart) -> Cart:
    """Return the cart with its amounts in cents. Raises InvalidInput naming the amount."""
    return replace(
        cart,
        gross_amount=_positive(cart.gross_amount),
        discount_amount=_money(cart.discount_amount, "discount_amount"),
        stored_value_amount=_money(cart.stored_value_amount, "stored_value_amount"),
        coupon_code=(cart.coupon_code or "").strip(),
    )


def _cart_for_sale(cart: Cart, *, has_member: bool) -> Cart:
    """Return the cart checked for recording: amounts in cents, an external id, stored value only for a member.

    Raises InvalidInput, MemberRequired.
    """
    cart = replace(_cart_amounts_checked(cart), external_id=(cart.external_id or "").strip())
    if not cart.external_id:
        raise InvalidInput.for_field("external_id", _("This field is required."))
    if cart.stored_value_amount and not has_member:
        message = _("Stored value can only be spent by an identified member.")
        raise MemberRequired.for_field("stored_value_amount", message=message)
    return cart


def _purchased_at_check(*, purchased_at: datetime, now: datetime, window: tuple[timedelta, timedelta]) -> None:
    back, ahead = window
    if now - back <= purchased_at <= now + ahead:
        return
    message = _("Give a time between %(earliest)s and %(latest)s.") % {
        "earliest": timezone.localtime(now - back).isoformat(timespec="seconds"),
        "latest": timezone.localtime(now + ahead).isoformat(timespec="seconds"),
    }
    raise PurchasedAtOutOfRange.for_field("purchased_at", message)


def _cart_items(lines: tuple[CartLine, ...]) -> tuple[CartItem, ...]:
    """The cart's lines as the earning pipeline and the tier discount see them (with their amounts)."""
    return tuple(
        CartItem(sku=line.sku, category=line.category, quantity=line.quantity, amount=line.amount) for line in lines
    )


def _items_check(*, items: tuple[CartItem, ...], gross_amount: Decimal, tolerance: Decimal) -> None:
    """Refuse lines with a quantity out of range, and lines that do not add up to the gross amount.

    Item bonuses are priced on the lines, so lines that disagree with the money actually taken would mint
    points (100,000 units at 0.00 on a sale of 10.00). Raises InvalidInput, ItemsInconsistent.
    """
    for number, item in enumerate(items, start=1):
        quantity = item.quantity
        if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= MAX_ITEM_QUANTITY:
            message = _("Line %(line)d: give a whole number of units from 1 to %(max)d.")
            raise InvalidInput.for_field("items", message % {"line": number, "max": MAX_ITEM_QUANTITY})
        if item.amount < 0:
            message = _("Line %(line)d: the unit price must not be negative.")
            raise InvalidInput.for_field("items", message % {"line": number})
        if item.amount > MAX_LINE_AMOUNT:
            message = _("Line %(line)d: the line's amount (unit price times units) is above %(max)s.")
            raise InvalidInput.for_field("items", message % {"line": number, "max": MAX_LINE_AMOUNT})
    total = sum((item.amount for item in items), ZERO)
    if abs(total - gross_amount) > tolerance:
        message = _(
            "The items add up to %(items)s but the gross amount is %(gross)s (at most %(tolerance)s apart)."
        ) % {
            "items": total,
            "gross": gross_amount,
            "tolerance": tolerance,
        }
        raise ItemsInconsistent.for_field("items", message)


def _points_maximum_check(*, points: int, policy: PointsPolicy, field: str | None, message) -> None:
    if points > policy.max_points_per_purchase:
        text = str(message % {"points": points, "max": policy.max_points_per_purchase})
        raise PointsAmountTooLarge.for_fields([field] if field else [], message=text)


# -- the coupon (checked against the cart, no writes) -------------------------------------------------------------
def _coupon_cart(
    *, cart: Cart, items: tuple[CartItem, ...], context: CheckoutContext, tier_discount: TierDiscountTerms | None
) -> CouponCart:
    """The cart a coupon is checked against: after the till's discount and, when the tier discount comes before
    coupons (points.tier_discount), after the tier discount too, each eligible line carrying its share of it."""
    tier_amount = ZERO
    if tier_discount is not None and tier_discount.before_coupons:
        tier_amount = tier_discount_amount(
            terms=tier_discount, gross_amount=cart.gross_amount, discount_amount=cart.discount_amount, items=items
        )
    amounts = line_amounts_after(terms=tier_discount, items=items, tier_discount=tier_amount)
    return CouponCart(
        amount=cart.gross_amount - cart.discount_amount - tier_amount,
        channel=context.channel,
        store_id=context.store_id,
        items=tuple(
            CouponCartItem(sku=item.sku, category=item.category, amount=amount)
            for item, amount in zip(items, amounts, strict=True)
        ),
        uses_points=bool(cart.points_to_spend),
        reference=cart.external_id,
    )


def _coupon_quote(*, member, code: str, cart: CouponCart, now: datetime) -> CouponQuote:
    """Check a coupon code against the cart through coupons' selector; raise coupons' error when it does not fit.

    Raises MemberRequired, InvalidCouponCode, CouponNotFound and the error of the first reason the
    coupon does not fit (coupon_expired, does_not_stack_with_points, min_spend_not_met, ...).
    """
    if member is None:
        raise MemberRequired.for_field("coupon_code", _("Coupons can only be used by an identified member."))
    option = coupon_for_cart_by_code(member_id=member.pk, code=code, cart=cart, now=now).options[0]
    if not option.is_applicable:
        raise ERROR_BY_REASON[option.reason].for_field("coupon_code")
    return CouponQuote(code=option.coupon.code, discount_amount=option.discount_amount, label=option.label)


# -- pricing (no writes) ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Priced:
    """A priced cart with what its writes need besides the pricing: the coupon quoted and the cart it was quoted on."""

    pricing: Pricing
    coupon: CouponQuote | None
    coupon_cart: CouponCart | None


def _cart_price(
    *, cart: Cart, context: CheckoutContext, member: Member | None, settings: CheckoutSettings, purchased_at: datetime
) -> _Priced:
    """Price a checked cart for a member (or none): the tier's terms, the coupon's quote, then _price."""
    items = _cart_items(cart.items)
    tier_discount = tier_discount_terms_get(member=member, policy=settings.policy)
    quote = coupon_cart = None
    if cart.coupon_code:
        coupon_cart = _coupon_cart(cart=cart, items=items, context=context, tier_discount=tier_discount)
        quote = _coupon_quote(member=member, code=cart.coupon_code, cart=coupon_cart, now=context.now)
    pricing = _price(
        cart=cart,
        items=items,
        context=context,
        member=member,
        settings=settings,
        purchased_at=purchased_at,
        coupon=quote,
        tier_discount=tier_discount,
    )
    return _Priced(pricing=pricing, coupon=quote, coupon_cart=coupon_cart)


def _price(
    *,
    cart: Cart,
    items: tuple[CartItem, ...],
    context: CheckoutContext,
    member: Member | None,
    settings: CheckoutSettings,
    purchased_at: datetime,
    coupon: CouponQuote | None,
    tier_discount: TierDiscountTerms | None,
) -> Pricing:
    """Price a cart: the till's discount, then the tier discount and the coupon in the tier policy's order
    (points.tier_discount), then points and stored value; earn on what is left to pay."""
    policy = settings.policy
    if items:
        _items_check(items=items, gross_amount=cart.gross_amount, tolerance=policy.items_tolerance)
    coupon_amount = coupon.discount_amount if coupon is not None else ZERO
    tier_amount = tier_discount_amount(
        terms=tier_discount,
        gross_amount=cart.gross_amount,
        discount_amount=cart.discount_amount,
        items=items,
        coupon_discount_amount=coupon_amount,
    )
    after_discount = _after_discounts(cart=cart, discount_amount=cart.discount_amount + coupon_amount + tier_amount)
    spend = _points_spend(cart=cart, member=member, policy=policy, after_discount=after_discount)
    eligible = after_discount - spend.value
    earning = _earning(
        member=member,
        settings=settings,
        amount=eligible,
        items=items if context.earn_on_items else (),
        context=context,
        purchased_at=purchased_at,
    )
    activates_at = expires_at = None
    if earning.total:
        activates_at = policy.activates_at_for(earned_at=context.now)
        expires_at = policy.expires_at_for(earned_at=activates_at)
    return Pricing(
        points_to_spend=cart.points_to_spend,
        points_value=spend.value,
        max_points_spendable=spend.max_points,
        max_points_value=policy.points_value(spend.max_points) if spend.max_points else ZERO,
        earning=earning,
        eligible_amount=eligible,
        earn_is_pending=bool(activates_at and activates_at > context.now),
        earn_activates_at=activates_at,
        earn_expires_at=expires_at,
        coupon_discount_amount=coupon_amount,
        coupon_label=coupon.label if coupon else "",
        stored_value_amount=cart.stored_value_amount,
        points_balance=member.points_balance if member is not None else None,
        tier_discount_amount=tier_amount,
        member_number=member.member_number if member is not None else None,
    )


def _after_discounts(*, cart: Cart, discount_amount: Decimal) -> Decimal:
    """What is left of the gross amount after every discount; refused when discounts and stored value exceed it."""
    if discount_amount + cart.stored_value_amount > cart.gross_amount:
        raise InvalidInput.for_field("discount_amount", _("Discount and stored value exceed the gross amount."))
    return cart.gross_amount - discount_amount


@dataclass(frozen=True)
class _PointsSpend:
    value: Decimal  # what the points the cart spends are worth
    max_points: int  # the most points this cart could take from this member


def _points_spend(*, cart: Cart, member: Member | None, policy: PointsPolicy, after_discount: Decimal) -> _PointsSpend:
    """Check the points the cart spends: a whole number, within the purchase's maximum, by a member who may spend
    them, within the policy's share of what is left after discounts and stored value, and within what the
    member has not held for a checkout order.

    Raises InvalidInput, PointsAmountTooLarge, MemberRequired, PointsSpendingNotAllowed, PointsShareExceeded,
    InsufficientPoints.
    """
    points = cart.points_to_spend
    if not isinstance(points, int) or isinstance(points, bool) or points < 0:
        raise InvalidInput.for_field("points_to_spend", _("Give a whole number of points, 0 or more."))
    _points_maximum_check(
        points=points,
        policy=policy,
        field="points_to_spend",
        message=_("%(points)d points is more than one purchase may spend (at most %(max)d)."),
    )
    may_spend = member is not None and member.status in policy.spending_statuses
    share_value = (after_discount * policy.max_points_share_percent / HUNDRED).quantize(CENT, rounding=ROUND_DOWN)
    cap_value = min(share_value, after_discount - cart.stored_value_amount)
    # Points held for a checkout order waiting for its payment are not the member's to spend here.
    max_points = min(points_available(member), policy.points_for_value(cap_value)) if may_spend else 0
    value = policy.points_value(points) if points else ZERO
    if points:
        if member is None:
            raise MemberRequired.for_field("points_to_spend")
        if not may_spend:
            raise PointsSpendingNotAllowed.for_field("points_to_spend")
        if value > cap_value:
            message = _("At most %(points)d points (%(value)s) can pay this order.") % {
                "points": policy.points_for_value(cap_value),
                "value": cap_value,
            }
            raise PointsShareExceeded.for_field("points_to_spend", message)
        if points > points_available(member):
            raise InsufficientPoints.for_field("points_to_spend")
    return _PointsSpend(value=value, max_points=max_points)


def _earning(
    *,
    member: Member | None,
    settings: CheckoutSettings,
    amount: Decimal,
    items: tuple[CartItem, ...],
    context: CheckoutContext,
    purchased_at: datetime,
) -> Earning:
    """The points `amount` earns through the earning pipeline (points.rules); none for no member or one whose status
    does not earn. Raises PointsAmountTooLarge beyond what one purchase may earn."""
    policy = settings.policy
    if member is None or member.status not in policy.earning_statuses:
        return Earning(total=0)
    cart = CartFacts(
        amount=amount,
        store_id=context.store_id,
        channel=context.channel,
        purchased_at=purchased_at,
        items=items,
        is_first_purchase=member.purchase_count == 0,
    )
    facts = member_facts_get(member=member)
    if getattr(member, "may_have_window", True):  # the checkout's member reads say whether a window is worth a read
        facts = replace(facts, multiplier_windows=multiplier_windows_open(member_id=member.pk, at=purchased_at))
    earning = earn_points(
        cart=cart,
        member=facts,
        rules=settings.rules,
        stacking=policy.multiplier_stacking,
        item_bonus_cap=policy.item_bonus_cap,
        max_total=policy.max_points_per_purchase,  # a multiplier window's extra is cut to fit, not refused
    )
    _points_maximum_check(
        points=earning.total,
        policy=policy,
        field=None,
        message=_("This purchase would earn %(points)d points, more than one purchase may earn (at most %(max)d)."),
    )
    return earning


# -- the member -------------------------------------------------------------------------------------------------
def _member_keys(*, context: CheckoutContext, policy: PointsPolicy) -> list[MemberKey | LoyaltyError]:
    """The member the context names, as keys for points.selectors.member_first_named: their id, or the till's
    identifiers in the policy's order; empty for an anonymous sale. Nothing is read here: the checkout locks the
    member by these keys in its one read of them. Raises the identifiers' first error when none of them is valid
    (InvalidCardCode, InvalidPhone, InvalidInput)."""
    if context.member_lookup is None:
        return [MemberKey("pk", context.member_id)] if context.member_id is not None else []
    lookup = context.member_lookup
    keys = pos_member_keys(
        now=context.now,
        policy=policy,
        card_code=lookup.card_code,
        member_number=lookup.member_number,
        phone=lookup.phone,
    )
    if keys and not any(isinstance(key, MemberKey) for key in keys):
        raise keys[0]
    return keys


def _per_member_column(build: Callable[..., QuerySet], **params: type) -> dict[str, PreparedRead]:
    """One prepared read for each column a key may name the member by (`build(**params)` filtered on it)."""
    return {
        column: PreparedRead(
            lambda value, _column=column, **rest: build(**rest).filter(**{_column: value}), value=kind, **params
        )
        for column, kind in (("pk", int), ("member_number", str), ("phone", str))
    }


# Whether the member has a multiplier window that ended at most this long ago by the database's clock (or ends
# later): rides on the member's read (an EXISTS on the windows' (member, ends_at) index), so that only those members
# pay the read of their open window. The margin covers purchases dated in the past (a till's offline sale, a
# payment confirmed late); a purchase dated further back than that earns no window's extra.
WINDOW_LOOKBACK = timedelta(days=31)
_MAY_HAVE_WINDOW = Exists(MultiplierWindow.objects.filter(member=OuterRef("pk"), ends_at__gt=Now() - WINDOW_LOOKBACK))

# A till prices the cart on every scan: the member's read is compiled once per process.
_MEMBER_WITH_TIER = _per_member_column(
    lambda: Member.objects.select_related("tier").annotate(may_have_window=_MAY_HAVE_WINDOW)
)


def _store_check(store_id: int) -> None:
    if not Store.objects.filter(pk=store_id, is_active=True).exists():
        raise StoreInactive()


# -- preview ----------------------------------------------------------------------------------------------------
def purchase_preview(*, cart: Cart, context: CheckoutContext, settings: CheckoutSettings | None = None) -> Pricing:
    """Price a cart without writing: points it earns (and why), the most points it can take, their value,
    and what a coupon would take off.

    Raises StoreInactive, the member lookup's errors, NotFound, InvalidInput, the checkout's errors for
    `points_to_spend` (PointsShareExceeded, InsufficientPoints, ...) and coupons' errors for `coupon_code`.
    `settings` (points.selectors.checkout_settings_get) may come from a caller that read them already.
    """
    settings = settings or checkout_settings_get()
    keys = _member_keys(context=context, policy=settings.policy)
    _store_check(context.store_id)
    member = member_first_named(keys, read=lambda key: _MEMBER_WITH_TIER[key.column].one(value=key.value))
    cart = _cart_amounts_checked(cart)
    priced = _cart_price(
        cart=replace(cart, external_id=""),  # a preview names no sale: the coupon is quoted without a reference
        context=context,
        member=member,
        settings=settings,
        purchased_at=cart.purchased_at or context.now,
    )
    return priced.pricing


# -- checkout ---------------------------------------------------------------------------------------------------
def purchase_checkout(
    *,
    cart: Cart,
    context: CheckoutContext,
    confirmed_paid_amount: Decimal | None = None,
    settings: CheckoutSettings | None = None,
) -> CheckoutResult:
    """Record a purchase, spend points on it and earn points from it, all or nothing.

    A coupon code is checked against the cart and redeemed through coupons' services in the same transaction:
    its discount is added to the purchase's discount, a coupon that does not combine with paying by points
    refuses a cart that spends points (`does_not_stack_with_points`), and any coupon error leaves nothing
    written.

    Idempotent by (channel, store, the cart's external id): the same request again returns the first result
    (is_replay=True); another request under that external id is refused. Raises IdempotencyKeyReused,
    InvalidInput, StoreInactive, NotFound, the member lookup's errors, MemberRequired, PointsSpendingNotAllowed,
    PointsShareExceeded, InsufficientPoints and coupons' errors (invalid_coupon_code, coupon_expired, not_found, ...).
    A new purchase dated outside the context's `purchased_at_window` is refused (PurchasedAtOutOfRange); a replay
    still gets its first answer. With `confirmed_paid_amount` (what a payment provider confirmed was paid), a cart
    whose amount due differs is refused (PaymentAmountMismatch) and nothing is written. `settings`
    (points.selectors.checkout_settings_get) may come from a caller that read them already.
    """
    settings = settings or checkout_settings_get()
    member_keys = _member_keys(context=context, policy=settings.policy)
    return _checkout(
        cart=_cart_for_sale(cart, has_member=bool(member_keys)),
        context=context,
        member_keys=member_keys,
        settings=settings,
        confirmed_paid_amount=confirmed_paid_amount,
    )


@dataclass(frozen=True)
class _SaleKey:
    """What makes a checkout idempotent: the sale's place and id, and the hash of what was asked."""

    channel: str
    store_id: int
    external_id: str
    request_hash: str


def _sale_key(*, cart: Cart, context: CheckoutContext, member_id: int | None) -> _SaleKey:
    # The request's fields as the till posts them (its lines with every field), so that a retry hashes alike.
    request_hash = idempotency_request_hash(
        {
            **({"coupon_code": cart.coupon_code} if cart.coupon_code else {}),
            "member_id": member_id,
            "gross_amount": cart.gross_amount,
            "discount_amount": cart.discount_amount,
            "stored_value_amount": cart.stored_value_amount,
            "payment_method": cart.payment_method,
            "purchased_at": cart.purchased_at,
            "items": json.loads(json.dumps([line.as_dict() for line in cart.items], cls=DjangoJSONEncoder)),
            "points_to_spend": cart.points_to_spend,
        }
    )
    return _SaleKey(
        channel=context.channel, store_id=context.store_id, external_id=cart.external_id, request_hash=request_hash
    )


# Every checkout looks for an earlier one under its external id: compiled once per process.
_PURCHASE_BY_EXTERNAL_ID = PreparedRead(
    lambda channel, store_id, external_id: Purchase.objects.filter(
        channel=channel, store_id=store_id, external_id=external_id
    ),
    channel=str,
    store_id=int,
    external_id=str,
)


def _replay(key: _SaleKey, *, member_number: str | None) -> CheckoutResult | None:
    """The first answer under the sale's key, None if there is none. Raises IdempotencyKeyReused for another
    request under it."""
    purchase = _PURCHASE_BY_EXTERNAL_ID.one(channel=key.channel, store_id=key.store_id, external_id=key.external_id)
    if purchase is None:
        return None
    checkout = PurchaseCheckout.objects.filter(purchase=purchase).first()
    if checkout is None or checkout.request_hash != key.request_hash:
        raise IdempotencyKeyReused.for_field("external_id", _("Already used for a different purchase."))
    return CheckoutResult(purchase=purchase, checkout=checkout, is_replay=True, member_number=member_number)


@transaction.atomic
def _checkout(
    *,
    cart: Cart,
    context: CheckoutContext,
    member_keys: list[MemberKey | LoyaltyError],
    settings: CheckoutSettings,
    confirmed_paid_amount: Decimal | None,
) -> CheckoutResult:
    """purchase_checkout's transaction: lock the member (or check the store), answer a replay, check the date,
    price, check the amount paid, write."""
    member = None
    if not member_keys:
        key = _sale_key(cart=cart, context=context, member_id=None)
        replay = _replay(key, member_number=None)
        if replay:
            return replay
        _store_check(context.store_id)
    else:
        # A retry waits for the member lock, then finds the first answer committed by its twin.
        # (A separate statement after the lock, not a subquery of it: in READ COMMITTED a subquery of the
        # locking SELECT keeps the snapshot taken before the wait and would not see the twin's purchase.)
        member = _lock_member_at_store(keys=member_keys, store_id=context.store_id)
        key = _sale_key(cart=cart, context=context, member_id=member.pk)
        replay = _replay(key, member_number=member.member_number)
        if replay:
            return replay
    if cart.purchased_at is not None and context.purchased_at_window is not None:
        _purchased_at_check(purchased_at=cart.purchased_at, now=context.now, window=context.purchased_at_window)
    cart = replace(cart, purchased_at=cart.purchased_at or context.now)
    priced = _cart_price(cart=cart, context=context, member=member, settings=settings, purchased_at=cart.purchased_at)
    _paid_amount_check(pricing=priced.pricing, confirmed_paid_amount=confirmed_paid_amount)
    if member is not None:
        return _checkout_member(member=member, cart=cart, context=context, key=key, priced=priced, settings=settings)
    return _checkout_anonymous(cart=cart, context=context, key=key, pricing=priced.pricing)


def _paid_amount_check(*, pricing: Pricing, confirmed_paid_amount: Decimal | None) -> None:
    """Refuse a cart whose amount due is not what the payment provider confirmed was paid (PaymentAmountMismatch)."""
    if confirmed_paid_amount is None or pricing.amount_due == confirmed_paid_amount:
        return
    message = _("%(due)s is due but %(paid)s was paid.") % {"due": pricing.amount_due, "paid": confirmed_paid_amount}
    raise PaymentAmountMismatch.for_field("gross_amount", message)


def _purchase_record(*, cart: Cart, key: _SaleKey, member_id: int | None, pricing: Pricing) -> Purchase:
    """The sale, its lines and (for a member) their purchase statistics: members' one writer of purchases."""
    return purchase_record(
        Sale(
            store_id=key.store_id,
            channel=key.channel,
            external_id=key.external_id,
            purchased_at=cart.purchased_at,
            gross_amount=cart.gross_amount,
            payment_method=cart.payment_method,
            member_id=member_id,
            discount_amount=cart.discount_amount + pricing.coupon_discount_amount + pricing.tier_discount_amount,
            points_value_amount=pricing.points_value,
            stored_value_amount=cart.stored_value_amount,
            items=tuple(line.as_dict() for line in cart.items),
        )
    )


def _checkout_anonymous(*, cart: Cart, context: CheckoutContext, key: _SaleKey, pricing: Pricing) -> CheckoutResult:
    """A sale without an identified member: only the purchase and its checkout row (spending points, using a
    coupon or stored value need a member and were refused before; a sale without a member earns nothing)."""
    try:
        with transaction.atomic():  # a savepoint: a twin's insert may refuse ours, and we answer with its result
            purchase = _purchase_record(cart=cart, key=key, member_id=None, pricing=pricing)
    except IdempotencyKeyReused:
        # The twin committed between our check and our insert (with a member, the member lock serialises twins).
        replay = _replay(key, member_number=None)
        if replay:
            return replay
        raise
    checkout = PurchaseCheckout.objects.create(
        purchase=purchase,
        request_hash=key.request_hash,
        breakdown=_earn_breakdown(pricing),
        created_at=context.now,
    )
    return CheckoutResult(purchase=purchase, checkout=checkout, is_replay=False)


def _earn_breakdown(pricing: Pricing) -> dict:
    """Why the purchase earned what it earned, as the ledger entry and the checkout row keep it."""
    return {**pricing.earning.breakdown(), "eligible_amount": str(pricing.eligible_amount)}


# The member row (with its tier, for the earning pipeline) locked, found by the till's identifier, and whether the
# store is active, in one query: every checkout with a member runs it, so it is compiled once per process.
_MEMBER_LOCKED_AT_STORE = _per_member_column(
    lambda store_id: (
        Member.objects.select_for_update(of=("self",))
        .select_related("tier")
        .annotate(
            store_is_active=Exists(Store.objects.filter(pk=store_id, is_active=True)), may_have_window=_MAY_HAVE_WINDOW
        )
    ),
    store_id=int,
)


def _lock_member_at_store(*, keys: list[MemberKey | LoyaltyError], store_id: int) -> Member:
    """Lock the member the keys name and check the store. Raises StoreInactive, then the keys' first error (NotFound,
    InvalidCardCode, ...)."""
    try:
        member = member_first_named(
            keys, read=lambda key: _MEMBER_LOCKED_AT_STORE[key.column].one(value=key.value, store_id=store_id)
        )
    except LoyaltyError:
        _store_check(store_id)
        raise
    if not member.store_is_active:
        raise StoreInactive()
    return member


def _checkout_member(
    *, member: Member, cart: Cart, context: CheckoutContext, key: _SaleKey, priced: _Priced, settings: CheckoutSettings
) -> CheckoutResult:
    """Write a member's checkout under the member lock taken by purchase_checkout, in few statements.

    The purchase and its items with the member's statistics, the coupon redemption, the spend and earn entries
    with their lots and allocations (one settle of the ledger), then, when the cart asks for them, the
    stored-value spend and the coupons of post-payment rules (a member who may earn gets them), the checkout row,
    and last the instant tier review.
    """
    pricing, now = priced.pricing, context.now
    breakdown = _earn_breakdown(pricing)
    purchase = _purchase_record(cart=cart, key=key, member_id=member.pk, pricing=pricing)
    redemption = _coupon_redeem(member=member, cart=cart, purchase=purchase, priced=priced, now=now)
    written = points_purchase_settle(
        member=member,
        purchase=purchase,
        now=now,
        spend=PurchaseSpend(
            points=pricing.points_to_spend,
            key=f"purchase:{purchase.pk}:spend",
            breakdown={"points_value": str(pricing.points_value)},
        ),
        earn=PurchaseEarn(
            points=pricing.earning.total,
            key=f"purchase:{purchase.pk}:earn",
            activates_at=pricing.earn_activates_at,
            expires_at=pricing.earn_expires_at,
            breakdown=breakdown,
        ),
    )
    stored_value_entry = None
    if cart.stored_value_amount:
        stored_value_entry = stored_value_spend(
            member_id=member.pk,
            amount=cart.stored_value_amount,
            idempotency_key=f"purchase:{purchase.pk}:stored_value",
            now=now,
            purchase_id=purchase.pk,
            source="checkout",
        )
    earned_coupons = []
    if settings.has_post_payment_rules and member.status in settings.policy.earning_statuses:
        earned_coupons = coupons_issue_after_purchase(
            member_id=member.pk,
            purchase_id=purchase.pk,
            store_id=purchase.store_id,
            channel=purchase.channel,
            paid_amount=purchase.paid_amount,
            now=now,
        )
    checkout = PurchaseCheckout.objects.create(
        purchase=purchase,
        request_hash=key.request_hash,
        points_spent=pricing.points_to_spend,
        points_earned=pricing.earning.total,
        earn_is_pending=pricing.earn_is_pending,
        earn_activates_at=pricing.earn_activates_at,
        earn_expires_at=pricing.earn_expires_at,
        earn_lot=written.earn_lot,
        spend_entry=written.spend_entry,
        breakdown=breakdown,
        balance_after=written.points_balance,
        coupon=redemption.coupon if redemption else None,
        coupon_discount_amount=pricing.coupon_discount_amount,
        tier_discount_amount=pricing.tier_discount_amount,
        stored_value_entry=stored_value_entry,
        coupons_issued=[coupon.code for coupon in earned_coupons],
        created_at=now,
    )
    if settings.has_tiers:
        # Last, so the review sees everything this purchase wrote (its spend and the points it earned). A purchase
        # dated a little ahead of the clock (within the allowed window) counts as of its own date.
        tier_evaluate_member(member_id=member.pk, now=max(now, cart.purchased_at), member_locked=True)
    return CheckoutResult(purchase=purchase, checkout=checkout, is_replay=False, member_number=member.member_number)


def _coupon_redeem(*, member: Member, cart: Cart, purchase: Purchase, priced: _Priced, now: datetime):
    """Redeem the coupon quoted for the cart on the purchase (None without one). Raises CouponAlreadyRedeemed when
    it no longer takes off what was quoted (it changed under us: nothing is written)."""
    if priced.coupon is None:
        return None
    redemption = coupon_redeem(
        member_id=member.pk,
        cart=priced.coupon_cart,
        now=now,
        code=cart.coupon_code,
        purchase_id=purchase.pk,
        external_id=cart.external_id,
    )
    if redemption.discount_amount != priced.coupon.discount_amount:
        raise CouponAlreadyRedeemed.for_field("coupon_code")
    return redemption


# -- refunds ----------------------------------------------------------------------------------------------------
def _share(total, part: Decimal, whole: Decimal) -> Decimal:
    return Decimal(total) * part / whole


def _points_share(total: int, part: Decimal, whole: Decimal) -> int:
    if part >= whole:
        return total
    return int(_share(total, part, whole).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@transaction.atomic
def purchase_refund(
    *,
    store_id: int,
    channel: str,
    purchase_external_id: str,
    refund_external_id: str,
    amount: Decimal,
    now: datetime,
    reason: str = "",
) -> RefundResult:
    """Refund part or all of a purchase: return the points it spent and take back those it earned, pro rata.

    `amount` is a share of the purchase's gross amount; the shares are cumulative, so the last refund settles
    the rounding and a full refund undoes exactly what the checkout did. Spent points are returned first
    (with the latest expiry of the lots they came from), then earned points are taken back: still pending
    ones are cancelled; available ones follow the policy (only pending / within the balance / as a debt).
    Stored value paid is given back in the same proportion. Coupons follow coupons.services.post_payment: a full
    refund gives the used coupon back when its template says so, and a refund that leaves the purchase below a
    post-payment rule's minimum voids the coupon the purchase earned (if still unused).
    Idempotent by refund external id. Raises NotFound, InvalidInput, RefundExceedsPurchase, IdempotencyKeyReused.
    """
    amount = _positive(amount)
    refund_external_id = (refund_external_id or "").strip()
    if not refund_external_id:
        raise InvalidInput.for_field("refund_id", _("This field is required."))
    purchase = Purchase.objects.filter(channel=channel, store_id=store_id, external_id=purchase_external_id).first()
    if purchase is None:
        raise NotFound(_("No purchase with this external id at this store."))
    key = {"external_id": refund_external_id, "request_hash": idempotency_request_hash({"amount": amount})}
    if (result := _refund_replay(purchase=purchase, **key)) is not None:
        return result
    if purchase.member_id:
        lock_member(member_id=purchase.member_id)
    purchase = Purchase.objects.select_for_update().get(pk=purchase.pk)
    if (result := _refund_replay(purchase=purchase, **key)) is not None:
        return result
    previous = _refunds_so_far(purchase)
    left = purchase.gross_amount - previous["amount"]
    if amount > left:
        message = _("At most %(amount)s is left to refund.") % {"amount": left}
        raise RefundExceedsPurchase.for_field("amount", message)
    return _refund_write(purchase=purchase, amount=amount, previous=previous, now=now, reason=reason, **key)


def _refund_replay(*, purchase: Purchase, external_id: str, request_hash: str) -> RefundResult | None:
    """The first answer under the refund's id, None if there is none; IdempotencyKeyReused for another amount."""
    refund = PurchaseRefund.objects.filter(purchase=purchase, external_id=external_id).first()
    if refund is None:
        return None
    if refund.request_hash != request_hash:
        raise IdempotencyKeyReused.for_field("refund_id", _("Already used for a different refund."))
    return RefundResult(refund=refund, is_replay=True, purchase_status=purchase.status)


def _refunds_so_far(purchase: Purchase) -> dict:
    """What the purchase's earlier refunds gave back and took, summed (zeros when there were none)."""
    totals = PurchaseRefund.objects.filter(purchase=purchase).aggregate(
        amount=Sum("amount"),
        reversed=Sum("points_reversed"),
        cancelled=Sum("points_pending_cancelled"),
        forgiven=Sum("points_forgiven"),
        returned=Sum("points_returned"),
        value=Sum("points_value_returned"),
        stored_value=Sum("stored_value_returned"),
    )
    money = {"amount", "value", "stored_value"}
    return {name: value or (ZERO if name in money else 0) for name, value in totals.items()}


def _refund_write(
    *, purchase: Purchase, amount: Decimal, previous: dict, external_id: str, request_hash: str, now, reason: str
) -> RefundResult:
    """Write a refund of `amount` under the locks purchase_refund took: the refund row, then the points, stored
    value and coupons it gives back or takes, each the refunded share of what the checkout did less what earlier
    refunds settled; then the purchase's refunded amount and status."""
    refunded_before = previous["amount"]
    refunded = refunded_before + amount
    gross = purchase.gross_amount
    checkout = PurchaseCheckout.objects.filter(purchase=purchase).first()
    value_target = (
        purchase.points_value_amount
        if refunded >= gross
        else _share(purchase.points_value_amount, refunded, gross).quantize(CENT, rounding=ROUND_HALF_UP)
    )
    refund = PurchaseRefund.objects.create(
        purchase=purchase,
        external_id=external_id,
        amount=amount,
        request_hash=request_hash,
        reason=reason,
        points_value_returned=value_target - previous["value"],
        created_at=now,
    )
    counts = _refund_points(refund=refund, checkout=checkout, previous=previous, refunded=refunded, now=now)
    if checkout is not None and checkout.stored_value_entry_id:
        counts["stored_value_returned"] = _stored_value_return(
            refund=refund, purchase=purchase, checkout=checkout, refunded=refunded,
            returned_before=previous["stored_value"], now=now,
        )  # fmt: skip
    paid_before = _share(purchase.paid_amount, refunded_before, gross).quantize(CENT, rounding=ROUND_HALF_UP)
    paid_now = _share(purchase.paid_amount, refunded, gross).quantize(CENT, rounding=ROUND_HALF_UP)
    coupons = coupons_after_refund(
        purchase_id=purchase.pk, paid_after_refund=purchase.paid_amount - paid_now, fully_refunded=refunded >= gross,
        now=now,
    )  # fmt: skip
    if coupons.restored or coupons.voided_codes:
        counts["coupons_restored"] = [coupon.code for coupon in coupons.restored]
        counts["coupons_voided"] = coupons.voided_codes
    if counts:
        PurchaseRefund.objects.filter(pk=refund.pk).update(**counts)
        refund.refresh_from_db()
    status = purchase_mark_refunded(
        purchase_id=purchase.pk, refunded_paid_amount=paid_now - paid_before, is_fully_refunded=refunded >= gross
    )
    return RefundResult(refund=refund, is_replay=False, purchase_status=status)


def _refund_points(
    *, refund: PurchaseRefund, checkout: PurchaseCheckout | None, previous: dict, refunded: Decimal, now
) -> dict:
    """Return the refunded share of the points the purchase spent, then take back that of the points it earned;
    return the refund's counts of each."""
    purchase = refund.purchase
    gross = purchase.gross_amount
    earned = checkout.points_earned if checkout else 0
    spent = checkout.points_spent if checkout else 0
    settled_earned = previous["reversed"] + previous["cancelled"] + previous["forgiven"]
    to_reverse = _points_share(earned, refunded, gross) - settled_earned
    to_return = _points_share(spent, refunded, gross) - previous["returned"]
    counts = {}
    if to_return > 0:
        counts["points_returned"] = to_return
        points_credit(
            member_id=purchase.member_id,
            points=to_return,
            kind=Kind.REFUND,
            idempotency_key=f"refund:{refund.pk}:return",
            now=now,
            expires_at=points_spent_expiry(debit_entry_id=checkout.spend_entry_id),
            purchase_id=purchase.pk,
            source="refund",
            reason=refund.reason,
            breakdown={"refund": refund.external_id, "returned_spent_points": to_return},
        )
    if to_reverse > 0:
        counts.update(
            _reverse_earned(refund=refund, checkout=checkout, points=to_reverse, now=now, reason=refund.reason)
        )
    return counts


def _stored_value_return(*, refund, purchase, checkout, refunded: Decimal, returned_before: Decimal, now) -> Decimal:
    """Give back the refunded share of the stored value the purchase used; the last refund settles rounding."""
    paid = purchase.stored_value_amount
    target = paid if refunded >= purchase.gross_amount else _share(paid, refunded, purchase.gross_amount)
    amount = target.quantize(CENT, rounding=ROUND_HALF_UP) - returned_before
    if amount > 0:
        stored_value_refund(
            spend_entry_id=checkout.stored_value_entry_id,
            amount=amount,
            idempotency_key=f"refund:{refund.pk}:stored_value",
            now=now,
            source="refund",
        )
    return max(amount, ZERO)


def _reverse_earned(*, refund: PurchaseRefund, checkout: PurchaseCheckout, points: int, now, reason) -> dict:
    purchase = checkout.purchase
    lot = PointsLot.objects.get(pk=checkout.earn_lot_id)
    common = {"purchase_id": purchase.pk, "source": "refund", "reason": reason}
    if not lot.is_active:
        points_cancel_pending(
            lot_id=lot.pk,
            points=points,
            idempotency_key=f"refund:{refund.pk}:cancel",
            now=now,
            breakdown={"refund": refund.external_id, "cancelled_pending_points": points},
            **common,
        )
        return {"points_pending_cancelled": points}
    policy = PointsPolicy.load()
    if policy.refund_policy == PointsPolicy.RefundPolicy.REVERSE_PENDING_ONLY:
        return {"points_forgiven": points}
    balance = Member.objects.filter(pk=purchase.member_id).values_list("points_balance", flat=True).get()
    allow_debt = policy.refund_policy == PointsPolicy.RefundPolicy.RECORD_DEBT
    taken = points if allow_debt else min(points, balance)
    counts = {"points_reversed": taken, "points_forgiven": points - taken, "points_debt_recorded": 0}
    if taken:
        entry = points_debit(
            member_id=purchase.member_id,
            points=taken,
            kind=Kind.REFUND,
            idempotency_key=f"refund:{refund.pk}:reverse",
            now=now,
            allow_debt=allow_debt,
            breakdown={"refund": refund.external_id, "reversed_earned_points": taken},
            **common,
        )
        counts["points_debt_recorded"] = max(0, taken - balance) if entry else 0
    return counts
