"""Payments a member says they made in the mini program, confirmed with the payment provider.

Anything a member's phone posts about money (a purchase, a top-up, a paid plan) is recorded only when the
provider confirms it: the order was paid, by this member's WeChat account, in the program's currency, for
the amount due. WeChat Pay is the provider the mini program pays through; other methods are recorded by
staff at the till or in the console.
"""

from collections.abc import Callable
from decimal import Decimal

from django.conf import settings

from members.errors import PaymentAlreadyUsed, PaymentAmountMismatch, PaymentNotConfirmed
from members.models import Member, MemberPlanSubscription, Purchase, PurchaseChannel, StoredValueEntry
from members.wechat_pay import WechatPayClient, WechatPayment, get_wechat_pay_client

# The providers a member may name in the API: the ones this system can ask.
MEMBER_PAYMENT_PROVIDERS = ("wechat_pay_hk",)

# Apps above members (the points mall) register how to find the payments they recorded.
_use_checks: list[Callable[[str, str], bool]] = []


def payment_use_check_register(check: Callable[[str, str], bool]) -> None:
    """Add `check(provider, transaction_id) -> bool` to what payment_is_used asks (from an AppConfig.ready)."""
    if check not in _use_checks:
        _use_checks.append(check)


def payment_already_used(field: str = "transaction_id") -> PaymentAlreadyUsed:
    """The refusal of a payment that already paid for something else, naming the request's field."""
    return PaymentAlreadyUsed(fields={field: [str(PaymentAlreadyUsed.message)]})


def payment_is_used(*, provider: str, transaction_id: str) -> bool:
    """Whether a payment already paid for something: a plan, a top-up, a mini-program purchase, a mall order.

    One payment pays for one thing. A payment confirmed by WeChat Pay belongs to one member, and every caller
    holds that member's lock, so checking before recording cannot race with another use of the same payment.
    """
    return (
        MemberPlanSubscription.objects.filter(provider=provider, transaction_id=transaction_id).exists()
        or StoredValueEntry.objects.filter(idempotency_key=f"top_up:{provider}:{transaction_id}").exists()
        or Purchase.objects.filter(
            channel=PurchaseChannel.MINI_PROGRAM, payment_method=provider, external_id=transaction_id
        ).exists()
        or any(check(provider, transaction_id) for check in _use_checks)
    )


def wechat_payment_confirm(
    *,
    member_id: int,
    out_trade_no: str,
    field: str,
    amount: Decimal | None = None,
    client: WechatPayClient | None = None,
) -> WechatPayment:
    """Return WeChat Pay's record of order `out_trade_no` once it is confirmed as this member's paid order.

    With `amount`, the amount paid must be exactly that. The provider is asked over HTTP: call this outside
    any transaction that holds locks. Raises PaymentNotConfirmed and PaymentAmountMismatch (naming `field`),
    PaymentProviderUnavailable.
    """
    not_confirmed = PaymentNotConfirmed(fields={field: [str(PaymentNotConfirmed.message)]})
    try:
        payment = (client or get_wechat_pay_client()).payment_by_out_trade_no(out_trade_no)
    except PaymentNotConfirmed:
        raise not_confirmed from None
    openid = Member.objects.filter(pk=member_id).values_list("wechat_openid", flat=True).first()
    if (
        not payment.is_paid
        or not openid
        or payment.payer_openid != openid
        or payment.out_trade_no != out_trade_no
        or payment.currency.upper() != settings.CURRENCY.upper()
    ):
        raise not_confirmed
    if amount is not None and payment.amount != amount:
        raise PaymentAmountMismatch(fields={field: [str(PaymentAmountMismatch.message)]})
    return payment
