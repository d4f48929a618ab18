"""Purchases paid in the mini program: recorded only once WeChat Pay confirms the member paid what is due.

The mini program runs on the member's phone, so nothing it says about money is taken on trust: the order
number (`out_trade_no`) is looked up at WeChat Pay (members.services.payments), and the purchase is recorded only
when that order was paid, by this member's WeChat account, in the program's currency, and for exactly the
amount the cart leaves to pay after discounts (the member's tier discount included, as at the till), coupon,
points and stored value. The order number is the purchase's external id under the policy's mini-program store,
so one payment earns once, whoever posts it.
The provider is asked before the checkout's transaction, never while member rows are locked.
A payment WeChat Pay confirmed whose cart the checkout then refuses (points or coupon spent meanwhile, the amount no
longer due, ...) is never kept: it is refunded as a refused checkout order's payment is (PaymentRefunded).

WeChat Pay vouches for the money, not for the cart: the items a phone reports are recorded but earn no item
bonuses (category, SKU), which only a till or a shop backend with its own key can report. The amount paid
earns as everywhere (base rate, multipliers, first purchase).
"""

from dataclasses import replace
from datetime import UTC, datetime

from django.db import transaction

from infra.errors import LoyaltyError, PaymentNotConfirmed, PaymentProviderUnavailable
from infra.wechat_pay import WechatPayClient
from members.errors import IdempotencyKeyReused, PaymentAlreadyUsed
from members.models import PaymentMethod, Purchase, PurchaseChannel
from members.services.locks import lock_member
from members.services.payments import payment_already_used, payment_is_used, wechat_payment_confirm
from points.cart import Cart, CheckoutContext
from points.errors import MiniProgramCheckoutDisabled, PaymentRefunded
from points.models import CheckoutOrder, PointsPolicy
from points.selectors import checkout_settings_get
from points.services.checkout import CheckoutResult, Pricing, purchase_checkout, purchase_preview


def mini_program_store_id(policy: PointsPolicy) -> int:
    """The store mini-program purchases are recorded under; MiniProgramCheckoutDisabled when none is set."""
    if policy.mini_program_store_id is None:
        raise MiniProgramCheckoutDisabled()
    return policy.mini_program_store_id


def _mini_program_context(*, member_id: int, policy: PointsPolicy, now: datetime) -> CheckoutContext:
    """The signed-in member buying at the policy's mini-program store; the phone's lines earn no item bonuses."""
    return CheckoutContext(
        channel=PurchaseChannel.MINI_PROGRAM,
        store_id=mini_program_store_id(policy),
        now=now,
        member_id=member_id,
        earn_on_items=False,
    )


def mini_program_purchase_preview(*, member_id: int, cart: Cart, now: datetime) -> Pricing:
    """Price the member's mini-program cart as of `now`: the tier discount, points earned, the most points it
    takes, and the amount due. Raises MiniProgramCheckoutDisabled and purchase_preview's errors."""
    settings = checkout_settings_get()
    context = _mini_program_context(member_id=member_id, policy=settings.policy, now=now)
    return purchase_preview(cart=replace(cart, purchased_at=None), context=context, settings=settings)


# Refusals that are not the cart's: the payment is not this purchase's to give back (not paid, or not known yet;
# recorded already under another body; paid for something else).
NOT_REFUNDED = frozenset(
    {PaymentNotConfirmed.code, PaymentProviderUnavailable.code, PaymentAlreadyUsed.code, IdempotencyKeyReused.code}
)


def payment_refunded(order: CheckoutOrder, *, field: str = "out_trade_no") -> PaymentRefunded:
    """The answer to a payment that is being given back (`field` names it in the request): `refund_reason` names
    why (the refusal's code)."""
    return PaymentRefunded.for_field_errors(
        {
            field: [str(PaymentRefunded.message)],
            "refund_reason": [order.refund_reason or "refunded"],  # not a fault: why it is given back
        }
    )


def checkout_order_id(*, member_id: int, out_trade_no: str) -> int | None:
    """The member's checkout order paid under `out_trade_no`, if the payment was opened for one."""
    if not out_trade_no:
        return None
    orders = CheckoutOrder.objects.filter(member_id=member_id, out_trade_no=out_trade_no)
    return orders.values_list("pk", flat=True).first()


def mini_program_purchase_checkout(
    *, member_id: int, cart: Cart, now: datetime, payments: WechatPayClient | None = None
) -> CheckoutResult:
    """Record the member's mini-program purchase paid through the WeChat Pay order named by the cart's external id
    (its `out_trade_no`), dated when it was paid.

    A replay of a recorded order answers from the checkout without asking WeChat Pay again. The payment of a
    checkout order (points.services.checkout_orders) confirms that order instead: PaymentRefunded when it could
    not be honoured and its money goes back; so does a payment made without an order whose cart purchase_checkout
    refuses (checkout_orders.direct_payment_refund; its refusal is the `refund_reason`). Raises
    MiniProgramCheckoutDisabled, PaymentNotConfirmed (no such order, not paid, paid by someone else or in
    another currency), PaymentProviderUnavailable, PaymentRefunded, PaymentAlreadyUsed and IdempotencyKeyReused.
    """
    settings = checkout_settings_get()
    context = _mini_program_context(member_id=member_id, policy=settings.policy, now=now)
    out_trade_no = (cart.external_id or "").strip()
    order_id = checkout_order_id(member_id=member_id, out_trade_no=out_trade_no)
    if order_id is not None:
        # The payment of a checkout order settles that order (what it held, its coupon; or its refund), whichever
        # endpoint reports it: the order's own cart is what was priced, held and paid for.
        from points.services.checkout_orders import checkout_order_confirm  # built on this module

        result = checkout_order_confirm(member_id=member_id, order_id=order_id, now=now, payments=payments)
        if result.checkout is None:
            raise payment_refunded(result.order)
        return result.checkout
    cart = replace(cart, external_id=out_trade_no, payment_method=PaymentMethod.WECHAT_PAY_HK)
    recorded = Purchase.objects.filter(
        channel=PurchaseChannel.MINI_PROGRAM, store_id=context.store_id, external_id=out_trade_no
    ).values_list("purchased_at", flat=True)
    recorded_at = recorded.first() if out_trade_no else None
    if recorded_at is not None:
        # Same body: the first answer; another body: idempotency_key_reused. WeChat Pay is not asked again.
        replayed = replace(cart, purchased_at=recorded_at.astimezone(UTC))
        return purchase_checkout(cart=replayed, context=context, settings=settings)
    payment = wechat_payment_confirm(
        member_id=member_id, out_trade_no=out_trade_no, field="out_trade_no", client=payments
    )
    # In UTC, as the database gives it back, so that a replay hashes to the same request.
    paid = replace(cart, purchased_at=(payment.paid_at or now).astimezone(UTC))
    try:
        with transaction.atomic():
            lock_member(member_id=member_id)  # the payment is this member's: their lock orders its uses
            # Looked at again under the lock: a twin request may have recorded (or refunded) this order meanwhile.
            if not recorded.exists() and payment_is_used(
                provider=PaymentMethod.WECHAT_PAY_HK, transaction_id=out_trade_no
            ):
                raise payment_already_used("out_trade_no")
            return purchase_checkout(
                cart=paid, context=context, settings=settings, confirmed_paid_amount=payment.amount
            )
    except LoyaltyError as refusal:
        # WeChat Pay has the member's money and the cart is refused (points or coupon spent meanwhile, the amount no
        # longer due, ...): nothing was written, so the payment goes back as a refused checkout order's does.
        from points.services.checkout_orders import direct_payment_refund  # built on this module

        order = direct_payment_refund(
            member_id=member_id, cart=paid, payment=payment, reason=refusal.code,
            refundable=refusal.code not in NOT_REFUNDED, now=now, payments=payments,
        )  # fmt: skip
        if order is None:
            raise
        raise payment_refunded(order) from refusal
