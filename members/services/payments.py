"""Payments a member says they made in the mini program, confirmed with the payment provider.

Anything a member's phone posts about money (a purchase, a top-up, a paid plan) is recorded only when the
provider confirms it: the order was paid, by this member's WeChat account, in the program's currency, for
the amount due. WeChat Pay is the provider the mini program pays through; other methods are recorded by
staff at the till or in the console.

One payment pays for one thing: every payer records the payment's use (payment_use_record, a PaymentUse row
unique per provider and transaction id) in the transaction that records what it paid for.
"""

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction

from infra.errors import PaymentNotConfirmed
from infra.wechat_pay import WechatPayClient, WechatPayment, get_wechat_pay_client
from members.errors import PaymentAlreadyUsed, PaymentAmountMismatch
from members.models import Member, PaymentUse

# The providers a member may name in the API: the ones this system can ask.
MEMBER_PAYMENT_PROVIDERS = ("wechat_pay_hk",)


def payment_already_used(field: str = "transaction_id") -> PaymentAlreadyUsed:
    """The refusal of a payment that already paid for something else, naming the request's field."""
    return PaymentAlreadyUsed.for_field(field)


def payment_is_used(*, provider: str, transaction_id: str) -> bool:
    """Whether a payment already paid for something: a plan, a top-up, a mini-program purchase, a mall order.

    An early answer for callers that would otherwise ask WeChat Pay about a payment already recorded; the
    judge is payment_use_record's insert.
    """
    return PaymentUse.objects.filter(provider=provider, transaction_id=transaction_id).exists()


def payment_use_record(
    *, provider: str, transaction_id: str, member_id: int | None, purpose: str, now: datetime,
    field: str = "transaction_id",
) -> PaymentUse:  # fmt: skip
    """Record, inside the caller's transaction, that this payment pays for `purpose`: its one use.

    Call it after the caller has answered replays of the same request (a replay must not be refused). The
    insert runs in a savepoint, so that a refusal leaves the caller's transaction usable on PostgreSQL; a
    concurrent use of the same payment waits for the first one's transaction and is refused once it commits.
    Raises PaymentAlreadyUsed (naming `field`) when the payment already paid for something.
    """
    try:
        with transaction.atomic():
            return PaymentUse.objects.create(
                provider=provider, transaction_id=transaction_id, member_id=member_id, purpose=purpose,
                created_at=now,
            )  # fmt: skip
    except IntegrityError as exc:
        raise payment_already_used(field) from exc


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
    not_confirmed = PaymentNotConfirmed.for_field(field)
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
        raise PaymentAmountMismatch.for_field(field)
    return payment
