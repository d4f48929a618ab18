"""Reads shared by the points services, API and console: active rules, POS member matching, a member's points."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import BigIntegerField, Count, DecimalField, F, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import (
    Cast,
    Ceil,
    Coalesce,
    ExtractDay,
    ExtractIsoWeekDay,
    ExtractMonth,
    Floor,
    Least,
    Round,
)
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from infra.errors import InvalidInput, LoyaltyError, NotFound
from infra.prepared import PreparedRead
from infra.translation import languages, localized_column
from members.errors import InvalidCardCode, InvalidPhone
from members.models import Member, PointsEntry, PointsLot, Purchase, PurchaseItem, Tier, TierPolicy
from members.selectors import (
    MemberKey,
    member_find,
    member_key_by_card_code,
    member_key_by_member_number,
    member_key_by_phone,
)
from points.models import EarningRule, MemberIdentifier, MultiplierWindow, PointsPolicy
from points.rules import MemberFacts, Rule, WindowFacts, rule_from_model
from points.sql import rules_fingerprint
from points.tier_discount import TierDiscountTerms

# How each identifier a till gives names a member (its format checked, nothing read).
MEMBER_KEYS = {
    MemberIdentifier.CARD_CODE: lambda value, now: member_key_by_card_code(card_code=value, now=now),
    MemberIdentifier.MEMBER_NUMBER: lambda value, now: member_key_by_member_number(member_number=value),
    MemberIdentifier.PHONE: lambda value, now: member_key_by_phone(phone=value),
}


def earning_rules_active(*, at: datetime, kinds=None) -> list[Rule]:
    """Return the active rules valid at `at`, as the pipeline sees them, in priority order (3 queries)."""
    rules = (
        EarningRule.objects.filter(is_active=True)
        .filter(Q(valid_from__isnull=True) | Q(valid_from__lte=at), Q(valid_until__isnull=True) | Q(valid_until__gt=at))
        .prefetch_related("stores", "tiers")
        .order_by("priority")
    )
    if kinds is not None:
        rules = rules.filter(kind__in=kinds)
    return [rule_from_model(rule) for rule in rules]


# Per process: {database name: (fingerprint, rules)}. Every save, delete and stores/tiers change of a rule writes
# a history row (django-simple-history), so the newest history row, with the rules' count and last update and
# the sizes of the two many-to-many tables, tells in one small query whether the cached rules are still current
# (points.sql.rules_fingerprint: its SQL, read with the policy row).
_RULES_CACHE: dict[str, tuple[tuple, list[Rule]]] = {}


@dataclass(frozen=True)
class CheckoutSettings:
    """What pricing a purchase reads besides the member: the policy, the active earning rules, whether tiers exist."""

    policy: PointsPolicy
    rules: list[Rule]
    has_tiers: bool
    has_post_payment_rules: bool = True


def _rules_for(fingerprint: tuple) -> list[Rule]:
    name = str(connection.settings_dict["NAME"])
    cached = _RULES_CACHE.get(name)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    rules = [
        rule_from_model(rule)
        for rule in EarningRule.objects.filter(is_active=True).prefetch_related("stores", "tiers").order_by("priority")
    ]
    _RULES_CACHE[name] = (fingerprint, rules)
    return rules


# The policy row with the fingerprint: every purchase reads it, so its SQL is compiled once per process.
_POLICY_WITH_FINGERPRINT = PreparedRead(
    lambda: PointsPolicy.objects.filter(pk=1).annotate(
        **{f"fingerprint_{index}": RawSQL(expression, ()) for index, expression in enumerate(rules_fingerprint())}
    )
)


def checkout_settings_get() -> CheckoutSettings:
    """Return the points policy, every active earning rule, whether tiers and post-payment coupon rules exist, in
    one query.

    The rules (all kinds, all validity windows: the pipeline checks kinds and windows itself) are kept per
    process and re-read (3 more queries) only when their fingerprint, read with the policy row, changes. The
    policy itself is read every time (it may be changed by a plain UPDATE).
    """
    policy = _POLICY_WITH_FINGERPRINT.one()
    if policy is None:  # a new database: the policy row is created on its first read
        PointsPolicy.load()
        policy = _POLICY_WITH_FINGERPRINT.one()
    fingerprint = tuple(getattr(policy, f"fingerprint_{index}") for index in range(len(rules_fingerprint())))
    return CheckoutSettings(
        policy=policy,
        rules=_rules_for(fingerprint),
        has_tiers=bool(fingerprint[-1]),
        has_post_payment_rules=bool(fingerprint[-2]),
    )


def pos_member_keys(
    *, now: datetime, policy: PointsPolicy, card_code: str = "", member_number: str = "", phone: str = ""
) -> list[MemberKey | LoyaltyError]:
    """The identifiers a POS purchase gives, in the policy's order: each as the member it names (a MemberKey) or
    as the error its format raised (InvalidCardCode, InvalidPhone, InvalidInput). Empty if none is given; reads
    nothing. Raises InvalidInput for an identifier the policy does not match by.
    """
    given = {
        MemberIdentifier.CARD_CODE: (card_code or "").strip(),
        MemberIdentifier.MEMBER_NUMBER: (member_number or "").strip(),
        MemberIdentifier.PHONE: (phone or "").strip(),
    }
    given = {name: value for name, value in given.items() if value}
    order = [MemberIdentifier(name) for name in policy.member_match_order]
    refused = sorted(name for name in given if name not in order)
    if refused:
        raise InvalidInput.for_fields(refused, _("The points policy does not match purchases by this identifier."))
    keys = []
    for name in order:
        if name in given:
            try:
                keys.append(MEMBER_KEYS[name](given[name], now))
            except (InvalidCardCode, InvalidPhone, InvalidInput) as error:
                keys.append(error)
    return keys


def member_first_named(
    keys: list[MemberKey | LoyaltyError], read: Callable[[MemberKey], Member | None]
) -> Member | None:
    """The first member `read` finds by the keys, in their order: an identifier that fails (a bad format, an unknown
    or expired card code) lets the next one be tried; when all fail, the first failure is raised (NotFound for a
    key that matched no member). None if there are no keys."""
    first_error: LoyaltyError | None = None
    for key in keys:
        member = read(key) if isinstance(key, MemberKey) else None
        if member is not None:
            return member
        first_error = first_error or (key if isinstance(key, LoyaltyError) else NotFound(_("No member matches.")))
    if first_error is not None:
        raise first_error
    return None


def pos_member_resolve(
    *, now: datetime, policy: PointsPolicy, card_code: str = "", member_number: str = "", phone: str = ""
) -> Member | None:
    """Return the member a POS event names (pos_member_keys, then member_first_named); None if none is given.
    Raises InvalidInput, InvalidCardCode, InvalidPhone, NotFound."""
    keys = pos_member_keys(now=now, policy=policy, card_code=card_code, member_number=member_number, phone=phone)
    return member_first_named(keys, read=member_find)


@dataclass(frozen=True)
class MemberPoints:
    balance: int
    pending: int
    debt: int
    lots: list[PointsLot]
    checkout_points: int  # at checkout, this many points (PointsPolicy) ...
    checkout_value: Decimal  # ... are worth this much money
    held: int = 0  # set aside for checkout orders waiting for their payment (members.services.holds)


def member_points_get(*, member_id: int) -> MemberPoints:
    """Return a member's balances, the lots that still hold points (pending ones included), soonest first, and
    what points are worth at checkout."""
    member = Member.objects.only("points_balance", "points_pending", "points_debt", "points_held").get(pk=member_id)
    lots = list(
        PointsLot.objects.filter(member_id=member_id, remaining__gt=0)
        .select_related("entry")
        .order_by("-is_active", F("expires_at").asc(nulls_last=True), "activates_at", "pk")
    )
    policy = PointsPolicy.load()
    return MemberPoints(
        balance=member.points_balance, pending=member.points_pending, debt=member.points_debt, lots=lots,
        checkout_points=policy.checkout_points, checkout_value=policy.checkout_value, held=member.points_held,
    )  # fmt: skip


def member_points_entries(*, member_id: int):
    """Return a member's ledger entries, newest first (a queryset for cursor pagination)."""
    return PointsEntry.objects.filter(member_id=member_id).select_related("purchase").order_by("-pk")


def member_purchases(*, member_id: int):
    """The member's purchases, newest first, with their store and what their checkout did."""
    return (
        Purchase.objects.filter(member_id=member_id)
        .select_related("store", "checkout")
        .order_by("-purchased_at", "-pk")
    )


def member_facts_get(*, member: Member | None) -> MemberFacts:
    """Return what the earning pipeline knows of a member: tier, its multipliers, birthday."""
    if member is None:
        return MemberFacts()
    if member.tier_id is None:
        return MemberFacts(birthday=member.birthday)
    if Member.tier.is_cached(member):  # loaded with the member (select_related): no query
        tier = member.tier
    else:
        tier = Tier.objects.only("code", "name", "earn_multiplier", "birthday_multiplier").get(pk=member.tier_id)
    return MemberFacts(
        tier_id=tier.pk,
        tier_name=f"{tier.code} {tier.name}",
        tier_multiplier=tier.earn_multiplier,
        birthday=member.birthday,
        tier_birthday_multiplier=tier.birthday_multiplier,
    )


def multiplier_windows_open(*, member_id: int, at: datetime) -> tuple[WindowFacts, ...]:
    """Return the member's multiplier window that applies at `at`: the highest of those open (they do not add up),
    as the earning pipeline sees it; () when none is. One read on the (member, ends_at) index: every checkout and
    preview with a member runs it."""
    reason_columns = [localized_column("reason", language) for language in languages()]
    rows = (
        MultiplierWindow.objects.filter(member_id=member_id, ends_at__gt=at, starts_at__lte=at)
        .order_by("-multiplier", "pk")
        .values_list("pk", "multiplier", "starts_at", "ends_at", *reason_columns)[:1]
    )
    return tuple(
        WindowFacts(
            id=pk,
            multiplier=multiplier,
            starts_at=starts_at,
            ends_at=ends_at,
            names=tuple(zip(languages(), (text or "" for text in reasons), strict=True)),
        )
        for pk, multiplier, starts_at, ends_at, *reasons in rows
    )


def tier_discount_terms_get(*, member: Member | None, policy: PointsPolicy) -> TierDiscountTerms | None:
    """Return the member's tier discount and the tier policy's terms for it (order with coupons, cap, excluded
    categories); None without a member, a tier, a discount, or for a member whose status does not earn.

    The tier is read with the member (select_related) by the checkout; the tier policy only when a discount applies.
    """
    if member is None or member.tier_id is None or member.status not in policy.earning_statuses:
        return None
    if Member.tier.is_cached(member):
        percent = member.tier.discount_percent
    else:
        percent = Tier.objects.filter(pk=member.tier_id).values_list("discount_percent", flat=True).get()
    if percent <= 0:
        return None
    tier_policy = TierPolicy.load()
    return TierDiscountTerms(
        percent=percent,
        before_coupons=tier_policy.discount_applies != TierPolicy.DiscountApplies.AFTER_COUPONS,
        max_amount=tier_policy.discount_max_amount,
        excluded_categories=tier_policy.discount_excluded_keys(),
    )


# -- rule preview ------------------------------------------------------------------------------------------------
PREVIEW_DAYS = 90
PREVIEW_NOTES = {
    "common": _(
        "Approximate: the member's current tier is used for tier conditions; caps and stop-further-rules of other "
        "rules, the tier multiplier and the pending period are ignored; fully refunded purchases are left out."
    ),
    EarningRule.Kind.MULTIPLIER: _(
        "A multiplier's extra points are priced on the first active base rate (by priority), without stacking "
        "with other multipliers."
    ),
    EarningRule.Kind.BEHAVIOUR: _("Behaviour bonuses do not depend on purchases; they are not previewed."),
}


@dataclass(frozen=True)
class RulePreview:
    days: int
    purchases: int
    members: int
    points: int
    liability: Decimal
    notes: tuple[str, ...]


def _rate_expression(amount, *, amount_per_unit, points_per_unit, rounding: str):
    # SQL ROUND rounds half away from zero: the same as the pipeline's half up for amounts >= 0.
    function = {"floor": Floor, "ceil": Ceil, "round": Round}[rounding]
    # 64-bit, as the ledger's columns: a large purchase at a generous rate passes 2**31 points.
    return Cast(function(amount * Value(points_per_unit) / Value(amount_per_unit)), BigIntegerField())


def _capped(expression, cap):
    return Least(expression, Value(cap)) if cap is not None else expression


def earning_rule_preview(
    *,
    rule: EarningRule,
    now: datetime,
    store_ids=(),
    tier_ids=(),
    days: int = PREVIEW_DAYS,
) -> RulePreview:
    """Return what a rule (saved or not) would have granted on the last `days` of purchases, in one query.

    An aggregate over members_purchase (with members, and the purchase's items for category and SKU bonuses):
    points, purchases and members reached, and the added liability at the policy's point value. Stores and
    tiers come as ids because an unsaved rule has no many-to-many rows yet. The figures are approximate where
    PREVIEW_NOTES says so.
    """
    tz = timezone.get_current_timezone()
    policy = PointsPolicy.load()
    notes = [str(PREVIEW_NOTES["common"])]
    if rule.kind in PREVIEW_NOTES:
        notes.append(str(PREVIEW_NOTES[rule.kind]))
    purchases = (
        Purchase.objects.filter(
            member__isnull=False, purchased_at__gte=now - timedelta(days=days), purchased_at__lt=now
        )
        .exclude(status=Purchase.Status.REFUNDED)
        .order_by()
    )
    if rule.valid_from:
        purchases = purchases.filter(purchased_at__gte=rule.valid_from)
    if rule.valid_until:
        purchases = purchases.filter(purchased_at__lt=rule.valid_until)
    if store_ids:
        purchases = purchases.filter(store_id__in=list(store_ids))
    if rule.channels:
        purchases = purchases.filter(channel__in=rule.channels)
    if tier_ids:
        purchases = purchases.filter(member__tier_id__in=list(tier_ids))
    if rule.weekdays:
        purchases = purchases.annotate(weekday=ExtractIsoWeekDay("purchased_at", tzinfo=tz)).filter(
            weekday__in=[day + 1 for day in rule.weekdays]
        )
    if rule.birthday_month_only:
        purchases = purchases.annotate(month=ExtractMonth("purchased_at", tzinfo=tz)).filter(
            member__birthday__month=F("month")
        )
    if rule.member_day:
        purchases = purchases.annotate(day=ExtractDay("purchased_at", tzinfo=tz)).filter(day=rule.member_day)
    amount = F("gross_amount") - F("discount_amount") - F("points_value_amount")
    points = _preview_points(rule, purchases=purchases, amount=amount, at=now, item_bonus_cap=policy.item_bonus_cap)
    if points is None:
        return RulePreview(days=days, purchases=0, members=0, points=0, liability=Decimal("0.00"), notes=tuple(notes))
    if rule.kind == EarningRule.Kind.BONUS_FIRST_PURCHASE:
        purchases = purchases.filter(purchased_at=F("member__first_purchase_at"))
    figures = purchases.annotate(granted=points).aggregate(
        points=Coalesce(Sum("granted"), 0),
        purchases=Count("pk", filter=Q(granted__gt=0)),
        members=Count("member_id", filter=Q(granted__gt=0), distinct=True),
    )
    return RulePreview(
        days=days,
        purchases=figures["purchases"],
        members=figures["members"],
        points=figures["points"],
        liability=policy.points_value(figures["points"]) if figures["points"] > 0 else Decimal("0.00"),
        notes=tuple(notes),
    )


def _preview_points(rule: EarningRule, *, purchases, amount, at, item_bonus_cap: int):
    kind = rule.kind
    rate = {"amount_per_unit": rule.amount_per_unit, "points_per_unit": rule.points_per_unit, "rounding": rule.rounding}
    has_rate = bool(rule.amount_per_unit and rule.points_per_unit)
    if kind == EarningRule.Kind.BASE_RATE:
        return _capped(_rate_expression(amount, **rate), rule.max_points_per_purchase) if has_rate else None
    if kind == EarningRule.Kind.MULTIPLIER:
        base = earning_rules_active(at=at, kinds=[EarningRule.Kind.BASE_RATE])
        if not base or not rule.multiplier:
            return None
        base_points = _rate_expression(
            amount,
            amount_per_unit=base[0].amount_per_unit,
            points_per_unit=base[0].points_per_unit,
            rounding=base[0].rounding,
        )
        extra = {"floor": Floor, "ceil": Ceil, "round": Round}[rule.rounding](
            base_points * Value(rule.multiplier - 1), output_field=DecimalField()
        )
        return _capped(Cast(extra, BigIntegerField()), rule.max_points_per_purchase)
    if kind == EarningRule.Kind.BONUS_FIRST_PURCHASE:
        return Value(rule.bonus_points or 0, output_field=IntegerField())
    if kind in (EarningRule.Kind.BONUS_CATEGORY, EarningRule.Kind.BONUS_SKU):
        # As the pipeline: only lines sold at a price earn, up to the rule's cap or the policy's.
        items = PurchaseItem.objects.filter(purchase_id=OuterRef("pk"), amount__gt=0)
        if kind == EarningRule.Kind.BONUS_SKU:
            items = items.filter(sku=rule.sku)
        else:
            items = items.filter(category__iexact=rule.category.strip())
        totals = items.order_by().values("purchase_id")
        quantity = Coalesce(Subquery(totals.annotate(total=Sum("quantity")).values("total")), 0)
        matched = Coalesce(
            Subquery(totals.annotate(total=Sum("amount")).values("total")),
            Value(Decimal(0)),
            output_field=DecimalField(),
        )
        granted = quantity * Value(rule.bonus_points or 0)
        if has_rate:
            granted = granted + _rate_expression(matched, **rate)
        cap = rule.max_points_per_purchase if rule.max_points_per_purchase is not None else item_bonus_cap
        return _capped(granted, cap)
    return None
