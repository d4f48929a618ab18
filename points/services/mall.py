"""The points mall: redeem a reward, hand over a pickup, cancel an order, and the console's stock, image and
partner-code writers.

Lock order, as everywhere: the member row (members.services.locks), then the reward row (taken by the
conditional UPDATE of its stock), then the order row. A redemption is one transaction: stock, points, the
order and what it gives (a coupon, stored value, a partner code) are written together or not at all.
Nothing here reads the clock: `now` comes in.
"""

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from coupons.errors import ClaimWindowClosed, SoldOut, TemplateInactive
from coupons.models import Coupon
from coupons.services import coupon_template_issue_to_member
from infra.csv_uploads.decoding import AUTO, ImportFileRefused, decode
from infra.csv_uploads.reading import csv_records
from infra.errors import InvalidInput, LoyaltyError
from infra.translation import translations_of
from members.errors import IdempotencyKeyReused, ReasonRequired
from members.models import PaymentUse, PointsEntry, Store
from members.selectors import points_spent_expiry
from members.services.idempotency import (
    IdempotentResult,
    idempotency_key_validate,
    idempotency_request_hash,
    idempotency_run,
)
from members.services.ledger import points_credit, points_debit
from members.services.locks import lock_member
from members.services.payments import payment_already_used, payment_is_used, payment_use_record, wechat_payment_confirm
from members.services.stored_value import stored_value_grant
from points.cart import Cart
from points.errors import (
    OrderNotAwaitingPickup,
    OrderNotCancellable,
    OutOfStock,
    PickupCodeInvalid,
    PickupStoreInvalid,
    PickupWrongStore,
    RewardNotAvailable,
    RewardNotFound,
    RewardOrderNotFound,
    RewardPaymentRequired,
)
from points.images import thumbnail_make
from points.models import PointsPolicy, Reward, RewardOrder, RewardPartnerCode
from points.selectors.mall import member_redeemed_counts, reward_order_of_member, reward_refusal

# Pickup codes: 8 characters without look-alikes (no 0/O, 1/I/L): 31**8 ≈ 8.5e11 codes, typed at a till.
PICKUP_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
PICKUP_CODE_LENGTH = 8
PICKUP_CODE_ATTEMPTS = 5
PARTNER_CODE_MAX_LENGTH = 64
PARTNER_CODE_COLUMNS = ("code", "pin", "valid_until")
LOOKUP_CHUNK = 5000
Status = RewardOrder.Status


@dataclass(frozen=True)
class RedeemResult:
    order: RewardOrder
    is_replay: bool


@dataclass(frozen=True)
class PartnerCodeImport:
    imported: int
    errors: list[dict]


def pickup_code_generate() -> str:
    return "".join(secrets.choice(PICKUP_CODE_ALPHABET) for _index in range(PICKUP_CODE_LENGTH))


def pickup_code_normalize(code: str) -> str:
    """Return a typed pickup code as stored: capitals, without spaces or dashes."""
    return "".join((code or "").split()).replace("-", "").upper()


def _payment(reward: Reward, provider: str, transaction_id: str, *, member_id: int, now: datetime) -> tuple[str, str]:
    """Return the (provider, transaction id) of the cash part, checked and recorded as this order's payment (in
    the redemption's transaction); empty strings for points-only rewards.

    Raises RewardPaymentRequired, InvalidInput (a payment for a points-only reward), PaymentAlreadyUsed.
    """
    provider, transaction_id = (provider or "").strip(), (transaction_id or "").strip()
    if reward.cash_price <= 0:
        if provider or transaction_id:
            raise InvalidInput.for_field("transaction_id", _("This reward costs points only; send no payment."))
        return "", ""
    if not provider or not transaction_id:
        missing = [name for name, value in (("provider", provider), ("transaction_id", transaction_id)) if not value]
        raise RewardPaymentRequired.for_fields(missing)
    payment_use_record(
        provider=provider, transaction_id=transaction_id, member_id=member_id, purpose=PaymentUse.Purpose.MALL_ORDER,
        now=now,
    )  # fmt: skip
    return provider, transaction_id


def _pickup_store(reward: Reward, pickup_store_id: int | None) -> int | None:
    """Return the pickup store of an order of `reward`. Raises PickupStoreInvalid."""
    if not reward.is_pickup:
        if pickup_store_id is not None:
            message = _("This reward is delivered at once; it has no pickup store.")
            raise PickupStoreInvalid.for_field("pickup_store", message=message)
        return None
    stores = reward.pickup_stores.all()  # empty: any active store
    if (
        pickup_store_id is None
        or not Store.objects.filter(pk=pickup_store_id, is_active=True).exists()
        or (stores.exists() and not stores.filter(pk=pickup_store_id).exists())
    ):
        raise PickupStoreInvalid.for_field("pickup_store")
    return pickup_store_id


def _order_insert(**fields) -> RewardOrder:
    """Insert an order; a pickup order gets a fresh pickup code (retried on the rare collision).

    Raises PaymentAlreadyUsed when a concurrent order committed the same payment first.
    """
    is_pickup = fields["status"] == Status.AWAITING_PICKUP
    for attempt in range(PICKUP_CODE_ATTEMPTS):
        code = pickup_code_generate() if is_pickup else None
        try:
            with transaction.atomic():
                return RewardOrder.objects.create(pickup_code=code, **fields)
        except IntegrityError:
            payment = {
                "payment_provider": fields["payment_provider"],
                "payment_transaction_id": fields["payment_transaction_id"],
            }
            if fields["payment_transaction_id"] and RewardOrder.objects.filter(**payment).exists():
                raise payment_already_used() from None
            if (
                is_pickup
                and attempt + 1 < PICKUP_CODE_ATTEMPTS
                and RewardOrder.objects.filter(pickup_code=code).exists()
            ):
                continue
            raise
    raise AssertionError("unreachable")


def reward_redeem_by_member(
    *,
    member_id: int,
    reward_id: int,
    idempotency_key: str,
    now: datetime,
    pickup_store_id: int | None = None,
    payment_provider: str = "",
    payment_transaction_id: str = "",
) -> RedeemResult:
    """reward_redeem for the member's own request: the cash part of a points + cash reward (the WeChat Pay
    order `payment_transaction_id`) must first be confirmed by WeChat Pay as this member's, for the cash price.
    A payment already recorded is not asked about again (reward_redeem answers the replay or refuses it). A
    confirmed payment whose redemption is refused (sold out, points spent meanwhile) is given back through WeChat
    Pay, as a refused mini-program checkout's is (checkout_orders.direct_payment_refund: followed until refunded,
    the member told): the answer is then PaymentRefunded, its `refund_reason` the refusal's code.
    Raises reward_redeem's errors, PaymentNotConfirmed, PaymentAmountMismatch, PaymentProviderUnavailable,
    PaymentRefunded. Call it outside any transaction: WeChat Pay is asked.
    """
    provider, transaction_id = (payment_provider or "").strip(), (payment_transaction_id or "").strip()
    reward = Reward.objects.filter(pk=reward_id).only("cash_price").first()
    paid_in_cash = reward is not None and reward.cash_price > 0 and provider and transaction_id
    payment = None
    if paid_in_cash and not payment_is_used(provider=provider, transaction_id=transaction_id):
        payment = wechat_payment_confirm(
            member_id=member_id, out_trade_no=transaction_id, field="transaction_id", amount=reward.cash_price
        )
    try:
        return reward_redeem(
            member_id=member_id,
            reward_id=reward_id,
            idempotency_key=idempotency_key,
            now=now,
            pickup_store_id=pickup_store_id,
            payment_provider=provider,
            payment_transaction_id=transaction_id,
        )
    except LoyaltyError as refusal:
        if payment is None:
            raise
        # WeChat Pay has the member's money and nothing was written: it goes back.
        from points.services.checkout_orders import direct_payment_refund  # built on the checkout, which uses this
        from points.services.mini_program_checkout import NOT_REFUNDED, payment_refunded

        order = direct_payment_refund(
            member_id=member_id, cart=Cart(gross_amount=payment.amount, external_id=transaction_id),
            payment=payment, reason=refusal.code, refundable=refusal.code not in NOT_REFUNDED, now=now, for_reward=True,
        )  # fmt: skip
        if order is None:
            raise
        raise payment_refunded(order, field="transaction_id") from refusal


def reward_redeem_in_mall(
    *,
    member_id: int,
    reward_id: int,
    idempotency_key: str,
    now: datetime,
    pickup_store_code: str = "",
    payment_provider: str = "",
    payment_transaction_id: str = "",
) -> RedeemResult:
    """The mall's redemption by the member: the pickup store named by its code, reward_redeem_by_member, and the
    order as the member sees it (points.selectors.mall.reward_order_of_member, read once the redemption is done).

    Raises PickupStoreInvalid (no store has the code) and reward_redeem_by_member's errors. Not atomic, as
    reward_redeem_by_member must not be: call it outside any transaction.
    """
    pickup_store_id = None
    if pickup_store_code:
        pickup_store_id = Store.objects.filter(code=pickup_store_code).values_list("pk", flat=True).first()
        if pickup_store_id is None:
            raise PickupStoreInvalid.for_field("pickup_store")
    result = reward_redeem_by_member(
        member_id=member_id,
        reward_id=reward_id,
        idempotency_key=idempotency_key,
        now=now,
        pickup_store_id=pickup_store_id,
        payment_provider=payment_provider,
        payment_transaction_id=payment_transaction_id,
    )
    order = reward_order_of_member(member_id=member_id, order_id=result.order.pk)
    return RedeemResult(order=order, is_replay=result.is_replay)


@transaction.atomic
def reward_redeem(
    *,
    member_id: int,
    reward_id: int,
    idempotency_key: str,
    now: datetime,
    pickup_store_id: int | None = None,
    payment_provider: str = "",
    payment_transaction_id: str = "",
) -> RedeemResult:
    """Redeem a reward for a member: take one unit of stock, debit the points, record the order and give
    what the reward gives (a coupon, stored value or a partner code at once; gifts and experiences wait for
    pickup with a pickup code). All or nothing.

    The cash part of a points + cash reward is paid outside this system: (provider, transaction id) names it,
    once. Idempotent per (member, key): the same request again returns the first order (is_replay=True),
    another request under that key is refused.
    Raises InvalidInput (bad key), IdempotencyKeyReused, NotFound (member), RewardNotFound,
    RewardNotAvailable (inactive, closed, not open yet for the member's tier), RewardTierRequired,
    PointsSpendingNotAllowed, RewardLimitReached, OutOfStock, InsufficientPoints, PickupStoreInvalid,
    RewardPaymentRequired, PaymentAlreadyUsed, and coupons' errors when a coupon cannot be issued.
    """
    key = idempotency_key_validate(idempotency_key)
    request_hash = idempotency_request_hash(
        {
            "reward_id": reward_id,
            "pickup_store_id": pickup_store_id,
            "payment_provider": (payment_provider or "").strip(),
            "payment_transaction_id": (payment_transaction_id or "").strip(),
        }
    )
    # The member lock serialises this member's redemptions: the per-member limit and the points hold, and a
    # retry waits here for its twin, then finds the twin's order.
    member = lock_member(member_id=member_id)
    first = RewardOrder.objects.filter(member_id=member_id, idempotency_key=key).first()
    if first is not None:
        if first.request_hash != request_hash:
            raise IdempotencyKeyReused.for_field("Idempotency-Key")
        return RedeemResult(order=first, is_replay=True)
    reward = _redeemable_reward(member=member, reward_id=reward_id, now=now)
    pickup_store_id = _pickup_store(reward, pickup_store_id)
    provider, transaction_id = _payment(reward, payment_provider, payment_transaction_id, member_id=member_id, now=now)
    taken = Reward.objects.filter(pk=reward.pk, stock_remaining__gte=1).update(stock_remaining=F("stock_remaining") - 1)
    if not taken:
        raise OutOfStock()
    entry = points_debit(
        member_id=member_id,
        points=reward.points_price,
        kind=PointsEntry.Kind.REDEMPTION,
        idempotency_key=f"mall:{member_id}:{key}",
        now=now,
        source="mall",
        reason=translations_of(reward, "name"),  # the name as it is now, shown in each reader's language
        breakdown={"reward_id": reward.pk, "reward": reward.name},
    )
    order = _order_insert(
        member_id=member_id,
        reward=reward,
        status=Status.AWAITING_PICKUP if reward.is_pickup else Status.DELIVERED,
        points=reward.points_price,
        cash_amount=reward.cash_price,
        payment_provider=provider,
        payment_transaction_id=transaction_id,
        pickup_store_id=pickup_store_id,
        idempotency_key=key,
        request_hash=request_hash,
        points_entry=entry,
        created_at=now,
    )
    _deliver(order=order, reward=reward, now=now)
    return RedeemResult(order=order, is_replay=False)


def _redeemable_reward(*, member, reward_id: int, now: datetime) -> Reward:
    """Return the reward when the (locked) member may redeem it now; raise RewardNotFound or reward_refusal's error."""
    reward = Reward.objects.filter(pk=reward_id).first()
    if reward is None:
        raise RewardNotFound()
    refusal = reward_refusal(
        reward=reward,
        member=member,
        tier_rank=member.tier.rank if member.tier_id else None,
        tier_ids=set(reward.tiers.values_list("pk", flat=True)),
        early_access=list(reward.early_access.select_related("tier")),
        redeemed_count=member_redeemed_counts(member_id=member.pk, reward_ids=[reward.pk]).get(reward.pk, 0),
        policy=PointsPolicy.load(),
        now=now,
    )
    if refusal is not None:
        raise refusal()
    return reward


def _deliver(*, order: RewardOrder, reward: Reward, now: datetime) -> None:
    """Give what a digital reward gives, inside the redemption's transaction."""
    Kind = Reward.Kind
    if reward.kind == Kind.COUPON:
        try:
            # The reward's own per-member limit governs; the offer's quota and validity still hold.
            order.coupon = coupon_template_issue_to_member(
                template_id=reward.coupon_template_id,
                member_id=order.member_id,
                source=Coupon.Source.REWARD,
                now=now,
                issue_key=f"reward_order:{order.pk}",
                enforce_member_limit=False,
            )
        except SoldOut:
            raise OutOfStock() from None
        except (TemplateInactive, ClaimWindowClosed):
            raise RewardNotAvailable() from None
        RewardOrder.objects.filter(pk=order.pk).update(coupon=order.coupon)
    elif reward.kind == Kind.STORED_VALUE:
        order.stored_value_entry = stored_value_grant(
            member_id=order.member_id,
            amount=reward.stored_value_amount,
            idempotency_key=f"reward_order:{order.pk}",
            now=now,
            source="mall",
            reason=translations_of(reward, "name"),
        )
        RewardOrder.objects.filter(pk=order.pk).update(stored_value_entry=order.stored_value_entry)
    elif reward.kind == Kind.PARTNER_VOUCHER:
        # The stock UPDATE holds the reward row, so redemptions of one reward already queue; SKIP LOCKED and
        # the conditional UPDATE keep any other writer of the pool from ever sharing a code.
        code = (
            RewardPartnerCode.objects.select_for_update(skip_locked=True)
            .filter(reward_id=reward.pk, order__isnull=True)
            .order_by("pk")
            .first()
        )
        if code is None or not RewardPartnerCode.objects.filter(pk=code.pk, order__isnull=True).update(
            order=order, given_at=now
        ):
            raise OutOfStock()


@transaction.atomic
def reward_order_fulfil(
    *,
    pickup_code: str,
    now: datetime,
    store_id: int | None = None,
    fulfilled_by=None,
    order_id: int | None = None,
) -> RewardOrder:
    """Hand a pickup over: the member shows the pickup code at the store; the order becomes picked up.

    `store_id` is the store handing it over (a POS key's or a staff member's store); None (staff of every
    store) may hand over any order. With `order_id`, the code must be that order's.
    Raises PickupCodeInvalid (no order has this code), OrderNotAwaitingPickup, PickupWrongStore.
    """
    code = pickup_code_normalize(pickup_code)
    order = RewardOrder.objects.select_for_update().filter(pickup_code=code).first() if code else None
    if order is None or (order_id is not None and order.pk != order_id):
        raise PickupCodeInvalid.for_field("pickup_code")
    if order.status != Status.AWAITING_PICKUP:
        raise OrderNotAwaitingPickup()
    if store_id is not None and order.pickup_store_id != store_id:
        raise PickupWrongStore()
    order.status = Status.FULFILLED
    order.fulfilled_at = now
    order.fulfilled_by = fulfilled_by
    order.fulfilled_store_id = store_id or order.pickup_store_id
    order.save(update_fields=["status", "fulfilled_at", "fulfilled_by", "fulfilled_store"])
    return order


@transaction.atomic
def reward_order_fulfil_at_till(
    *,
    pickup_code: str,
    store_id: int,
    now: datetime,
    idempotency_key: str | None,
    render: Callable[[RewardOrder], Any],
) -> IdempotentResult:
    """reward_order_fulfil at a store's till, answered with `render(order)`. With an idempotency key, a till that
    lost the answer and retries hears "picked up" again, not "already picked up": the first answer is stored and
    replayed (members.services.idempotency; the same key with another pickup code is refused). Raises
    reward_order_fulfil's errors, IdempotencyKeyReused, InvalidInput (a bad key)."""

    def fulfil():
        return 200, render(reward_order_fulfil(pickup_code=pickup_code, store_id=store_id, now=now))

    if idempotency_key is None:
        status_code, body = fulfil()
        return IdempotentResult(status_code=status_code, body=body, is_replay=False)
    return idempotency_run(
        scope=f"pos:{store_id}:mall_fulfil",
        key=idempotency_key,
        request_hash=idempotency_request_hash({"pickup_code": pickup_code}),
        action=fulfil,
    )


@transaction.atomic
def reward_order_cancel(
    *,
    order_id: int,
    now: datetime,
    reason: str = "",
    cancelled_by=None,
    member_id: int | None = None,
    store_id: int | None = None,
) -> RewardOrder:
    """Cancel an order awaiting pickup: its points come back (with the latest expiry of the lots they were
    drawn from) and its unit of stock returns to the reward.

    A member cancels their own order (`member_id`), only when it has no cash part (cash is refunded by the
    store through the payment provider); staff (`cancelled_by`, limited to `store_id` when given) give a
    reason. Raises RewardOrderNotFound (unknown, another member's, or outside the staff member's store),
    OrderNotCancellable (picked up, delivered, already cancelled, or a member cancelling a cash order),
    ReasonRequired.
    """
    reason = (reason or "").strip()
    if cancelled_by is not None and not reason:
        raise ReasonRequired.for_field("reason", message=_("Give the reason for cancelling."))
    orders = RewardOrder.objects.filter(pk=order_id)
    if member_id is not None:
        orders = orders.filter(member_id=member_id)
    if store_id is not None:
        orders = orders.filter(pickup_store_id=store_id)
    order_member_id = orders.values_list("member_id", flat=True).first()
    if order_member_id is None:
        raise RewardOrderNotFound()
    lock_member(member_id=order_member_id)
    order = RewardOrder.objects.select_for_update().get(pk=order_id)
    if order.status != Status.AWAITING_PICKUP:
        raise OrderNotCancellable()
    if cancelled_by is None and order.cash_amount > 0:
        raise OrderNotCancellable(_("This order was paid partly in cash: ask the store to cancel it."))
    refund = points_credit(
        member_id=order.member_id,
        points=order.points,
        kind=PointsEntry.Kind.REFUND,
        idempotency_key=f"reward_order:{order.pk}:cancel",
        now=now,
        expires_at=points_spent_expiry(debit_entry_id=order.points_entry_id),
        source="mall",
        reason=reason[:255] or _redeemed_reason(order),
        breakdown={"reward_order": order.pk, "reward_id": order.reward_id},
        created_by=cancelled_by,
    )
    Reward.objects.filter(pk=order.reward_id, stock_remaining__lt=F("stock_total")).update(
        stock_remaining=F("stock_remaining") + 1
    )
    order.status = Status.CANCELLED
    order.cancelled_at = now
    order.cancelled_by = cancelled_by
    order.cancel_reason = reason[:255]
    order.refund_entry = refund
    order.save(update_fields=["status", "cancelled_at", "cancelled_by", "cancel_reason", "refund_entry"])
    return order


def _redeemed_reason(order: RewardOrder) -> str | dict[str, str]:
    """The reason of the order's redemption entry (the reward's name as it was then, in every language), which its
    refund shows when the order is cancelled without a reason of its own."""
    text, texts = PointsEntry.objects.filter(pk=order.points_entry_id).values_list(
        "reason", "reason_texts"
    ).first() or ("", None)
    return texts or text


@transaction.atomic
def reward_order_cancel_by_member(*, order_id: int, member_id: int, now: datetime, reason: str = "") -> RewardOrder:
    """The mall's cancel by the member: reward_order_cancel of their own order, then the order as the member sees
    it (points.selectors.mall.reward_order_of_member). Raises reward_order_cancel's errors."""
    reward_order_cancel(order_id=order_id, member_id=member_id, reason=reason, now=now)
    return reward_order_of_member(member_id=member_id, order_id=order_id)


# -- console writers --------------------------------------------------------------------------------------------
@transaction.atomic
def reward_stock_add(*, reward_id: int, quantity: int) -> Reward:
    """Add stock to a reward (quantity > 0) or take unredeemed stock away (quantity < 0).

    Conditional UPDATEs only: stock taken away must still be there when the statement runs. A partner
    voucher's stock follows its pool of codes and moves only by uploads.
    Raises RewardNotFound, InvalidInput (zero, a partner voucher, or more than the stock left).
    """
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity == 0:
        raise InvalidInput.for_field("quantity", _("Give a whole number other than 0."))
    reward = Reward.objects.filter(pk=reward_id).first()
    if reward is None:
        raise RewardNotFound()
    if reward.kind == Reward.Kind.PARTNER_VOUCHER:
        message = _("A partner voucher's stock is its pool of codes: upload codes to add stock.")
        raise InvalidInput.for_field("quantity", message=message)
    rows = Reward.objects.filter(pk=reward_id)
    if quantity < 0:
        rows = rows.filter(stock_remaining__gte=-quantity)
    if not rows.update(stock_total=F("stock_total") + quantity, stock_remaining=F("stock_remaining") + quantity):
        raise InvalidInput.for_field("quantity", message=_("Only the stock left can be taken away."))
    reward.refresh_from_db()
    return reward


def reward_thumbnail_refresh(*, reward_id: int) -> Reward:
    """Make the reward's thumbnail from its image (or clear it when the image is gone). Raises RewardNotFound."""
    reward = Reward.objects.filter(pk=reward_id).first()
    if reward is None:
        raise RewardNotFound()
    if not reward.image:
        if reward.thumbnail:
            Reward.objects.filter(pk=reward.pk).update(thumbnail="")
            reward.thumbnail = ""
        return reward
    with reward.image.open("rb") as image:
        thumbnail = thumbnail_make(image, name=f"reward-{reward.pk}.webp")
    reward.thumbnail.save(thumbnail.name, thumbnail, save=False)
    Reward.objects.filter(pk=reward.pk).update(thumbnail=reward.thumbnail.name)
    return reward


def _partner_header(cells: list[str]) -> list[str] | None:
    names = [cell.strip().lower() for cell in cells]
    if "code" not in names:
        return None
    duplicated = sorted({name for name in names if name and names.count(name) > 1})
    if duplicated:
        raise ImportFileRefused(
            gettext("These columns appear more than once: %(columns)s.") % {"columns": ", ".join(duplicated)},
            code="header",
        )
    unknown = [name for name in names if name and name not in PARTNER_CODE_COLUMNS]
    if unknown:
        raise ImportFileRefused(
            gettext("Unknown column %(column)s: the columns are %(columns)s.")
            % {"column": unknown[0], "columns": ", ".join(PARTNER_CODE_COLUMNS)},
            code="header",
        )
    return names


def _partner_row(row: int, values: dict[str, str]) -> tuple[dict | None, list[dict]]:
    errors = []

    def refuse(column, message):
        errors.append({"row": row, "column": column, "value": values.get(column, ""), "message": message})

    code = values.get("code", "").strip()
    if not code:
        refuse("code", gettext("The code is missing."))
    elif len(code) > PARTNER_CODE_MAX_LENGTH or not code.isprintable():
        refuse("code", gettext("A code has at most %(max)d printable characters.") % {"max": PARTNER_CODE_MAX_LENGTH})
    pin = values.get("pin", "").strip()
    if len(pin) > 32:
        refuse("pin", gettext("A PIN has at most 32 characters."))
    valid_until = None
    if text := values.get("valid_until", "").strip():
        try:
            valid_until = date.fromisoformat(text)
        except ValueError:
            refuse("valid_until", gettext("Give the date as YYYY-MM-DD."))
    if errors:
        return None, errors
    return {"code": code, "pin": pin, "valid_until": valid_until}, []


@transaction.atomic
def reward_partner_codes_import(
    *, reward_id: int, data: bytes, now: datetime, encoding: str = AUTO
) -> PartnerCodeImport:
    """Add a partner's CSV of voucher codes to a reward's pool; each code added is one more unit of stock.

    Columns: code, and optionally pin and valid_until (YYYY-MM-DD), named by a header row or in that order.
    Valid rows are written; each bad row (a missing or too long code, a bad date, a code twice in the file or
    already in a pool) is reported as {"row", "column", "value", "message"} and written not at all.
    Raises RewardNotFound, InvalidInput (not a partner voucher), ImportFileRefused (encoding, size, header).
    """
    reward = Reward.objects.select_for_update().filter(pk=reward_id).first()  # one upload of a pool at a time
    if reward is None:
        raise RewardNotFound()
    if reward.kind != Reward.Kind.PARTNER_VOUCHER:
        raise InvalidInput.for_field("kind", message=_("Only partner voucher rewards take uploaded codes."))
    text, _used = decode(data, encoding)
    columns = list(PARTNER_CODE_COLUMNS)
    errors: list[dict] = []
    rows: dict[str, tuple[int, dict]] = {}
    for row, cells in enumerate(csv_records(text), start=1):
        if row == 1 and (header := _partner_header(cells)) is not None:
            columns = header
            continue
        if not any(cell.strip() for cell in cells):
            continue
        values = {name: cell for name, cell in zip(columns, cells, strict=False) if name}
        parsed, row_errors = _partner_row(row, values)
        past = enumerate(cells[len(columns) :], start=len(columns) + 1)
        if extra := next((number for number, cell in past if cell.strip()), 0):
            # a cell past the columns (an expiry date after code and PIN in a file whose header names two) was lost
            message = gettext("The row has more cells than the header row has columns.")
            column = gettext("column %(number)d") % {"number": extra}
            row_errors.append({"row": row, "column": column, "value": cells[extra - 1], "message": message})
        if row_errors:
            errors += row_errors
        elif parsed["code"] in rows:
            message = gettext("This code is already on row %(row)d.") % {"row": rows[parsed["code"]][0]}
            errors.append({"row": row, "column": "code", "value": parsed["code"], "message": message})
        else:
            rows[parsed["code"]] = (row, parsed)
    if not rows and not errors:
        raise InvalidInput.for_field("file", _("The file holds no codes (a header row alone, or empty rows)."))
    codes = list(rows)
    taken = set()
    for start in range(0, len(codes), LOOKUP_CHUNK):
        chunk = codes[start : start + LOOKUP_CHUNK]
        taken.update(RewardPartnerCode.objects.filter(code__in=chunk).values_list("code", flat=True))
    for code in taken:
        message = gettext("This code is already in a pool of partner codes.")
        errors.append({"row": rows[code][0], "column": "code", "value": code, "message": message})
    new = [
        RewardPartnerCode(reward=reward, row_number=row, imported_at=now, **parsed)
        for code, (row, parsed) in rows.items()
        if code not in taken
    ]
    RewardPartnerCode.objects.bulk_create(new, batch_size=LOOKUP_CHUNK)
    if new:
        Reward.objects.filter(pk=reward.pk).update(
            stock_total=F("stock_total") + len(new), stock_remaining=F("stock_remaining") + len(new)
        )
    order = {name: index for index, name in enumerate(PARTNER_CODE_COLUMNS)}
    errors.sort(key=lambda error: (error["row"], order.get(error["column"], len(order))))
    return PartnerCodeImport(imported=len(new), errors=errors)
