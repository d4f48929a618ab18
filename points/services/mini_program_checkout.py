"""Purchases paid in the mini program: recorded only once WeChat Pay confirms the member paid what is due.

The mini program runs on the member's phone, so nothing it says about money is taken on trust: the order
number (`out_trade_no`) is looked up at WeChat Pay (members.services.payments), and the purchase is recorded only
when that order was paid, by this member's WeChat account, in the program's currency, and for exactly the
amount the cart leaves to pay after discounts (the member's tier discount included, as at the till), coupon,
points and stored value. The order number is the purchase's external id under the policy's mini-program store,
so one payment earns once, whoever posts it.
The provider is asked before the checkout's transaction, never while member rows are locked.

WeChat Pay vouches for the money, not for the cart: the items a phone reports are recorded but earn no item
bonuses (category, SKU), which only a till or a shop backend with its own key can report. The amount paid
earns as everywhere (base rate, multipliers, first purchase).
"""

from datetime import UTC, datetime
from decimal import Decimal

from django.db import transaction

from infra.wechat_pay import WechatPayClient
from members.models import PaymentMethod, Purchase, PurchaseChannel
from members.services.locks import lock_member
from members.services.payments import payment_already_used, payment_is_used, wechat_payment_confirm
from points.errors import MiniProgramCheckoutDisabled
from points.models import PointsPolicy
from points.selectors import checkout_settings_get
from points.services.checkout import CheckoutResult, Pricing, purchase_checkout, purchase_preview

ZERO = Decimal(0)


def mini_program_store_id(policy: PointsPolicy | None = None) -> int:
    """The store mini-program purchases are recorded under; MiniProgramCheckoutDisabled when none is set."""
    store_id = (policy or PointsPolicy.load()).mini_program_store_id
    if store_id is None:
        raise MiniProgramCheckoutDisabled()
    return store_id


def mini_program_purchase_preview(
    *,
    member_id: int,
    gross_amount: Decimal,
    now: datetime,
    discount_amount: Decimal = ZERO,
    stored_value_amount: Decimal = ZERO,
    items: list[dict] | None = None,
    points_to_spend: int = 0,
    coupon_code: str = "",
) -> Pricing:
    """Price the member's mini-program cart: the tier discount, points earned, the most points it takes, and the
    amount due."""
    return purchase_preview(
        store_id=mini_program_store_id(),
        channel=PurchaseChannel.MINI_PROGRAM,
        gross_amount=gross_amount,
        now=now,
        member_id=member_id,
        discount_amount=discount_amount,
        stored_value_amount=stored_value_amount,
        items=items,
        points_to_spend=points_to_spend,
        coupon_code=coupon_code,
        earn_on_items=False,
    )


def mini_program_purchase_checkout(
    *,
    member_id: int,
    out_trade_no: str,
    gross_amount: Decimal,
    now: datetime,
    discount_amount: Decimal = ZERO,
    stored_value_amount: Decimal = ZERO,
    items: list[dict] | None = None,
    points_to_spend: int = 0,
    coupon_code: str = "",
    payments: WechatPayClient | None = None,
) -> CheckoutResult:
    """Record the member's mini-program purchase paid through WeChat Pay order `out_trade_no`.

    A replay of a recorded order answers from the checkout without asking WeChat Pay again. Raises
    MiniProgramCheckoutDisabled, PaymentNotConfirmed (no such order, not paid, paid by someone else or in
    another currency), PaymentAmountMismatch, PaymentProviderUnavailable, and purchase_checkout's errors.
    """
    checkout_settings = checkout_settings_get()
    store_id = mini_program_store_id(checkout_settings.policy)
    out_trade_no = (out_trade_no or "").strip()
    checkout = {
        "store_id": store_id,
        "channel": PurchaseChannel.MINI_PROGRAM,
        "external_id": out_trade_no,
        "payment_method": PaymentMethod.WECHAT_PAY_HK,
        "member_id": member_id,
        "gross_amount": gross_amount,
        "discount_amount": discount_amount,
        "stored_value_amount": stored_value_amount,
        "items": items,
        "points_to_spend": points_to_spend,
        "coupon_code": coupon_code,
        "now": now,
        "policy": checkout_settings.policy,
        "checkout_settings": checkout_settings,
        "earn_on_items": False,
    }
    recorded = Purchase.objects.filter(
        channel=PurchaseChannel.MINI_PROGRAM, store_id=store_id, external_id=out_trade_no
    ).values_list("purchased_at", flat=True)
    recorded_at = recorded.first() if out_trade_no else None
    if recorded_at is not None:
        # Same body: the first answer; another body: idempotency_key_reused. WeChat Pay is not asked again.
        return purchase_checkout(**checkout, purchased_at=recorded_at.astimezone(UTC))
    payment = wechat_payment_confirm(
        member_id=member_id, out_trade_no=out_trade_no, field="out_trade_no", client=payments
    )
    # In UTC, as the database gives it back, so that a replay hashes to the same request.
    paid_at = (payment.paid_at or now).astimezone(UTC)
    with transaction.atomic():
        lock_member(member_id=member_id)  # the payment is this member's: their lock orders its uses
        # Looked at again under the lock: a twin request may have recorded this order meanwhile.
        if not recorded.exists() and payment_is_used(provider=PaymentMethod.WECHAT_PAY_HK, transaction_id=out_trade_no):
            raise payment_already_used("out_trade_no")
        return purchase_checkout(**checkout, purchased_at=paid_at, confirmed_paid_amount=payment.amount)
