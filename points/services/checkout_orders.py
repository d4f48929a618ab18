"""Mini-program checkout orders: hold what the cart will spend, then settle it with the WeChat Pay payment.

1. `checkout_order_create` prices the member's cart (the mini-program checkout's preview), reserves its coupon
   for the order (coupons.services.coupon_reserve), holds its points and stored value
   (members.services.holds) and answers the amount due, the WeChat Pay order number (`out_trade_no`) to pay
   under and when the hold ends (settings.CHECKOUT_ORDER_MINUTES, the WeChat Pay order's time limit). Once the
   holds are committed it opens the WeChat Pay order (JSAPI prepay, outside any transaction, `time_expire` the
   order's expiry) and keeps its prepay id; `checkout_order_payment_parameters` signs what `wx.requestPayment`
   takes. When WeChat Pay will not open it the holds are released at once (status failed) and the error raised.
2. `checkout_order_confirm`, once the member paid, asks WeChat Pay (outside any transaction), then in one
   transaction settles the hold and records the purchase through the one checkout
   (points.services.checkout.purchase_checkout, whose writer of purchases is members.services.purchases).
3. `checkout_order_cancel` and the expiry job (`checkout_orders_expire`, every minute) release an open order's
   hold and coupon, closing the WeChat Pay order first so it can no longer be paid; when WeChat Pay will not close
   it (paid meanwhile) the order is confirmed instead. The job then asks WeChat Pay whether a released order was
   paid all the same (a mini program closed before confirming) and confirms it. WeChat Pay's payment notification
   (`checkout_order_notified`) confirms the order the same way as the member's confirm. A payment confirmed after
   the release is still honoured when the member still has what the cart spends; otherwise, and whenever the
   checkout refuses the paid cart, the payment is refunded through WeChat Pay's refund API and the member is told
   why (a `checkout_refunded` notification).
   So a paid order ends with its purchase recorded or its money refunded, never neither: a refund WeChat Pay could
   not take at once stays `refund_pending` and the job asks again, up to CHECKOUT_REFUND_MAX_ATTEMPTS times; one
   WeChat Pay reports ABNORMAL or CLOSED, or still refused then, is `refund_failed`: staff see it (the console's
   checkout orders, with a badge in the sidebar) and act by hand.
   A refund WeChat Pay took but still processes (PROCESSING) is `refunding`: the refund job
   (`checkout_order_refunds_follow`) asks WeChat Pay about it by its refund number, and WeChat Pay's refund
   notification (REFUND.* events, posted to the same notify_url) tells the same; either way the order ends as
   WeChat Pay finally said (`checkout_order_refund_outcome`): SUCCESS `refunded` (the member is told, once),
   ABNORMAL or CLOSED `refund_failed`.
4. Staff may release a stuck open order by hand (`checkout_order_release`, audited by who and why), and record a
   refund_failed order as refunded by hand (`checkout_order_refunded_by_hand`, audited by who, when and how); it
   then leaves the refund_failed count.

Lock order, as everywhere: the member row, then the order row (then the coupon, by its services).
"""

import contextlib
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from coupons.errors import CouponNotReserved
from coupons.services import coupon_release, coupon_reserve
from infra.errors import (
    LoyaltyError,
    NotFound,
    PaymentNotConfirmed,
    PaymentPrepayRefused,
    PaymentProviderUnavailable,
)
from infra.translation import languages
from infra.wechat_pay import WechatPayClient, WechatPayment, WechatRefund, get_wechat_pay_client
from members.errors import IdempotencyKeyReused, ReasonRequired
from members.models import Member, Notification, PaymentMethod, PaymentUse, Purchase, PurchaseChannel
from members.services.holds import balance_hold_close, balance_hold_place
from members.services.idempotency import idempotency_key_validate, idempotency_request_hash
from members.services.locks import lock_member
from members.services.notifications import notify
from members.services.payments import payment_is_used, payment_use_record, wechat_payment_confirm
from points.cart import Cart, CartLine, CheckoutContext
from points.errors import (
    CheckoutOrderNothingToPay,
    CheckoutOrderNotRefundableByHand,
    CheckoutOrderNotReleasable,
    CheckoutOrderWithoutWechat,
)
from points.models import CheckoutOrder
from points.selectors import CheckoutSettings, checkout_settings_get, tier_discount_terms_get
from points.services.checkout import CheckoutResult, _cart_items, _coupon_cart, purchase_checkout
from points.services.mini_program_checkout import mini_program_purchase_preview, mini_program_store_id

logger = logging.getLogger(__name__)

Status = CheckoutOrder.Status
ZERO = Decimal("0.00")
# An order number WeChat Pay accepts (6 to 32 of [A-Za-z0-9_-|*]) that nobody can guess: "MP" and 24 hex digits.
OUT_TRADE_NO_PREFIX = "MP"


@dataclass(frozen=True)
class CheckoutOrderResult:
    order: CheckoutOrder
    is_replay: bool = False
    checkout: CheckoutResult | None = None  # the purchase, once the order is paid


def checkout_order_minutes() -> int:
    """How long an order holds what it spends (settings.CHECKOUT_ORDER_MINUTES, 1 to 60: a coupon is held at most
    an hour)."""
    return min(max(int(settings.CHECKOUT_ORDER_MINUTES), 1), 60)


def _cart_json(cart: Cart) -> dict:
    """The cart as stored and hashed: amounts as strings, so a replay hashes the same."""
    return {
        "gross_amount": str(cart.gross_amount),
        "discount_amount": str(cart.discount_amount or ZERO),
        "stored_value_amount": str(cart.stored_value_amount or ZERO),
        "items": [{**line.as_dict(), "unit_price": str(line.unit_price)} for line in cart.items],
        "points_to_spend": cart.points_to_spend,
        "coupon_code": (cart.coupon_code or "").strip(),
    }


def _cart(order_cart: dict, *, out_trade_no: str = "", paid_at: datetime | None = None) -> Cart:
    """The stored cart as the checkout's Cart: named by the order's out_trade_no and paid through WeChat Pay."""
    return Cart(
        gross_amount=Decimal(order_cart["gross_amount"]),
        items=tuple(CartLine(**{**item, "unit_price": Decimal(item["unit_price"])}) for item in order_cart["items"]),
        discount_amount=Decimal(order_cart["discount_amount"]),
        coupon_code=order_cart["coupon_code"],
        points_to_spend=order_cart["points_to_spend"],
        stored_value_amount=Decimal(order_cart["stored_value_amount"]),
        purchased_at=paid_at,
        external_id=out_trade_no,
        payment_method=PaymentMethod.WECHAT_PAY_HK if out_trade_no else "",
    )


def _context(*, member_id: int, now: datetime) -> tuple[CheckoutContext, CheckoutSettings]:
    """The mini program's checkout context (the policy's online store; the phone's lines earn no item bonuses) and
    the checkout settings it was read with."""
    checkout_settings = checkout_settings_get()
    context = CheckoutContext(
        channel=PurchaseChannel.MINI_PROGRAM,
        store_id=mini_program_store_id(checkout_settings.policy),
        now=now,
        member_id=member_id,
        earn_on_items=False,
    )
    return context, checkout_settings


# A paid order being given back: never recorded again.
# What WeChat Pay may say of a refund.
REFUND_STATUSES = frozenset({"PROCESSING", "SUCCESS", "ABNORMAL", "CLOSED"})
REFUNDING = (Status.REFUND_PENDING, Status.REFUND_PROCESSING, Status.REFUNDED, Status.REFUND_FAILED)
# How long the job keeps asking WeChat Pay about an order released unpaid.
PAYMENT_CHECK_DAYS = timedelta(days=1)


def _replay(*, member_id: int, idempotency_key: str, request_hash: str) -> CheckoutOrderResult | None:
    orders = CheckoutOrder.objects.filter(member_id=member_id, idempotency_key=idempotency_key)
    # An order WeChat Pay would not open held nothing and answered an error: a retry under its key opens a new one.
    order = orders.exclude(status=Status.FAILED).first()
    if order is None:
        return None
    if order.request_hash != request_hash:
        raise IdempotencyKeyReused.for_field("Idempotency-Key")
    return CheckoutOrderResult(order=order, is_replay=True)


def checkout_order_create(
    *, member_id: int, idempotency_key: str, cart: Cart, now: datetime, payments: WechatPayClient | None = None
) -> CheckoutOrderResult:
    """Create the member's checkout order for `cart` (its external id and date are the order's own): price it,
    reserve its coupon, hold its points and stored value, then open its WeChat Pay order (prepay).

    Idempotent by the member's `idempotency_key`: the same cart again answers the first order (is_replay), another
    cart under that key is refused. Raises InvalidInput (a bad key), IdempotencyKeyReused, the mini-program
    checkout's pricing errors (MiniProgramCheckoutDisabled, InsufficientPoints, PointsShareExceeded, coupons'
    errors, ...), InsufficientPoints and InsufficientStoredValue (what is not held already), coupon_reserved,
    CheckoutOrderWithoutWechat (no openid to pay with), and, with nothing left held, PaymentProviderUnavailable
    (WeChat Pay did not answer the prepay) or PaymentPrepayRefused (it answered no).
    """
    idempotency_key = idempotency_key_validate(idempotency_key)
    stored_cart = _cart_json(cart)
    request_hash = idempotency_request_hash(stored_cart)
    if (replay := _replay(member_id=member_id, idempotency_key=idempotency_key, request_hash=request_hash)) is not None:
        return replay
    pricing = mini_program_purchase_preview(member_id=member_id, cart=_cart(stored_cart), now=now)
    if pricing.amount_due <= 0:
        # WeChat Pay has no payment of nothing, so such an order could never be confirmed, only expire.
        raise CheckoutOrderNothingToPay()
    openid = Member.objects.filter(pk=member_id).values_list("wechat_openid", flat=True).first()
    if not openid:
        raise CheckoutOrderWithoutWechat()
    expires_at = now + timedelta(minutes=checkout_order_minutes())
    try:
        with transaction.atomic():
            member = lock_member(member_id=member_id)
            # A twin request with the same key waited for our lock: it answers with the order its twin created.
            if replay := _replay(member_id=member_id, idempotency_key=idempotency_key, request_hash=request_hash):
                return replay
            order = CheckoutOrder.objects.create(
                member=member, out_trade_no=OUT_TRADE_NO_PREFIX + secrets.token_hex(12).upper(),
                idempotency_key=idempotency_key, request_hash=request_hash, cart=stored_cart,
                amount_due=pricing.amount_due, points_to_spend=pricing.points_to_spend,
                stored_value_amount=pricing.stored_value_amount, created_at=now, expires_at=expires_at,
                store_id=mini_program_store_id(checkout_settings_get().policy),
            )  # fmt: skip
            coupon = None
            if stored_cart["coupon_code"]:
                coupon, _check = coupon_reserve(
                    member_id=member_id, cart=_coupon_cart_for(member=member, order=order, now=now), now=now,
                    code=stored_cart["coupon_code"], ttl_seconds=int((expires_at - now).total_seconds()),
                )  # fmt: skip
            hold = None
            if pricing.points_to_spend or pricing.stored_value_amount:
                hold = balance_hold_place(
                    member_id=member_id, points=pricing.points_to_spend,
                    stored_value_amount=pricing.stored_value_amount, reference=f"checkout-order:{order.pk}",
                    expires_at=expires_at, now=now,
                )  # fmt: skip
            if coupon is not None or hold is not None:
                CheckoutOrder.objects.filter(pk=order.pk).update(coupon=coupon, hold=hold)
                order.coupon, order.hold = coupon, hold
    except IntegrityError:
        # A twin request with the same key committed first (the unique (member, key) refused ours): its answer.
        if (replay := _replay(member_id=member_id, idempotency_key=idempotency_key, request_hash=request_hash)) is None:
            raise
        return replay
    _open_payment(order=order, openid=openid, now=now, payments=payments)
    return CheckoutOrderResult(order=order)


def _open_payment(*, order: CheckoutOrder, openid: str, now: datetime, payments: WechatPayClient | None) -> None:
    """Open the order's WeChat Pay order (outside any transaction: an HTTP call) and keep its prepay id; when WeChat
    Pay will not, release what the order holds (failed) and raise its error."""
    try:
        prepay_id = (payments or get_wechat_pay_client()).prepay(
            out_trade_no=order.out_trade_no, description=str(_("Mini-program purchase")), amount=order.amount_due,
            currency=settings.CURRENCY, openid=openid, time_expire=order.expires_at,
        )  # fmt: skip
    except (PaymentProviderUnavailable, PaymentPrepayRefused):
        with transaction.atomic():
            locked = _lock(member_id=order.member_id, order_id=order.pk)
            if locked.status == Status.OPEN:
                _release(order=locked, status=Status.FAILED, now=now)
        raise
    CheckoutOrder.objects.filter(pk=order.pk).update(prepay_id=prepay_id[:64])
    order.prepay_id = prepay_id[:64]


def checkout_order_payment_parameters(order: CheckoutOrder, *, payments: WechatPayClient | None = None) -> dict | None:
    """What the mini program passes to wx.requestPayment for an open order (None otherwise), signed with the
    merchant's key. The same order always answers the same parameters (its creation time; a nonce derived from its
    prepay id), so a replayed creation answers exactly the first answer."""
    if order.status != Status.OPEN or not order.prepay_id:
        return None
    nonce = hmac.new(settings.SECRET_KEY.encode(), order.prepay_id.encode(), hashlib.sha256).hexdigest()[:32]
    return (payments or get_wechat_pay_client()).payment_parameters(
        prepay_id=order.prepay_id, timestamp=str(int(order.created_at.timestamp())), nonce=nonce
    )


def _close_wechat_order(*, order: CheckoutOrder, now: datetime, payments: WechatPayClient | None = None) -> bool | None:
    """Close the order's WeChat Pay order so nobody can pay it any more. Return True when it is closed, False when
    WeChat Pay would not close it (paid meanwhile, or it has no such order: ask it which), None when it did not
    answer."""
    if order.wechat_closed_at is not None:
        return True
    try:
        closed = (payments or get_wechat_pay_client()).close(order.out_trade_no)
    except PaymentProviderUnavailable:
        logger.warning("WeChat Pay did not answer the close of checkout order %s", order.pk)
        return None
    if closed:
        CheckoutOrder.objects.filter(pk=order.pk, wechat_closed_at__isnull=True).update(wechat_closed_at=now)
        order.wechat_closed_at = now
    return closed


def _coupon_cart_for(*, member: Member, order: CheckoutOrder, now: datetime):
    """The cart the coupon is reserved against: the checkout's own coupon cart, named by the order's out_trade_no
    (the purchase's external id, so the purchase may redeem what the order reserved)."""
    context, checkout_settings = _context(member_id=member.pk, now=now)
    cart = _cart(order.cart, out_trade_no=order.out_trade_no)
    member = Member.objects.select_related("tier").get(pk=member.pk)
    tier_discount = tier_discount_terms_get(member=member, policy=checkout_settings.policy)
    return _coupon_cart(cart=cart, items=_cart_items(cart.items), context=context, tier_discount=tier_discount)


def checkout_order_get(*, member_id: int, order_id: int) -> CheckoutOrder:
    """The member's own order. Raises NotFound (also for another member's order)."""
    order = CheckoutOrder.objects.select_related("coupon", "purchase").filter(pk=order_id, member_id=member_id).first()
    if order is None:
        raise NotFound(_("No such checkout order."))
    return order


def _order_for_staff(*, order_id: int, store_id: int | None) -> CheckoutOrder:
    """The order staff act on (of `store_id` when given: staff of one store). Raises NotFound."""
    orders = CheckoutOrder.objects.filter(pk=order_id)
    if store_id is not None:
        orders = orders.filter(store_id=store_id)
    order = orders.first()
    if order is None:
        raise NotFound(_("No such checkout order."))
    return order


def _release(*, order: CheckoutOrder, status: str, now: datetime) -> None:
    """Give back what an order holds and close it as `status` (called under the member and order locks)."""
    if order.hold_id:
        balance_hold_close(hold_id=order.hold_id, now=now)
    if order.coupon_id:
        # Used or reserved by another checkout since: no longer this order's to give back.
        with contextlib.suppress(CouponNotReserved):
            coupon_release(member_id=order.member_id, coupon_id=order.coupon_id, reference=order.out_trade_no, now=now)
    CheckoutOrder.objects.filter(pk=order.pk).update(status=status, closed_at=now)
    order.status, order.closed_at = status, now


def _lock(*, member_id: int, order_id: int) -> CheckoutOrder:
    lock_member(member_id=member_id)
    return CheckoutOrder.objects.select_for_update().get(pk=order_id)


def checkout_order_cancel(
    *, member_id: int, order_id: int, now: datetime, payments: WechatPayClient | None = None
) -> CheckoutOrder:
    """Cancel the member's open order: its hold and coupon are given back. Cancelling an order that is no longer
    open changes nothing (a paid one stays paid).

    WeChat Pay closes its order first (so it can no longer be paid), then is asked: a mini program cancels when its
    pay sheet reports a failure, which may be the phone's and not WeChat Pay's, so an order paid after all is
    confirmed instead (recorded, or refunded) and never ends cancelled with the money taken. Raises NotFound,
    PaymentProviderUnavailable (WeChat Pay did not answer: cancel again later; the order expires by itself meanwhile).
    """
    order = checkout_order_get(member_id=member_id, order_id=order_id)
    if order.status != Status.OPEN:
        return order
    if _close_wechat_order(order=order, now=now, payments=payments) is None:
        raise PaymentProviderUnavailable()
    try:
        checkout_order_confirm(member_id=member_id, order_id=order.pk, now=now, payments=payments)
    except PaymentNotConfirmed:
        pass  # not paid: cancel
    else:
        return checkout_order_get(member_id=member_id, order_id=order.pk)
    with transaction.atomic():
        order = _lock(member_id=member_id, order_id=order.pk)
        if order.status == Status.OPEN:
            _release(order=order, status=Status.CANCELLED, now=now)
            _checked_if_closed(order=order, now=now)
    return order


def _checked_if_closed(*, order: CheckoutOrder, now: datetime) -> None:
    """An order WeChat Pay closed unpaid needs no more asking: nobody can pay it any more."""
    if order.wechat_closed_at is not None:
        CheckoutOrder.objects.filter(pk=order.pk).update(payment_checked_at=now)
        order.payment_checked_at = now


def checkout_order_release(*, order_id: int, released_by, reason: str, now: datetime, store_id: int | None = None):
    """Staff release a stuck open order by hand (`released_by`, with `reason`; limited to `store_id` when given): WeChat
    Pay closes it first; one paid meanwhile is confirmed instead (recorded, or refunded). Return the order.
    Raises NotFound (unknown, or outside the store), CheckoutOrderNotReleasable (no longer open),
    PaymentProviderUnavailable (WeChat Pay did not answer: nothing changed), ReasonRequired."""
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired.for_field("reason", message=_("Give the reason for releasing the order."))
    order = _order_for_staff(order_id=order_id, store_id=store_id)
    if order.status != Status.OPEN:
        raise CheckoutOrderNotReleasable()
    closed = _close_wechat_order(order=order, now=now)
    if closed is None:
        raise PaymentProviderUnavailable()
    if closed is False:
        with contextlib.suppress(PaymentNotConfirmed):
            checkout_order_confirm(member_id=order.member_id, order_id=order.pk, now=now)
            return CheckoutOrder.objects.get(pk=order.pk)
    with transaction.atomic():
        order = _lock(member_id=order.member_id, order_id=order.pk)
        if order.status != Status.OPEN:
            raise CheckoutOrderNotReleasable()
        _release(order=order, status=Status.CANCELLED, now=now)
        _checked_if_closed(order=order, now=now)
        CheckoutOrder.objects.filter(pk=order.pk).update(released_by=released_by, release_reason=reason[:200])
    order.refresh_from_db()
    return order


def checkout_order_expire(*, order_id: int, now: datetime) -> bool:
    """Release an open order whose time is up; return whether this call did. Safe to run twice."""
    member_id = CheckoutOrder.objects.filter(pk=order_id).values_list("member_id", flat=True).first()
    if member_id is None:
        return False
    with transaction.atomic():
        order = _lock(member_id=member_id, order_id=order_id)
        if order.status != Status.OPEN or order.expires_at > now:
            return False
        _release(order=order, status=Status.EXPIRED, now=now)
        return True


def checkout_orders_expire(*, now: datetime, limit: int = 1000) -> int:
    """The periodic job: close the WeChat Pay order of every open order whose time is up and release it, one
    transaction per order (one WeChat Pay will not close, paid meanwhile, is confirmed instead); close and ask WeChat
    Pay about each released order (a mini program closed before confirming) and confirm those paid, asking again at
    every run until WeChat Pay has answered (for a day); ask WeChat Pay again for the refunds it could not take at
    once (up to CHECKOUT_REFUND_MAX_ATTEMPTS). Return how many orders were released. Safe to run twice."""
    due = CheckoutOrder.objects.filter(status=Status.OPEN, expires_at__lte=now).order_by("expires_at", "pk")
    released = 0
    for order in due[:limit]:
        # One order that fails for a reason nobody foresaw must not hold up the others (it is first in line at
        # every run): logged with its trace, and tried again at the next run.
        try:
            released += _expire_due(order=order, now=now)
        except Exception:
            logger.exception("Checkout order %s could not be expired", order.pk)
    unchecked = CheckoutOrder.objects.filter(
        status__in=(Status.EXPIRED, Status.CANCELLED, Status.FAILED),
        payment_checked_at__isnull=True,
        closed_at__gte=now - PAYMENT_CHECK_DAYS,
    ).order_by("closed_at", "pk")
    for order in unchecked[:limit]:
        order_id, member_id = order.pk, order.member_id
        if _close_wechat_order(order=order, now=now) is None:
            continue  # no answer: closed and asked at the next run
        if _confirm_if_paid(order_id=order_id, member_id=member_id, now=now):
            CheckoutOrder.objects.filter(pk=order_id, payment_checked_at__isnull=True).update(payment_checked_at=now)
    pending = CheckoutOrder.objects.filter(status=Status.REFUND_PENDING).order_by("pk").values_list("pk", flat=True)
    for order_id in pending[:limit]:
        # One refund WeChat Pay will not take must not hold up the others (a down WeChat Pay answers at once
        # through its circuit breaker): each stays refund_pending and is asked again at the next run.
        try:
            checkout_order_refund(order_id=order_id, now=now)
        except (PaymentProviderUnavailable, PaymentNotConfirmed) as refusal:
            logger.warning("Refund of checkout order %s not taken by WeChat Pay: %s", order_id, refusal.code)
    return released


def _expire_due(*, order: CheckoutOrder, now: datetime) -> int:
    """Close and release one open order whose time is up; return 1 when it was released."""
    # WeChat Pay closes the order first, so nobody pays an expired order; one it will not close may have been
    # paid meanwhile: asked first, it is confirmed with its hold still in place.
    closed = _close_wechat_order(order=order, now=now)
    if closed is False:
        _confirm_if_paid(order_id=order.pk, member_id=order.member_id, now=now)
        if not CheckoutOrder.objects.filter(pk=order.pk, status=Status.OPEN).exists():
            return 0  # paid: recorded or refunded
    if checkout_order_expire(order_id=order.pk, now=now):
        _checked_if_closed(order=order, now=now)
        return 1
    return 0


def _confirm_if_paid(*, order_id: int, member_id: int, now: datetime) -> bool:
    """Confirm a released order if WeChat Pay says it was paid (recorded, or refunded). Return whether WeChat Pay
    answered (False: ask again at the next run)."""
    try:
        checkout_order_confirm(member_id=member_id, order_id=order_id, now=now)
    except PaymentNotConfirmed:
        pass  # not paid: the order simply ended
    except PaymentProviderUnavailable:
        logger.warning("WeChat Pay did not answer for released checkout order %s", order_id)
        return False
    except LoyaltyError as refusal:  # e.g. the payment already paid for something else: nothing to settle here
        logger.warning("Released checkout order %s not confirmed: %s", order_id, refusal.code)
    return True


# -- confirmation ------------------------------------------------------------------------------------------------
def checkout_order_confirm(
    *, member_id: int, order_id: int, now: datetime, payments: WechatPayClient | None = None
) -> CheckoutOrderResult:
    """Settle the member's order once WeChat Pay says it is paid: the purchase is recorded, spending what was held.

    A paid order answers its purchase again (is_replay). An order whose hold was released (cancelled, expired) is
    honoured when the member still has the points, stored value and coupon; when the checkout refuses the paid
    cart for any reason, the payment is refunded through WeChat Pay and the member is notified: the answer is the
    order, `refunded` (or `refund_pending` when WeChat Pay could not take the refund yet; the job asks again).
    Raises NotFound, PaymentNotConfirmed (not paid yet, or not by this member), PaymentProviderUnavailable.
    """
    order = checkout_order_get(member_id=member_id, order_id=order_id)
    if order.status == Status.PAID:
        return _paid(order, is_replay=True)
    if order.status in REFUNDING:
        return _refunded(order_id=order.pk, now=now, payments=payments)
    payment = wechat_payment_confirm(
        member_id=member_id, out_trade_no=order.out_trade_no, field="out_trade_no", client=payments
    )
    paid_at = (payment.paid_at or now).astimezone(UTC)
    try:
        with transaction.atomic():
            order = _lock(member_id=member_id, order_id=order.pk)
            if order.status == Status.PAID:  # a twin confirmation settled it while we asked WeChat Pay
                return _paid(order, is_replay=True)
            if order.status in REFUNDING:
                return _refunded(order_id=order.pk, now=now, payments=payments, call=False)
            if order.hold_id:
                balance_hold_close(hold_id=order.hold_id, now=now, settled=True)
            context, checkout_settings = _context(member_id=member_id, now=now)
            checkout = purchase_checkout(
                cart=_cart(order.cart, out_trade_no=order.out_trade_no, paid_at=paid_at),
                context=context,
                settings=checkout_settings,
                confirmed_paid_amount=payment.amount,
            )
            CheckoutOrder.objects.filter(pk=order.pk).update(
                status=Status.PAID, purchase=checkout.purchase, paid_amount=payment.amount, closed_at=now
            )
    except LoyaltyError as refusal:
        # The money is WeChat Pay's word, the cart is refused (what it held is gone, its price moved, the program
        # closed): nothing of the purchase was written, so the payment goes back.
        _refund_start(order_id=order.pk, reason=refusal.code, paid_amount=payment.amount, now=now)
        return _refunded(order_id=order.pk, now=now, payments=payments)
    order.refresh_from_db()
    return CheckoutOrderResult(order=order, checkout=checkout)


def _paid(order: CheckoutOrder, *, is_replay: bool) -> CheckoutOrderResult:
    checkout = CheckoutResult(
        purchase=order.purchase, checkout=order.purchase.checkout, is_replay=is_replay,
        member_number=order.member.member_number,
    )  # fmt: skip
    return CheckoutOrderResult(order=order, is_replay=is_replay, checkout=checkout)


def checkout_order_result(order: CheckoutOrder) -> CheckoutOrderResult:
    """The order as an answer: with its purchase once paid."""
    return _paid(order, is_replay=True) if order.purchase_id else CheckoutOrderResult(order=order)


def checkout_order_of_member(*, member_id: int, order_id: int) -> CheckoutOrderResult:
    """The member's own order as their API answers it (checkout_order_get, then checkout_order_result): with its
    purchase once paid. A read: it changes nothing. Raises NotFound (also for another member's order)."""
    return checkout_order_result(checkout_order_get(member_id=member_id, order_id=order_id))


# Why a payment was given back, told to the member: by the code of the checkout's refusal (`refund_reason`).
REFUND_WHY_AMOUNT = _("the amount paid was not the amount due.")
REFUND_WHY_CLOSED = _("the purchase could no longer be recorded.")
REFUND_WHY_HELD = _(
    "when it arrived, the points, stored value or coupon the order was to use were no longer available."
)
REFUND_WHY_BY_CODE = {
    "payment_amount_mismatch": REFUND_WHY_AMOUNT,
    "member_not_active": REFUND_WHY_CLOSED,
    "mini_program_checkout_disabled": REFUND_WHY_CLOSED,
    "store_inactive": REFUND_WHY_CLOSED,
}


def _notify_refunded(order: CheckoutOrder, *, now: datetime) -> None:
    """Tell the member their money is back: once per order, whoever records the refund first."""
    notify(
        member_id=order.member_id,
        kind=Notification.Kind.CHECKOUT_REFUNDED,
        params=_refund_params(order),
        dedupe_key=f"checkout_refunded:{order.pk}",
        now=now,
    )


def _refund_params(order: CheckoutOrder) -> dict:
    """The checkout_refunded notification's parameters, the why in every language (rendered in the member's)."""
    why = REFUND_WHY_BY_CODE.get(order.refund_reason, REFUND_WHY_HELD)
    texts = {}
    for language in languages():
        with translation.override(language):
            texts[language] = str(why)
    return {"amount": f"{settings.CURRENCY} {order.paid_amount}", "order": order.out_trade_no, "why": texts}


@transaction.atomic
def _refund_start(*, order_id: int, reason: str, paid_amount: Decimal, now: datetime) -> None:
    """Mark a paid order that cannot be honoured as refund_pending, giving back what it still holds. The payment's
    use is recorded as refunded, so it can pay for nothing else."""
    member_id = CheckoutOrder.objects.filter(pk=order_id).values_list("member_id", flat=True).get()
    order = _lock(member_id=member_id, order_id=order_id)
    if order.status not in (Status.OPEN, Status.CANCELLED, Status.EXPIRED, Status.FAILED):
        return  # a twin settled or refunded it meanwhile
    if order.status == Status.OPEN:
        _release(order=order, status=Status.REFUND_PENDING, now=now)
    payment_use_record(
        provider=PaymentMethod.WECHAT_PAY_HK, transaction_id=order.out_trade_no, member_id=member_id,
        purpose=PaymentUse.Purpose.REFUNDED, now=now, field="out_trade_no",
    )  # fmt: skip
    CheckoutOrder.objects.filter(pk=order.pk).update(
        status=Status.REFUND_PENDING, refund_reason=reason[:64], paid_amount=paid_amount, closed_at=now
    )


def _refunded(
    *, order_id: int, now: datetime, payments: WechatPayClient | None = None, call: bool = True
) -> CheckoutOrderResult:
    if call:
        with contextlib.suppress(PaymentProviderUnavailable):  # stays refund_pending: the job asks WeChat Pay again
            checkout_order_refund(order_id=order_id, now=now, payments=payments)
    return CheckoutOrderResult(order=CheckoutOrder.objects.select_related("coupon").get(pk=order_id))


def direct_payment_refund(
    *, member_id: int, cart: Cart, payment: WechatPayment, reason: str, refundable: bool, now: datetime,
    payments: WechatPayClient | None = None, for_reward: bool = False,
) -> CheckoutOrder | None:  # fmt: skip
    """Give back a WeChat Pay payment made without a checkout order (me/purchases' direct path) whose cart the
    checkout refused (`reason`, the refusal's code; `refundable` False for a refusal that is not the cart's):
    it is recorded as a checkout order of the member already refund_pending (holding nothing, its payment's use
    recorded as refunded), then refunded exactly as a checkout order's refund is (asked again by the expiry job,
    followed to its final status, the member told once). Return that order: the one a twin recorded first, or
    None when the payment is not this member's to give back (its purchase was recorded, it paid for something
    else, or `refundable` is False). `for_reward`: the cash part of a mall reward (points.services.mall), which no
    purchase records and which has no checkout store. Call it outside any transaction: WeChat Pay is asked."""
    with transaction.atomic():
        lock_member(member_id=member_id)  # as every use of the member's payment
        order = CheckoutOrder.objects.filter(out_trade_no=payment.out_trade_no).first()
        if order is None:
            used = payment_is_used(provider=PaymentMethod.WECHAT_PAY_HK, transaction_id=payment.out_trade_no)
            if not refundable or used:
                return None
            store_id = None
            if not for_reward:
                context, _settings = _context(member_id=member_id, now=now)
                if Purchase.objects.filter(
                    channel=context.channel, store_id=context.store_id, external_id=payment.out_trade_no
                ).exists():
                    return None
                store_id = context.store_id
            stored_cart = _cart_json(cart)
            order = CheckoutOrder.objects.create(
                member_id=member_id, out_trade_no=payment.out_trade_no,
                # A member's own keys are stripped: this one, with its leading space, is never theirs.
                idempotency_key=f" direct payment {payment.out_trade_no}",
                request_hash=idempotency_request_hash(stored_cart),
                cart=stored_cart, amount_due=payment.amount, points_to_spend=cart.points_to_spend or 0,
                stored_value_amount=cart.stored_value_amount or ZERO, store_id=store_id,
                status=Status.REFUND_PENDING, created_at=now, expires_at=now, closed_at=now, payment_checked_at=now,
                paid_amount=payment.amount, refund_reason=reason[:64],
            )  # fmt: skip
            payment_use_record(
                provider=PaymentMethod.WECHAT_PAY_HK, transaction_id=order.out_trade_no, member_id=member_id,
                purpose=PaymentUse.Purpose.REFUNDED, now=now, field="out_trade_no",
            )  # fmt: skip
        elif order.member_id != member_id or order.status not in REFUNDING:
            return None
    return _refunded(order_id=order.pk, now=now, payments=payments).order


def checkout_order_refund(*, order_id: int, now: datetime, payments: WechatPayClient | None = None) -> bool:
    """Ask WeChat Pay to refund a refund_pending order (by its own refund number, so asking twice refunds once), then
    mark it refunded and notify the member why. Return whether this call marked it. Raises
    PaymentProviderUnavailable (it stays refund_pending), PaymentNotConfirmed.

    Each refusal counts: a refund WeChat Pay reports ABNORMAL (the payer's account cannot take it back), or refused
    CHECKOUT_REFUND_MAX_ATTEMPTS times, is no longer asked again: refund_failed, for staff to settle by hand."""
    order = CheckoutOrder.objects.get(pk=order_id)
    if order.status != Status.REFUND_PENDING:
        return False
    try:
        refund = (payments or get_wechat_pay_client()).refund(
            out_trade_no=order.out_trade_no,
            out_refund_no=_out_refund_no(order),
            amount=order.paid_amount,
            total=order.paid_amount,
            currency=settings.CURRENCY,
            reason=str(order.refund_reason),
        )
    except (PaymentProviderUnavailable, PaymentNotConfirmed):
        _refund_refused(order=order, now=now)
        raise
    if not refund.is_accepted and not refund.is_final:  # an answer we do not know: asked again, counted
        _refund_refused(order=order, now=now, refund_id=refund.refund_id)
        raise PaymentProviderUnavailable()
    return checkout_order_refund_outcome(order_id=order.pk, refund=refund, now=now) == Status.REFUNDED


def _out_refund_no(order: CheckoutOrder) -> str:
    """The refund's own number at WeChat Pay: one per order, so asking again never refunds twice."""
    return f"{order.out_trade_no}-R"


def checkout_order_refund_outcome(*, order_id: int, refund: WechatRefund, now: datetime) -> str | None:
    """Record what WeChat Pay says of the order's refund (its refund answer, a query, or its refund notification);
    return the order's status when this call moved it, None when nothing changed (asked again, a twin was first).

    PROCESSING: a refund_pending order is `refunding` (asked again by the refund job). SUCCESS: `refunded`, and the
    member is told (once, by dedupe key); a refund_failed order nobody refunded by hand yet is refunded too (WeChat
    Pay took the refund after all). ABNORMAL or CLOSED: `refund_failed`, for staff; logged once."""
    member_id = CheckoutOrder.objects.filter(pk=order_id).values_list("member_id", flat=True).get()
    moved_to = None
    with transaction.atomic():
        # Lock order, as everywhere: the member, then the order (the member's notification needs the member row).
        order = _lock(member_id=member_id, order_id=order_id)
        if refund.out_refund_no != _out_refund_no(order):
            logger.warning("WeChat Pay refund %s is not checkout order %s's", refund.out_refund_no[:64], order.pk)
            return None
        changes = {"refund_id": refund.refund_id[:64], "refund_status": refund.status}
        if refund.status == "PROCESSING" and order.status == Status.REFUND_PENDING:
            moved_to = Status.REFUND_PROCESSING
        elif refund.status == "SUCCESS" and (
            order.status in (Status.REFUND_PENDING, Status.REFUND_PROCESSING)
            or (order.status == Status.REFUND_FAILED and order.refunded_by_id is None)
        ):
            moved_to, changes["refunded_at"] = Status.REFUNDED, now
            _notify_refunded(order, now=now)
        elif refund.status in ("ABNORMAL", "CLOSED") and order.status in (
            Status.REFUND_PENDING,
            Status.REFUND_PROCESSING,
        ):
            moved_to, changes["refunded_at"] = Status.REFUND_FAILED, None
        elif refund.status not in REFUND_STATUSES:
            logger.warning("WeChat Pay said %r of checkout order %s's refund", refund.status[:16], order.pk)
        if moved_to is not None:
            CheckoutOrder.objects.filter(pk=order.pk).update(status=moved_to, **changes)
    if moved_to == Status.REFUND_FAILED:
        logger.error(
            "Refund of checkout order %s (%s %s) failed at WeChat Pay (%s): staff must refund it by hand",
            order.out_trade_no, settings.CURRENCY, order.paid_amount, refund.status,
        )  # fmt: skip
    return moved_to


def checkout_order_refunds_follow(*, now: datetime, limit: int = 1000, payments: WechatPayClient | None = None) -> int:
    """The refund job: ask WeChat Pay about each refund it took but still processes (`refunding`), by its refund
    number, and record its outcome once final. Return how many orders it moved. Safe to run twice, and alongside
    WeChat Pay's refund notifications (whichever comes first moves the order; the other changes nothing)."""
    client = payments or get_wechat_pay_client()
    processing = CheckoutOrder.objects.filter(status=Status.REFUND_PROCESSING).order_by("created_at", "pk")
    moved = 0
    for order in processing[:limit]:
        try:
            refund = client.refund_by_out_refund_no(_out_refund_no(order))
        except (PaymentProviderUnavailable, PaymentNotConfirmed) as refusal:
            logger.warning("WeChat Pay did not answer for the refund of checkout order %s: %s", order.pk, refusal.code)
            continue
        if refund.is_final and checkout_order_refund_outcome(order_id=order.pk, refund=refund, now=now):
            moved += 1
    return moved


def _refund_refused(*, order: CheckoutOrder, now: datetime, refund_id: str = "") -> None:
    """Count a refund WeChat Pay did not take; the last allowed try ends refund_failed. Only the call that moves it
    there logs the alert, so staff hear of each failed refund once (then it waits on their list)."""
    pending = CheckoutOrder.objects.filter(pk=order.pk, status=Status.REFUND_PENDING)
    pending.update(refund_attempts=F("refund_attempts") + 1)
    give_up = pending.filter(refund_attempts__gte=max(int(settings.CHECKOUT_REFUND_MAX_ATTEMPTS), 1))
    if give_up.update(status=Status.REFUND_FAILED, refund_id=refund_id[:64], refunded_at=None):
        logger.error(
            "Refund of checkout order %s (%s %s) failed at WeChat Pay (%s): staff must refund it by hand",
            order.out_trade_no, settings.CURRENCY, order.paid_amount, "too many refusals",
        )  # fmt: skip


def checkout_order_refunded_by_hand(
    *, order_id: int, refunded_by, note: str, now: datetime, store_id: int | None = None
) -> CheckoutOrder:
    """Staff record that they refunded a refund_failed order by hand (in WeChat Pay's merchant platform, or otherwise):
    `refunded_by`, `note` (how and why) and `now` are kept on the order (the audit), which is `refunded` and leaves
    the refund_failed count; the member is told their money is back (once, by the refund's dedupe key). Limited to
    `store_id` when given. Raises NotFound (unknown, or outside the store), CheckoutOrderNotRefundableByHand (not
    refund_failed, e.g. recorded already, or WeChat Pay took the refund meanwhile), ReasonRequired."""
    note = (note or "").strip()
    if not note:
        raise ReasonRequired.for_field("note", message=_("Say how the order was refunded by hand."))
    order = _order_for_staff(order_id=order_id, store_id=store_id)
    with transaction.atomic():
        order = _lock(member_id=order.member_id, order_id=order.pk)  # the member, then the order
        if order.status != Status.REFUND_FAILED:
            raise CheckoutOrderNotRefundableByHand()
        CheckoutOrder.objects.filter(pk=order.pk).update(
            status=Status.REFUNDED, refunded_by=refunded_by, refund_note=note[:200], refunded_at=now
        )
        _notify_refunded(order, now=now)
    order.refresh_from_db()
    return order


def refund_failed_count(*, store_id: int | None = None) -> int:
    """How many paid orders wait for staff to refund them by hand (in `store_id` when given)."""
    orders = CheckoutOrder.objects.filter(status=Status.REFUND_FAILED)
    return (orders.filter(store_id=store_id) if store_id is not None else orders).count()


# -- WeChat Pay's payment notification ---------------------------------------------------------------------------
def checkout_order_notified(
    *, headers, body: bytes, now: datetime, payments: WechatPayClient | None = None
) -> CheckoutOrder | None:
    """Take a notification WeChat Pay posted: once its signature checks out and its resource is decrypted, the order
    it names is confirmed exactly as the member's confirm does (asking WeChat Pay, settling once; asked again,
    nothing more happens). A refund's notification (its resource names `out_refund_no` and `refund_status`) records
    the refund's outcome instead (checkout_order_refund_outcome). Return the order (None: not one of ours, or no
    payment of it yet). Raises PaymentNotificationRefused (a bad or stale signature, an unknown serial: nothing
    changes), PaymentProviderUnavailable (WeChat Pay could not be asked, or a notification we cannot read: it
    notifies again later)."""
    client = payments or get_wechat_pay_client()
    data = client.notification(headers=headers, body=body)
    if "out_refund_no" in data:
        return _refund_notified(client.refund_from_notification(data), now=now)
    out_trade_no = str(data.get("out_trade_no") or "")
    order = CheckoutOrder.objects.filter(out_trade_no=out_trade_no).only("pk", "member_id").first()
    if order is None:
        logger.info("WeChat Pay notified a payment of an order that is no checkout order: %s", out_trade_no[:32])
        return None
    try:
        checkout_order_confirm(member_id=order.member_id, order_id=order.pk, now=now, payments=client)
    except PaymentNotConfirmed:
        return None
    except PaymentProviderUnavailable:
        raise
    except LoyaltyError as refusal:  # e.g. the payment already paid for something else: nothing to settle here
        logger.warning("Notified checkout order %s not confirmed: %s", order.pk, refusal.code)
    return CheckoutOrder.objects.get(pk=order.pk)


def _refund_notified(refund: WechatRefund, *, now: datetime) -> CheckoutOrder | None:
    order = CheckoutOrder.objects.filter(out_trade_no=refund.out_trade_no).only("pk").first()
    if order is None:
        logger.info("WeChat Pay notified a refund of an order that is no checkout order: %s", refund.out_trade_no[:32])
        return None
    if refund.is_final:
        checkout_order_refund_outcome(order_id=order.pk, refund=refund, now=now)
    return CheckoutOrder.objects.get(pk=order.pk)
