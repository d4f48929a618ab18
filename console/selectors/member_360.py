"""The reads of the member page (Member 360): every section one bounded query served by an index on the member.

Each list is a page or a short tail: the points ledger and purchases are paged (one row more than the page is read to
know whether there is a next one: no COUNT over a member's history), the rest show their newest rows with a link to
their full list. At 1,000,000 members and 10,000,000 purchases each query reads one member's rows through the
indexes that start with the member: points entries (member, created_at), open lots (member, expires_at WHERE
remaining > 0), purchases (member, purchased_at), coupons (member, status), reward orders (member, reward, status),
notifications (member, -id), tier history and stored value (member, created_at), active holds (member WHERE active).
Refunds and outbox statuses are read for the rows on the page only.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import F, Sum
from django.db.models.functions import Coalesce

from campaigns.models import CampaignRecipient, ConsentRecord, WechatSubscription
from coupons.models import Coupon
from infra.errors import LoyaltyError
from members.models import (
    BalanceHold,
    Member,
    MemberAnonymisation,
    MemberPlanSubscription,
    Notification,
    OutboxMessage,
    PointsEntry,
    PointsLot,
    Purchase,
    StoredValueEntry,
    TierHistory,
)
from members.selectors import member_card_get
from members.selectors.tiers import member_tier_status
from points.models import AuctionBid, CheckoutOrder, DrawSpin, PurchaseRefund, RewardOrder

PAGE_SIZE = 20
TAIL_SIZE = 10
EXPIRY_HORIZON_DAYS = 90


@dataclass(frozen=True)
class Page:
    rows: list
    number: int
    has_previous: bool
    has_next: bool


def _page(queryset, *, number: int, size: int = PAGE_SIZE) -> Page:
    """Read one page of an ordered queryset, and one row more to tell whether a next page exists."""
    number = max(1, number)
    rows = list(queryset[(number - 1) * size : number * size + 1])
    return Page(rows=rows[:size], number=number, has_previous=number > 1, has_next=len(rows) > size)


def member_360_get(*, member_id: int) -> Member | None:
    """The member with their tier, home store and anonymisation record (the page's header), or None."""
    return (
        Member.objects.select_related("tier", "home_store", "anonymisation__requested_by").filter(pk=member_id).first()
    )


def member_anonymisation(*, member: Member) -> MemberAnonymisation | None:
    """The record of the member's anonymisation, or None (read with the member by member_360_get)."""
    try:
        return member.anonymisation
    except MemberAnonymisation.DoesNotExist:
        return None


def member_tags(*, member: Member) -> list:
    return list(member.tags.order_by("name"))


def member_card(*, member: Member, now: datetime):
    """The member's current card code, or None for a member who cannot use a card (not active)."""
    try:
        return member_card_get(member=member, now=now)
    except LoyaltyError:
        return None


def member_tier(*, member: Member, now: datetime):
    """Tier, score, the next tier and what is missing (the same status the member's app shows)."""
    return member_tier_status(member=member, now=now)


def member_tier_history(*, member_id: int, limit: int = TAIL_SIZE) -> list[TierHistory]:
    return list(
        TierHistory.objects.filter(member_id=member_id)
        .select_related("old_tier", "new_tier", "created_by")
        .order_by("-created_at", "-pk")[:limit]
    )


def member_points_entries(*, member_id: int, page: int = 1) -> Page:
    """The points ledger, newest first; each entry carries the running balance after it (balance_after)."""
    entries = (
        PointsEntry.objects.filter(member_id=member_id).select_related("created_by").order_by("-created_at", "-pk")
    )
    return _page(entries, number=page)


@dataclass(frozen=True)
class Expiry:
    lots: list[PointsLot]  # the open lots that expire soonest
    expiring_soon: int  # points of open lots expiring within the horizon
    horizon_days: int


def member_points_expiry(*, member_id: int, now: datetime, limit: int = TAIL_SIZE) -> Expiry:
    """The member's open lots, soonest expiry first, and how many points expire within the horizon."""
    open_lots = PointsLot.objects.filter(member_id=member_id, remaining__gt=0)
    lots = list(open_lots.order_by(F("expires_at").asc(nulls_last=True), "pk")[:limit])
    soon = open_lots.filter(
        is_active=True, expires_at__isnull=False, expires_at__lte=now + timedelta(days=EXPIRY_HORIZON_DAYS)
    ).aggregate(total=Coalesce(Sum("remaining"), 0))["total"]
    return Expiry(lots=lots, expiring_soon=soon, horizon_days=EXPIRY_HORIZON_DAYS)


def member_stored_value_entries(*, member_id: int, limit: int = TAIL_SIZE) -> list[StoredValueEntry]:
    return list(
        StoredValueEntry.objects.filter(member_id=member_id)
        .select_related("created_by")
        .order_by("-created_at", "-pk")[:limit]
    )


def member_active_holds(*, member_id: int, limit: int = TAIL_SIZE) -> list[BalanceHold]:
    return list(
        BalanceHold.objects.filter(member_id=member_id, status=BalanceHold.Status.ACTIVE).order_by("expires_at")[:limit]
    )


def member_coupons(*, member_id: int, limit: int = TAIL_SIZE) -> list[Coupon]:
    return list(Coupon.objects.filter(member_id=member_id).select_related("template").order_by("-pk")[:limit])


@dataclass(frozen=True)
class PurchasesPage:
    page: Page
    refunds: dict  # purchase id -> [PurchaseRefund], for the purchases on the page


def member_purchases(*, member_id: int, page: int = 1) -> PurchasesPage:
    """The member's purchases, newest first, with the refunds of those on the page."""
    purchases = Purchase.objects.filter(member_id=member_id).select_related("store").order_by("-purchased_at", "-pk")
    result = _page(purchases, number=page)
    refunds: dict = {}
    refunded = [purchase.pk for purchase in result.rows if purchase.status != Purchase.Status.COMPLETED]
    if refunded:
        for refund in PurchaseRefund.objects.filter(purchase_id__in=refunded).order_by("created_at", "pk"):
            refunds.setdefault(refund.purchase_id, []).append(refund)
    return PurchasesPage(page=result, refunds=refunds)


def member_reward_orders(*, member_id: int, limit: int = TAIL_SIZE) -> list[RewardOrder]:
    return list(
        RewardOrder.objects.filter(member_id=member_id).select_related("reward", "pickup_store").order_by("-pk")[:limit]
    )


@dataclass(frozen=True)
class Message:
    notification: Notification
    deliveries: list[OutboxMessage]


def member_messages(*, member_id: int, limit: int = TAIL_SIZE) -> list[Message]:
    """The newest inbox messages, each with the statuses of its outbox deliveries (SMS, e-mail, WeChat)."""
    notifications = list(Notification.objects.filter(member_id=member_id).order_by("-pk")[:limit])
    deliveries: dict = {}
    if notifications:
        outbox = OutboxMessage.objects.filter(notification_id__in=[n.pk for n in notifications]).order_by("channel")
        for delivery in outbox:
            deliveries.setdefault(delivery.notification_id, []).append(delivery)
    return [Message(notification=n, deliveries=deliveries.get(n.pk, [])) for n in notifications]


def member_stored_value_summary(*, member: Member) -> dict:
    return {
        "balance": member.stored_value_balance,
        "held": member.stored_value_held,
        "available": max(member.stored_value_balance - member.stored_value_held, Decimal(0)),
    }


# -- the data access request (PDPO): everything held about the member, not paged ------------------------------------
PROFILE_FIELDS = (
    "member_number", "name", "phone", "email", "gender", "birthday", "locale", "status", "join_source", "joined_at",
    "wechat_openid", "wechat_unionid",
    "consent_marketing", "consent_sms", "consent_email", "consent_wechat", "consent_updated_at", "points_balance",
    "points_debt", "points_pending", "points_held", "stored_value_balance", "stored_value_held", "purchase_count",
    "total_spend", "first_purchase_at", "last_purchase_at", "tier_override_until", "created_at",
)  # fmt: skip
EXPORT_SECTIONS = {
    "points_entries": (
        PointsEntry,
        ("created_at", "kind", "delta", "balance_after", "debt_after", "source", "reason", "purchase_id"),
        ("created_at", "pk"),
    ),
    "points_lots": (PointsLot, ("points", "remaining", "is_active", "activates_at", "expires_at"), ("pk",)),
    "stored_value_entries": (
        StoredValueEntry,
        ("created_at", "kind", "amount", "balance_after", "source", "reason"),
        ("created_at", "pk"),
    ),
    "tier_history": (
        TierHistory,
        ("created_at", "old_tier__name", "new_tier__name", "score", "reason", "note", "override_until"),
        ("created_at", "pk"),
    ),
    "purchases": (
        Purchase,
        (
            "purchased_at",
            "store__name",
            "channel",
            "external_id",
            "gross_amount",
            "discount_amount",
            "points_value_amount",
            "stored_value_amount",
            "paid_amount",
            "payment_method",
            "status",
        ),
        ("purchased_at", "pk"),
    ),  # fmt: skip
    "coupons": (
        Coupon,
        ("issued_at", "template__name", "code", "status", "source", "valid_from", "valid_until", "redeemed_at"),
        ("pk",),
    ),
    "reward_orders": (
        RewardOrder,
        ("created_at", "reward__name", "status", "points", "cash_amount", "pickup_store__name"),
        ("pk",),
    ),
    "messages": (Notification, ("created_at", "kind", "title", "body", "read_at"), ("pk",)),
    "plan_subscriptions": (
        MemberPlanSubscription,
        ("created_at", "plan__name", "source", "tier__name", "price", "starts_at", "ends_at", "provider",
         "transaction_id"),
        ("pk",),
    ),
    "checkout_orders": (
        CheckoutOrder,
        ("created_at", "out_trade_no", "status", "store__name", "amount_due", "points_to_spend", "stored_value_amount",
         "paid_amount", "refunded_at", "refund_status", "refund_reason"),
        ("pk",),
    ),
    "draw_spins": (
        DrawSpin,
        ("created_at", "draw__name", "outcome", "prize__name", "points_spent", "collected_at", "collected_store__name"),
        ("pk",),
    ),
    "auction_bids": (AuctionBid, ("created_at", "auction__item_name", "points", "status", "released_at"), ("pk",)),
    "consent_records": (ConsentRecord, ("recorded_at", "channel", "consented", "source", "address"), ("pk",)),
    "wechat_subscriptions": (
        WechatSubscription, ("template_id", "available", "accepted_at", "used_at", "refused_at"), ("pk",),
    ),
    "campaign_messages": (
        CampaignRecipient,
        ("created_at", "campaign__name", "occasion", "status", "held_out", "points_granted", "channels"),
        ("pk",),
    ),
}  # fmt: skip


def member_data_export(*, member: Member) -> dict:
    """Everything held about one member, for their data access request: {section: [{field: value}]}.

    Lists stream in chunks (iterator) so a long history is not held twice; the profile's tags and refunds included.
    """
    data = {"profile": [{field: getattr(member, field) for field in PROFILE_FIELDS}]}
    data["profile"][0]["tier"] = member.tier.name if member.tier_id else None
    data["profile"][0]["home_store"] = member.home_store.name if member.home_store_id else None
    data["profile"][0]["tags"] = ", ".join(tag.name for tag in member.tags.order_by("name"))
    for section, (model, fields, ordering) in EXPORT_SECTIONS.items():
        rows = model.objects.filter(member_id=member.pk).order_by(*ordering).values(*fields)
        data[section] = list(rows.iterator(chunk_size=2000))
    data["refunds"] = list(
        PurchaseRefund.objects.filter(purchase__member_id=member.pk)
        .order_by("created_at", "pk")
        .values("created_at", "purchase__external_id", "amount", "reason", "points_reversed", "points_returned")
        .iterator(chunk_size=2000)
    )
    return data
