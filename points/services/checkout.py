"""Checkout and refunds: record a purchase, spend and earn points in one transaction; undo it pro rata.

Lock order, as everywhere: the member row first (members.services.locks), then the purchase row. Every
ledger write carries a key derived from the purchase or refund, so a retry never writes twice; the
checkout and refund rows keep a hash of their request, so a retry with the same body gets the first
answer and the same external id with another body is refused (`idempotency_key_reused`).
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Exists, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from coupons.errors import ERROR_BY_REASON, CouponAlreadyRedeemed
from coupons.rules import Cart as CouponCart
from coupons.rules import CartItem as CouponCartItem
from coupons.selectors import coupon_for_cart_by_code
from coupons.services import coupon_redeem
from coupons.services.post_payment import coupons_after_refund, coupons_issue_after_purchase
from infra.errors import InvalidInput, NotFound
from infra.prepared import PreparedRead
from members.errors import IdempotencyKeyReused, InsufficientPoints, PaymentAmountMismatch, PointsAmountTooLarge
from members.models import Member, PointsEntry, PointsLot, Purchase, Store
from members.selectors import points_spent_expiry
from members.services.idempotency import idempotency_request_hash
from members.services.ledger import points_cancel_pending, points_credit, points_debit, points_purchase_settle
from members.services.locks import lock_member
from members.services.purchases import CENT, purchase_mark_refunded, purchase_record
from members.services.stored_value import stored_value_refund, stored_value_spend
from members.services.tiers import tier_evaluate_member
from points.errors import (
    ItemsInconsistent,
    MemberRequired,
    PointsShareExceeded,
    PointsSpendingNotAllowed,
    PurchasedAtOutOfRange,
    RefundExceedsPurchase,
    StoreInactive,
)
from points.models import PointsPolicy, PurchaseCheckout, PurchaseRefund
from points.rules import CartFacts, CartItem, Earning, earn_points
from points.selectors import CheckoutSettings, checkout_settings_get, member_facts_get, tier_discount_terms_get
from points.tier_discount import TierDiscountTerms, line_amounts_after, tier_discount_amount

Kind = PointsEntry.Kind
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
# The most units one line of a cart may count: a till's quantity field, not a wholesale order.
MAX_ITEM_QUANTITY = 9_999


def _coupon_cart(
    *, store_id, channel, gross_amount, discount_amount, items, points_to_spend, reference="", tier_discount=None
):
    """The cart a coupon is checked against: after the till's discount and, when the tier discount comes before
    coupons (points.tier_discount), after the tier discount too, each eligible line carrying its share of it."""
    cart_items = _cart_items(items)
    tier_amount = ZERO
    if tier_discount is not None and tier_discount.before_coupons:
        tier_amount = tier_discount_amount(
            terms=tier_discount, gross_amount=gross_amount, discount_amount=discount_amount, items=cart_items
        )
    amounts = line_amounts_after(terms=tier_discount, items=cart_items, tier_discount=tier_amount)
    return CouponCart(
        amount=gross_amount - discount_amount - tier_amount,
        channel=channel,
        store_id=store_id,
        items=tuple(
            CouponCartItem(sku=item.sku, category=item.category, amount=amount)
            for item, amount in zip(cart_items, amounts, strict=True)
        ),
        uses_points=bool(points_to_spend),
        reference=reference,
    )


def _coupon_quote(*, member, code: str, cart: CouponCart, now: datetime) -> "CouponQuote":
    """Check a coupon code against the cart through coupons' selector; raise coupons' error when it does not fit.

    Raises MemberRequired, InvalidCouponCode, CouponNotFound and the error of the first reason the
    coupon does not fit (coupon_expired, does_not_stack_with_points, min_spend_not_met, ...).
    """
    if member is None:
        raise MemberRequired(fields={"coupon_code": [str(_("Coupons can only be used by an identified member."))]})
    option = coupon_for_cart_by_code(member_id=member.pk, code=code, cart=cart, now=now).options[0]
    if not option.is_applicable:
        raise ERROR_BY_REASON[option.reason](fields={"coupon_code": [str(ERROR_BY_REASON[option.reason].message)]})
    return CouponQuote(code=option.coupon.code, discount_amount=option.discount_amount, label=option.label)


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

    @property
    def coupon_code(self) -> str | None:
        return self.checkout.coupon.code if self.checkout.coupon_id else None


@dataclass(frozen=True)
class RefundResult:
    refund: PurchaseRefund
    is_replay: bool


# What the till may send as purchased_at: a sale up to a week old (a till that was offline), or a little ahead of
# the server's clock (clock skew); anything else is a wrong clock or a wrong field.
POS_PURCHASED_AT_WINDOW = (timedelta(days=7), timedelta(minutes=5))


def _purchased_at_check(*, purchased_at: datetime, now: datetime, window: tuple[timedelta, timedelta]) -> None:
    back, ahead = window
    if now - back <= purchased_at <= now + ahead:
        return
    message = _("Give a time between %(earliest)s and %(latest)s.") % {
        "earliest": timezone.localtime(now - back).isoformat(timespec="seconds"),
        "latest": timezone.localtime(now + ahead).isoformat(timespec="seconds"),
    }
    raise PurchasedAtOutOfRange(fields={"purchased_at": [str(message)]})


# -- pricing (no writes) ----------------------------------------------------------------------------------------
def _money(value, name: str) -> Decimal:
    try:
        amount = Decimal(value).quantize(CENT)
    except (ArithmeticError, TypeError, ValueError):
        raise InvalidInput(fields={name: [str(_("Give an amount with at most two decimals."))]}) from None
    if amount < 0:
        raise InvalidInput(fields={name: [str(_("The amount must not be negative."))]})
    return amount


def _cart_items(items) -> tuple[CartItem, ...]:
    return tuple(
        CartItem(
            sku=item["sku"],
            category=item.get("category", ""),
            quantity=item.get("quantity", 1),
            amount=(Decimal(item["unit_price"]) * item.get("quantity", 1)).quantize(CENT),
        )
        for item in items or []
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
            raise InvalidInput(fields={"items": [str(message % {"line": number, "max": MAX_ITEM_QUANTITY})]})
        if item.amount < 0:
            message = _("Line %(line)d: the unit price must not be negative.")
            raise InvalidInput(fields={"items": [str(message % {"line": number})]})
    total = sum((item.amount for item in items), ZERO)
    if abs(total - gross_amount) > tolerance:
        message = _(
            "The items add up to %(items)s but the gross amount is %(gross)s (at most %(tolerance)s apart)."
        ) % {
            "items": total,
            "gross": gross_amount,
            "tolerance": tolerance,
        }
        raise ItemsInconsistent(fields={"items": [str(message)]})


def _points_maximum_check(*, points: int, policy: PointsPolicy, field: str | None, message) -> None:
    if points > policy.max_points_per_purchase:
        text = str(message % {"points": points, "max": policy.max_points_per_purchase})
        raise PointsAmountTooLarge(text, fields={field: [text]} if field else None)


def _price(
    *,
    policy: PointsPolicy,
    rules: list,
    member: Member | None,
    store_id: int,
    channel: str,
    gross_amount: Decimal,
    discount_amount: Decimal,
    stored_value_amount: Decimal,
    items,
    points_to_spend: int,
    purchased_at: datetime,
    now: datetime,
    coupon: CouponQuote | None = None,
    earn_on_items: bool = True,
    tier_discount: TierDiscountTerms | None = None,
) -> Pricing:
    """Price a cart: the till's discount, then the tier discount and the coupon in the tier policy's order
    (points.tier_discount), then points and stored value; earn on what is left to pay."""
    cart_items = _cart_items(items)
    if cart_items:
        _items_check(items=cart_items, gross_amount=gross_amount, tolerance=policy.items_tolerance)
    coupon_amount = coupon.discount_amount if coupon is not None else ZERO
    tier_amount = tier_discount_amount(
        terms=tier_discount,
        gross_amount=gross_amount,
        discount_amount=discount_amount,
        items=cart_items,
        coupon_discount_amount=coupon_amount,
    )
    discount_amount += coupon_amount + tier_amount
    if discount_amount + stored_value_amount > gross_amount:
        raise InvalidInput(fields={"discount_amount": [str(_("Discount and stored value exceed the gross amount."))]})
    if not isinstance(points_to_spend, int) or isinstance(points_to_spend, bool) or points_to_spend < 0:
        raise InvalidInput(fields={"points_to_spend": [str(_("Give a whole number of points, 0 or more."))]})
    _points_maximum_check(
        points=points_to_spend,
        policy=policy,
        field="points_to_spend",
        message=_("%(points)d points is more than one purchase may spend (at most %(max)d)."),
    )
    may_spend = member is not None and member.status in policy.spending_statuses
    after_discount = gross_amount - discount_amount
    share_value = (after_discount * policy.max_points_share_percent / HUNDRED).quantize(CENT, rounding=ROUND_DOWN)
    cap_value = min(share_value, after_discount - stored_value_amount)
    max_points = min(member.points_balance, policy.points_for_value(cap_value)) if may_spend else 0
    points_value = policy.points_value(points_to_spend) if points_to_spend else ZERO
    if points_to_spend:
        if member is None:
            raise MemberRequired(fields={"points_to_spend": [str(MemberRequired.message)]})
        if not may_spend:
            raise PointsSpendingNotAllowed(fields={"points_to_spend": [str(PointsSpendingNotAllowed.message)]})
        if points_value > cap_value:
            message = _("At most %(points)d points (%(value)s) can pay this order.") % {
                "points": policy.points_for_value(cap_value),
                "value": cap_value,
            }
            raise PointsShareExceeded(fields={"points_to_spend": [str(message)]})
        if points_to_spend > member.points_balance:
            raise InsufficientPoints(fields={"points_to_spend": [str(InsufficientPoints.message)]})
    eligible = after_discount - points_value
    if member is not None and member.status in policy.earning_statuses:
        cart = CartFacts(
            amount=eligible,
            store_id=store_id,
            channel=channel,
            purchased_at=purchased_at,
            items=cart_items if earn_on_items else (),
            is_first_purchase=member.purchase_count == 0,
        )
        earning = earn_points(
            cart=cart,
            member=member_facts_get(member=member),
            rules=rules,
            stacking=policy.multiplier_stacking,
            item_bonus_cap=policy.item_bonus_cap,
        )
        _points_maximum_check(
            points=earning.total,
            policy=policy,
            field=None,
            message=_("This purchase would earn %(points)d points, more than one purchase may earn (at most %(max)d)."),
        )
    else:
        earning = Earning(total=0)
    activates_at = expires_at = None
    if earning.total:
        activates_at = policy.activates_at_for(earned_at=now)
        expires_at = policy.expires_at_for(earned_at=activates_at)
    return Pricing(
        points_to_spend=points_to_spend,
        points_value=points_value,
        max_points_spendable=max_points,
        max_points_value=policy.points_value(max_points) if max_points else ZERO,
        earning=earning,
        eligible_amount=eligible,
        earn_is_pending=bool(activates_at and activates_at > now),
        earn_activates_at=activates_at,
        earn_expires_at=expires_at,
        coupon_discount_amount=coupon.discount_amount if coupon else ZERO,
        coupon_label=coupon.label if coupon else "",
        stored_value_amount=stored_value_amount,
        points_balance=member.points_balance if member is not None else None,
        tier_discount_amount=tier_amount,
    )


# A till prices the cart on every scan: the member's read is compiled once per process.
_MEMBER_WITH_TIER = PreparedRead(
    lambda member_id: Member.objects.select_related("tier").filter(pk=member_id), member_id=int
)


def purchase_preview(
    *,
    store_id: int,
    channel: str,
    gross_amount: Decimal,
    now: datetime,
    member_id: int | None = None,
    discount_amount: Decimal = ZERO,
    stored_value_amount: Decimal = ZERO,
    items: list[dict] | None = None,
    points_to_spend: int = 0,
    purchased_at: datetime | None = None,
    coupon_code: str = "",
    earn_on_items: bool = True,
    checkout_settings: CheckoutSettings | None = None,
) -> Pricing:
    """Price a cart without writing: points it earns (and why), the most points it can take, their value,
    and what a coupon would take off.

    Raises the checkout's errors for `points_to_spend` (PointsShareExceeded, InsufficientPoints, ...) and
    coupons' errors for `coupon_code`. `checkout_settings` (points.selectors.checkout_settings_get) may come from
    the caller, which read them already.
    """
    _store_check(store_id)
    member = _MEMBER_WITH_TIER.one(member_id=member_id) if member_id else None
    if member_id and member is None:
        raise NotFound()
    gross_amount = _positive(gross_amount)
    discount_amount = _money(discount_amount, "discount_amount")
    checkout_settings = checkout_settings or checkout_settings_get()
    tier_discount = tier_discount_terms_get(member=member, policy=checkout_settings.policy)
    quote = None
    if (coupon_code or "").strip():
        cart = _coupon_cart(
            store_id=store_id,
            channel=channel,
            gross_amount=gross_amount,
            discount_amount=discount_amount,
            items=items,
            points_to_spend=points_to_spend,
            tier_discount=tier_discount,
        )
        quote = _coupon_quote(member=member, code=coupon_code, cart=cart, now=now)
    return _price(
        policy=checkout_settings.policy,
        rules=checkout_settings.rules,
        member=member,
        store_id=store_id,
        channel=channel,
        gross_amount=gross_amount,
        discount_amount=discount_amount,
        stored_value_amount=_money(stored_value_amount, "stored_value_amount"),
        items=items,
        points_to_spend=points_to_spend,
        purchased_at=purchased_at or now,
        now=now,
        coupon=quote,
        earn_on_items=earn_on_items,
        tier_discount=tier_discount,
    )


def _positive(value) -> Decimal:
    amount = _money(value, "gross_amount")
    if amount <= 0:
        raise InvalidInput(fields={"gross_amount": [str(_("The amount must be greater than zero."))]})
    return amount


def _store_check(store_id: int) -> None:
    if not Store.objects.filter(pk=store_id, is_active=True).exists():
        raise StoreInactive()


# -- checkout ---------------------------------------------------------------------------------------------------
# Every checkout looks for an earlier one under its external id: compiled once per process.
_PURCHASE_BY_EXTERNAL_ID = PreparedRead(
    lambda channel, store_id, external_id: Purchase.objects.filter(
        channel=channel, store_id=store_id, external_id=external_id
    ),
    channel=str,
    store_id=int,
    external_id=str,
)


def _replay(*, channel, store_id, external_id, request_hash) -> CheckoutResult | None:
    purchase = _PURCHASE_BY_EXTERNAL_ID.one(channel=channel, store_id=store_id, external_id=external_id)
    if purchase is None:
        return None
    checkout = PurchaseCheckout.objects.filter(purchase=purchase).first()
    if checkout is None or checkout.request_hash != request_hash:
        raise IdempotencyKeyReused(fields={"external_id": [str(_("Already used for a different purchase."))]})
    return CheckoutResult(purchase=purchase, checkout=checkout, is_replay=True)


@transaction.atomic
def purchase_checkout(
    *,
    store_id: int,
    channel: str,
    external_id: str,
    gross_amount: Decimal,
    payment_method: str,
    now: datetime,
    purchased_at: datetime | None = None,
    member_id: int | None = None,
    discount_amount: Decimal = ZERO,
    stored_value_amount: Decimal = ZERO,
    items: list[dict] | None = None,
    points_to_spend: int = 0,
    coupon_code: str = "",
    policy: PointsPolicy | None = None,
    checkout_settings: CheckoutSettings | None = None,
    purchased_at_window: tuple[timedelta, timedelta] | None = None,
    confirmed_paid_amount: Decimal | None = None,
    earn_on_items: bool = True,
) -> CheckoutResult:
    """Record a purchase, spend points on it and earn points from it, all or nothing.

    A coupon code is checked against the cart and redeemed through coupons' services in the same transaction:
    its discount is added to the purchase's discount, a coupon that does not combine with paying by points
    refuses a cart that spends points (`does_not_stack_with_points`), and any coupon error leaves nothing
    written.

    Idempotent by (channel, store, external id): the same request again returns the first result
    (is_replay=True); another request under that external id is refused. Raises IdempotencyKeyReused,
    InvalidInput, StoreInactive, NotFound, MemberRequired, PointsSpendingNotAllowed, PointsShareExceeded,
    InsufficientPoints and coupons' errors (invalid_coupon_code, coupon_expired, not_found, ...).
    `policy` and `checkout_settings` (points.selectors.checkout_settings_get) may come from the caller, which
    read them already. With `purchased_at_window` = (how far back, how far ahead of `now`), a new purchase whose
    purchased_at falls outside is refused (PurchasedAtOutOfRange); a replay still gets its first answer.
    With `confirmed_paid_amount` (what a payment provider confirmed was paid), a cart whose amount due differs
    is refused (PaymentAmountMismatch) and nothing is written. With `earn_on_items=False` (a cart reported by
    the member's own phone) the items are recorded but earn no item bonuses (category, SKU).
    """
    gross_amount = _positive(gross_amount)
    discount_amount = _money(discount_amount, "discount_amount")
    stored_value_amount = _money(stored_value_amount, "stored_value_amount")
    external_id = (external_id or "").strip()
    if not external_id:
        raise InvalidInput(fields={"external_id": [str(_("This field is required."))]})
    if stored_value_amount and member_id is None:
        message = _("Stored value can only be spent by an identified member.")
        raise MemberRequired(message, fields={"stored_value_amount": [str(message)]})
    coupon_code = (coupon_code or "").strip()
    request_hash = idempotency_request_hash(
        {
            **({"coupon_code": coupon_code} if coupon_code else {}),
            "member_id": member_id,
            "gross_amount": gross_amount,
            "discount_amount": discount_amount,
            "stored_value_amount": stored_value_amount,
            "payment_method": payment_method,
            "purchased_at": purchased_at,
            "items": json.loads(json.dumps(items or [], cls=DjangoJSONEncoder)),
            "points_to_spend": points_to_spend,
        }
    )
    key = {"channel": channel, "store_id": store_id, "external_id": external_id, "request_hash": request_hash}
    member = None
    if member_id is None:
        replay = _replay(**key)
        if replay:
            return replay
        _store_check(store_id)
    else:
        # A retry waits for the member lock, then finds the first answer committed by its twin.
        # (A separate statement after the lock, not a subquery of it: in READ COMMITTED a subquery of the
        # locking SELECT keeps the snapshot taken before the wait and would not see the twin's purchase.)
        member = _lock_member_at_store(member_id=member_id, store_id=store_id)
        replay = _replay(**key)
        if replay:
            return replay
    if purchased_at is not None and purchased_at_window is not None:
        _purchased_at_check(purchased_at=purchased_at, now=now, window=purchased_at_window)
    checkout_settings = checkout_settings or checkout_settings_get()
    policy = policy or checkout_settings.policy
    purchased_at = purchased_at or now
    tier_discount = tier_discount_terms_get(member=member, policy=policy)
    quote = coupon_cart = None
    if coupon_code:
        coupon_cart = _coupon_cart(
            store_id=store_id,
            channel=channel,
            gross_amount=gross_amount,
            discount_amount=discount_amount,
            items=items,
            points_to_spend=points_to_spend,
            reference=external_id,
            tier_discount=tier_discount,
        )
        quote = _coupon_quote(member=member, code=coupon_code, cart=coupon_cart, now=now)
    pricing = _price(
        policy=policy,
        rules=checkout_settings.rules,
        member=member,
        store_id=store_id,
        channel=channel,
        gross_amount=gross_amount,
        discount_amount=discount_amount,
        stored_value_amount=stored_value_amount,
        items=items,
        points_to_spend=points_to_spend,
        purchased_at=purchased_at,
        now=now,
        coupon=quote,
        earn_on_items=earn_on_items,
        tier_discount=tier_discount,
    )
    if confirmed_paid_amount is not None and pricing.amount_due != confirmed_paid_amount:
        message = _("%(due)s is due but %(paid)s was paid.") % {
            "due": pricing.amount_due,
            "paid": confirmed_paid_amount,
        }
        raise PaymentAmountMismatch(fields={"gross_amount": [str(message)]})
    if member is not None:
        return _checkout_member(
            member=member,
            key=key,
            pricing=pricing,
            quote=quote,
            coupon_cart=coupon_cart,
            coupon_code=coupon_code,
            now=now,
            purchased_at=purchased_at,
            gross_amount=gross_amount,
            payment_method=payment_method,
            discount_amount=discount_amount,
            stored_value_amount=stored_value_amount,
            items=items,
            evaluate_tier=checkout_settings.has_tiers,
            policy=policy,
            post_payment_rules=checkout_settings.has_post_payment_rules,
        )
    return _checkout_anonymous(
        key=key,
        pricing=pricing,
        purchased_at=purchased_at,
        gross_amount=gross_amount,
        payment_method=payment_method,
        discount_amount=discount_amount,
        items=items,
        now=now,
    )


def _checkout_anonymous(
    *, key: dict, pricing: Pricing, purchased_at, gross_amount, payment_method, discount_amount, items, now
) -> CheckoutResult:
    """A sale without an identified member: only the purchase and its checkout row (spending points, using a
    coupon or stored value need a member and were refused before; a sale without a member earns nothing)."""
    try:
        with transaction.atomic():  # a savepoint: a twin's insert may refuse ours, and we answer with its result
            purchase = purchase_record(
                store_id=key["store_id"],
                channel=key["channel"],
                external_id=key["external_id"],
                purchased_at=purchased_at,
                gross_amount=gross_amount,
                payment_method=payment_method,
                member_id=None,
                discount_amount=discount_amount,
                items=items,
            )
    except IdempotencyKeyReused:
        # The twin committed between our check and our insert (with a member, the member lock serialises twins).
        replay = _replay(**key)
        if replay:
            return replay
        raise
    checkout = PurchaseCheckout.objects.create(
        purchase=purchase,
        request_hash=key["request_hash"],
        breakdown={**pricing.earning.breakdown(), "eligible_amount": str(pricing.eligible_amount)},
        created_at=now,
    )
    return CheckoutResult(purchase=purchase, checkout=checkout, is_replay=False)


# The member row (with its tier, for the earning pipeline) locked, and whether the store is active, in one query:
# every checkout with a member runs it, so it is compiled once per process.
_MEMBER_LOCKED_AT_STORE = PreparedRead(
    lambda member_id, store_id: (
        Member.objects.select_for_update(of=("self",))
        .select_related("tier")
        .annotate(store_is_active=Exists(Store.objects.filter(pk=store_id, is_active=True)))
        .filter(pk=member_id)
    ),
    member_id=int,
    store_id=int,
)


def _lock_member_at_store(*, member_id: int, store_id: int) -> Member:
    """Lock the member row and check the store. Raises StoreInactive, NotFound (in that order, as _store_check then
    lock_member would)."""
    member = _MEMBER_LOCKED_AT_STORE.one(member_id=member_id, store_id=store_id)
    if member is None:
        _store_check(store_id)
        raise NotFound()
    if not member.store_is_active:
        raise StoreInactive()
    return member


def _checkout_member(
    *,
    member: Member,
    key: dict,
    pricing: Pricing,
    quote: "CouponQuote | None",
    coupon_cart,
    coupon_code: str,
    now: datetime,
    purchased_at: datetime,
    gross_amount: Decimal,
    payment_method: str,
    discount_amount: Decimal,
    stored_value_amount: Decimal,
    items,
    evaluate_tier: bool,
    policy: PointsPolicy,
    post_payment_rules: bool,
) -> CheckoutResult:
    """Write a member's checkout under the member lock taken by purchase_checkout, in few statements.

    The same rows as purchase_record + coupon_redeem + points_debit + points_credit: the purchase and its items,
    the coupon redemption, the spend and earn entries (one INSERT), the lots and allocations, one UPDATE of the
    member (balances and purchase statistics), the checkout row; then, when the cart asks for them, the
    stored-value spend and the coupons of post-payment rules (a member who may earn gets them).
    """
    external_id = key["external_id"]
    purchase = purchase_record(
        store_id=key["store_id"],
        channel=key["channel"],
        external_id=external_id,
        purchased_at=purchased_at,
        gross_amount=gross_amount,
        payment_method=payment_method,
        member_id=member.pk,
        discount_amount=discount_amount + pricing.coupon_discount_amount + pricing.tier_discount_amount,
        points_value_amount=pricing.points_value,
        stored_value_amount=stored_value_amount,
        items=items,
    )
    redemption = None
    if quote is not None:
        redemption = coupon_redeem(
            member_id=member.pk,
            cart=coupon_cart,
            now=now,
            code=coupon_code,
            purchase_id=purchase.pk,
            external_id=external_id,
        )
        if redemption.discount_amount != quote.discount_amount:  # the coupon changed under us: refuse, write nothing
            raise CouponAlreadyRedeemed(fields={"coupon_code": [str(CouponAlreadyRedeemed.message)]})
    breakdown = {**pricing.earning.breakdown(), "eligible_amount": str(pricing.eligible_amount)}
    written = points_purchase_settle(
        member=member,
        purchase=purchase,
        now=now,
        spend=pricing.points_to_spend,
        spend_key=f"purchase:{purchase.pk}:spend",
        spend_breakdown={"points_value": str(pricing.points_value)},
        earn=pricing.earning.total,
        earn_key=f"purchase:{purchase.pk}:earn",
        earn_activates_at=pricing.earn_activates_at,
        earn_expires_at=pricing.earn_expires_at,
        earn_breakdown=breakdown,
    )
    stored_value_entry = None
    if stored_value_amount:
        stored_value_entry = stored_value_spend(
            member_id=member.pk,
            amount=stored_value_amount,
            idempotency_key=f"purchase:{purchase.pk}:stored_value",
            now=now,
            purchase_id=purchase.pk,
            source="checkout",
        )
    earned_coupons = []
    if post_payment_rules and member.status in policy.earning_statuses:
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
        request_hash=key["request_hash"],
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
    if evaluate_tier:
        # Last, so the review sees everything this purchase wrote (its spend and the points it earned). A purchase
        # dated a little ahead of the clock (within the allowed window) counts as of its own date.
        tier_evaluate_member(member_id=member.pk, now=max(now, purchased_at), member_locked=True)
    return CheckoutResult(purchase=purchase, checkout=checkout, is_replay=False)


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
        raise InvalidInput(fields={"refund_id": [str(_("This field is required."))]})
    purchase = Purchase.objects.filter(channel=channel, store_id=store_id, external_id=purchase_external_id).first()
    if purchase is None:
        raise NotFound(_("No purchase with this external id at this store."))
    request_hash = idempotency_request_hash({"amount": amount})

    def replay():
        refund = PurchaseRefund.objects.filter(purchase=purchase, external_id=refund_external_id).first()
        if refund is None:
            return None
        if refund.request_hash != request_hash:
            raise IdempotencyKeyReused(fields={"refund_id": [str(_("Already used for a different refund."))]})
        return RefundResult(refund=refund, is_replay=True)

    if (result := replay()) is not None:
        return result
    if purchase.member_id:
        lock_member(member_id=purchase.member_id)
    purchase = Purchase.objects.select_for_update().get(pk=purchase.pk)
    if (result := replay()) is not None:
        return result

    previous = PurchaseRefund.objects.filter(purchase=purchase).aggregate(
        amount=Sum("amount"),
        reversed=Sum("points_reversed"),
        cancelled=Sum("points_pending_cancelled"),
        forgiven=Sum("points_forgiven"),
        returned=Sum("points_returned"),
        value=Sum("points_value_returned"),
        stored_value=Sum("stored_value_returned"),
    )
    refunded_before = previous["amount"] or ZERO
    left = purchase.gross_amount - refunded_before
    if amount > left:
        message = _("At most %(amount)s is left to refund.") % {"amount": left}
        raise RefundExceedsPurchase(fields={"amount": [str(message)]})
    refunded = refunded_before + amount
    gross = purchase.gross_amount
    checkout = PurchaseCheckout.objects.filter(purchase=purchase).first()
    earned = checkout.points_earned if checkout else 0
    spent = checkout.points_spent if checkout else 0
    settled_earned = (previous["reversed"] or 0) + (previous["cancelled"] or 0) + (previous["forgiven"] or 0)
    to_reverse = _points_share(earned, refunded, gross) - settled_earned
    to_return = _points_share(spent, refunded, gross) - (previous["returned"] or 0)
    value_target = (
        purchase.points_value_amount
        if refunded >= gross
        else _share(purchase.points_value_amount, refunded, gross).quantize(CENT, rounding=ROUND_HALF_UP)
    )
    refund = PurchaseRefund.objects.create(
        purchase=purchase,
        external_id=refund_external_id,
        amount=amount,
        request_hash=request_hash,
        reason=reason,
        points_value_returned=value_target - (previous["value"] or ZERO),
        created_at=now,
    )
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
            reason=reason,
            breakdown={"refund": refund_external_id, "returned_spent_points": to_return},
        )
    if to_reverse > 0:
        counts.update(_reverse_earned(refund=refund, checkout=checkout, points=to_reverse, now=now, reason=reason))
    if checkout is not None and checkout.stored_value_entry_id:
        counts["stored_value_returned"] = _stored_value_return(
            refund=refund, purchase=purchase, checkout=checkout, refunded=refunded,
            returned_before=previous["stored_value"] or ZERO, now=now,
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
    purchase_mark_refunded(
        purchase_id=purchase.pk, refunded_paid_amount=paid_now - paid_before, is_fully_refunded=refunded >= gross
    )
    return RefundResult(refund=refund, is_replay=False)


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
