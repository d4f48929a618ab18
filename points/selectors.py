"""Reads shared by the points services, API and console: active rules, POS member matching, a member's points."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, Q

from members.errors import InvalidCardCode, InvalidInput, InvalidPhone, LoyaltyError, NotFound
from members.models import Member, PointsEntry, PointsLot, Tier
from members.selectors import member_get_by_card_code, member_get_by_member_number, member_get_by_phone
from points.models import EarningRule, MemberIdentifier, PointsPolicy
from points.rules import MemberFacts, Rule, rule_from_model

LOOKUPS = {
    MemberIdentifier.CARD_CODE: lambda value, now: member_get_by_card_code(card_code=value, now=now),
    MemberIdentifier.MEMBER_NUMBER: lambda value, now: member_get_by_member_number(member_number=value),
    MemberIdentifier.PHONE: lambda value, now: member_get_by_phone(phone=value),
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


def pos_member_resolve(
    *, now: datetime, policy: PointsPolicy, card_code: str = "", member_number: str = "", phone: str = ""
) -> Member | None:
    """Return the member a POS purchase names, trying its identifiers in the policy's order; None if none given.

    An identifier that fails (unknown, expired card code) lets the next given one be tried; when all fail,
    the first failure is raised. Raises InvalidInput (an identifier the policy does not match by),
    InvalidCardCode, InvalidPhone, NotFound.
    """
    given = {
        MemberIdentifier.CARD_CODE: (card_code or "").strip(),
        MemberIdentifier.MEMBER_NUMBER: (member_number or "").strip(),
        MemberIdentifier.PHONE: (phone or "").strip(),
    }
    given = {name: value for name, value in given.items() if value}
    if not given:
        return None
    order = [MemberIdentifier(name) for name in policy.member_match_order]
    refused = sorted(name for name in given if name not in order)
    if refused:
        raise InvalidInput(fields={name: ["purchases are not matched by this identifier"] for name in refused})
    first_error: LoyaltyError | None = None
    for name in order:
        if name not in given:
            continue
        try:
            return LOOKUPS[name](given[name], now)
        except (InvalidCardCode, InvalidPhone, InvalidInput, NotFound) as error:
            first_error = first_error or error
    raise first_error


@dataclass(frozen=True)
class MemberPoints:
    balance: int
    pending: int
    debt: int
    lots: list[PointsLot]


def member_points_get(*, member_id: int) -> MemberPoints:
    """Return a member's balances and the lots that still hold points (pending ones included), soonest first."""
    member = Member.objects.only("points_balance", "points_pending", "points_debt").get(pk=member_id)
    lots = list(
        PointsLot.objects.filter(member_id=member_id, remaining__gt=0)
        .select_related("entry")
        .order_by("-is_active", F("expires_at").asc(nulls_last=True), "activates_at", "pk")
    )
    return MemberPoints(
        balance=member.points_balance, pending=member.points_pending, debt=member.points_debt, lots=lots
    )


def member_points_entries(*, member_id: int):
    """Return a member's ledger entries, newest first (a queryset for cursor pagination)."""
    return PointsEntry.objects.filter(member_id=member_id).select_related("purchase").order_by("-pk")


def member_facts_get(*, member: Member | None) -> MemberFacts:
    """Return what the earning pipeline knows of a member: tier, tier multiplier, birthday."""
    if member is None:
        return MemberFacts()
    if member.tier_id is None:
        return MemberFacts(birthday=member.birthday)
    tier = Tier.objects.only("code", "name", "earn_multiplier").get(pk=member.tier_id)
    return MemberFacts(
        tier_id=tier.pk,
        tier_name=f"{tier.code} {tier.name}",
        tier_multiplier=tier.earn_multiplier,
        birthday=member.birthday,
    )
