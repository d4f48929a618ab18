"""The event-driven kinds: what happened to a member decides which running campaigns reach them, and on which occasion.

Each trigger finds the running campaigns of its kind on the local date (their first and last days included), keeps
the members the campaign's segment selects (when it has one), and calls `campaign_deliver` with the occasion that
makes the delivery once-only (the recipient row's unique constraint):

- welcome: a member joined (`member_joined`), occasion `welcome`;
- after_purchase: a purchase by a member (`purchase_recorded`) of at least `params.min_amount` after discounts
  (gross less the till's, the tier's and the coupon's discounts: what the member spent, whatever paid it), occasion
  `purchase:<purchase id>`;
- tier_upgrade: a move to a higher rank (`tier_changed`; a first tier counts, a downgrade or a move sideways does
  not), optionally only into `params.tiers`, occasion `tier:<tier history id>`;
- near_store: the mini program reports where the member is (`POST me/location`): within `params.radius_m` of the
  campaign's store (of the nearest active store with coordinates for a brand-wide campaign) during one of
  `params.windows` (local time; Monday to Friday when `weekdays_only`), occasion `near:<store>:<date>:<window start>`:
  at most once per window, even for a brand-wide campaign reported near two stores in the same window. A campaign
  of a store is that store's offer to its own members (the campaign's store is the members' home store, as for
  every kind, and its staff's scope): a member of another store near it gets nothing from it, nor does its
  member near another store;
- points_expiring: the daily points reminder job (`points_expiring` signal, one reminder per member and soonest
  expiry date) when settings.POINTS_EXPIRY_REMINDERS_BY_CAMPAIGN is on: the reminders whose date falls within the
  campaign's `params.days_before` (none: all of them, at the points policy's `reminder_days`), occasion the
  reminder's key (`points_expiring:<member>:<date>`), the message filled with `{points}`, `{days}` and
  `{expires_on}`. A transactional campaign (no marketing consent needed, no weekly cap, no global control group).
  When no points_expiring campaign exists at all, the first reminder creates the default one, running, with
  points' former message in every language and no `days_before`, so that it follows the policy's notice: the
  merchant edits, pauses or ends it like any campaign (paused or ended: no reminders).
- coupon_expiring: the daily coupon reminder job (`coupon_expiring` signal, one reminder per available coupon within
  its template's `reminder_days`) when settings.COUPON_EXPIRY_REMINDERS_BY_CAMPAIGN is on: the reminders whose
  coupon ends within the campaign's `params.days_before` (none: each template's own notice) and is still
  available, occasion the coupon's key (`coupon_expiring:<coupon id>`: once per coupon, however often the job
  runs), the message filled with `{coupon}` (the template's name in the member's language), `{days}` and
  `{expires_on}`. A member with two coupons due gets one message per coupon (one delivery call per round).
  Transactional, and created as a default (running) on the first reminder like points_expiring, without
  `days_before`.

Signal receivers (campaigns/receivers.py) only enqueue the tasks that call these, after commit.
"""

import datetime
import math
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from campaigns.errors import CampaignNotRunning
from campaigns.kinds import TRANSACTIONAL_KINDS
from campaigns.models import Campaign, CampaignRecipient
from campaigns.selectors.segments import segment_members_of
from campaigns.services.campaigns import DeliverResult, campaign_deliver
from infra.translation import in_language, localized_column, translations_of
from members.models import Member, Notification, Purchase, Store, Tier, TierHistory
from points.models import PointsPolicy

Kind = Campaign.Kind
EARTH_RADIUS_M = 6_371_000


def _local(now: datetime.datetime) -> datetime.datetime:
    return now.astimezone(ZoneInfo(settings.TIME_ZONE))


def campaigns_running(*, kind: str, now: datetime.datetime) -> list[Campaign]:
    """The running campaigns of `kind` whose dates include the local date of `now`, oldest first."""
    today = _local(now).date()
    return list(
        Campaign.objects.filter(kind=kind, status=Campaign.Status.RUNNING)
        .filter(Q(starts_on__isnull=True) | Q(starts_on__lte=today), Q(ends_on__isnull=True) | Q(ends_on__gte=today))
        .select_related("store", "segment")
        .order_by("pk")
    )


def _in_audience(campaign: Campaign, member_id: int, now: datetime.datetime) -> bool:
    """Whether the campaign's segment (if any) selects the member now; the store and status are campaign_deliver's."""
    if campaign.segment_id is None:
        return True
    return segment_members_of(segment=campaign.segment, now=now).filter(pk=member_id).exists()


def _deliver(campaign: Campaign, *, member_id: int, occasion: str, now: datetime.datetime) -> DeliverResult | None:
    """Deliver one member's occasion; None when the segment leaves them out or the campaign stopped meanwhile."""
    if not _in_audience(campaign, member_id, now):
        return None
    try:
        return campaign_deliver(campaign_id=campaign.pk, member_ids=[member_id], occasion=occasion, now=now)
    except CampaignNotRunning:  # paused or finished between the read and the delivery
        return None


def _deliver_all(kind: str, *, member_id: int, occasion: str, now: datetime.datetime) -> dict[int, DeliverResult]:
    results = {}
    for campaign in campaigns_running(kind=kind, now=now):
        result = _deliver(campaign, member_id=member_id, occasion=occasion, now=now)
        if result is not None:
            results[campaign.pk] = result
    return results


def campaigns_trigger_welcome(*, member_id: int, now: datetime.datetime) -> dict[int, DeliverResult]:
    """Welcome a member who joined: every running welcome campaign, once per member (occasion `welcome`)."""
    return _deliver_all(Kind.WELCOME, member_id=member_id, occasion="welcome", now=now)


def campaigns_trigger_after_purchase(*, purchase_id: int, now: datetime.datetime) -> dict[int, DeliverResult]:
    """Reach the buyer of a purchase through the running after_purchase campaigns whose minimum it meets."""
    purchase = (
        Purchase.objects.filter(pk=purchase_id, member__isnull=False)
        .values("member_id", "gross_amount", "discount_amount")
        .first()
    )
    if purchase is None:
        return {}
    spent = purchase["gross_amount"] - purchase["discount_amount"]
    results = {}
    for campaign in campaigns_running(kind=Kind.AFTER_PURCHASE, now=now):
        if spent < Decimal(campaign.params.get("min_amount") or 0):
            continue
        result = _deliver(campaign, member_id=purchase["member_id"], occasion=f"purchase:{purchase_id}", now=now)
        if result is not None:
            results[campaign.pk] = result
    return results


def campaigns_trigger_tier_upgrade(
    *, member_id: int, old_tier_id: int | None, new_tier_id: int | None, now: datetime.datetime
) -> dict[int, DeliverResult]:
    """Congratulate a member who moved up a tier (a higher rank; no tier before counts as the lowest)."""
    ranks = dict(Tier.objects.filter(pk__in=[old_tier_id, new_tier_id]).values_list("pk", "rank"))
    if new_tier_id is None or ranks.get(new_tier_id, 0) <= ranks.get(old_tier_id, 0):
        return {}
    history_id = (
        TierHistory.objects.filter(member_id=member_id, old_tier_id=old_tier_id, new_tier_id=new_tier_id)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    if history_id is None:  # every move writes its history row before the signal: nothing to name the occasion by
        return {}
    results = {}
    for campaign in campaigns_running(kind=Kind.TIER_UPGRADE, now=now):
        tiers = campaign.params.get("tiers")
        if tiers and new_tier_id not in tiers:
            continue
        result = _deliver(campaign, member_id=member_id, occasion=f"tier:{history_id}", now=now)
        if result is not None:
            results[campaign.pk] = result
    return results


# -- near a store -------------------------------------------------------------------------------------------------
def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """The great-circle distance in metres (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi, d_lambda = phi2 - phi1, math.radians(lng2 - lng1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


def _open_window(params: dict, local: datetime.datetime) -> str | None:
    """The start ("08:00") of the campaign's window that holds the local time, or None outside them."""
    if params.get("weekdays_only") and local.weekday() >= 5:
        return None
    clock = local.time().replace(tzinfo=None)
    for start, end in params.get("windows") or ():
        if datetime.time.fromisoformat(start) <= clock < datetime.time.fromisoformat(end):
            return start
    return None


def _stores_near(
    *, latitude: float, longitude: float, radius_m: int, store_id: int | None
) -> list[tuple[float, Store]]:
    """Active stores with coordinates within `radius_m` (only `store_id` when given), nearest first."""
    # A bounding box first (an index-free filter on a few hundred stores at most), then the exact distance.
    lat_delta = radius_m / 111_000
    lng_delta = radius_m / (111_000 * max(math.cos(math.radians(latitude)), 0.01))
    stores = Store.objects.filter(
        is_active=True,
        latitude__range=(Decimal(str(latitude - lat_delta)), Decimal(str(latitude + lat_delta))),
        longitude__range=(Decimal(str(longitude - lng_delta)), Decimal(str(longitude + lng_delta))),
    ).only("pk", "code", "name", "latitude", "longitude")
    if store_id is not None:
        stores = stores.filter(pk=store_id)
    found = []
    for store in stores:
        distance = distance_m(latitude, longitude, float(store.latitude), float(store.longitude))
        if distance <= radius_m:
            found.append((distance, store))
    return sorted(found, key=lambda pair: (pair[0], pair[1].pk))


@dataclass(frozen=True)
class NearStoreOffer:
    campaign: Campaign
    store: Store
    distance_m: int
    occasion: str
    result: DeliverResult


def campaigns_trigger_near_store(
    *, member_id: int, latitude: float, longitude: float, now: datetime.datetime
) -> list[NearStoreOffer]:
    """Give the member each running near_store campaign's offer whose store is within its radius during one of its
    windows, at most once per campaign and window (see the module). Returns the deliveries made or found again."""
    local = _local(now)
    offers = []
    home_store_id = Member.objects.filter(pk=member_id).values_list("home_store_id", flat=True).first()
    for campaign in campaigns_running(kind=Kind.NEAR_STORE, now=now):
        if campaign.store_id is not None and campaign.store_id != home_store_id:
            continue  # another store's offer to its own members
        params = campaign.params or {}
        window = _open_window(params, local)
        if window is None:
            continue
        near = _stores_near(
            latitude=latitude, longitude=longitude, radius_m=int(params["radius_m"]), store_id=campaign.store_id
        )
        if not near:
            continue
        distance, store = near[0]
        suffix = f":{local.date().isoformat()}:{window}"
        # A brand-wide campaign names the store of the first report in the window: a later report near another
        # store in the same window finds that occasion and gets nothing more.
        earlier = (
            CampaignRecipient.objects.filter(
                campaign=campaign, member_id=member_id, occasion__startswith="near:", occasion__endswith=suffix
            )
            .values_list("occasion", flat=True)
            .first()
        )
        occasion = earlier or f"near:{store.pk}{suffix}"
        result = _deliver(campaign, member_id=member_id, occasion=occasion, now=now)
        if result is not None:
            offers.append(
                NearStoreOffer(
                    campaign=campaign, store=store, distance_m=round(distance), occasion=occasion, result=result
                )
            )
    return offers


# -- points expiring ----------------------------------------------------------------------------------------------
DEFAULT_POINTS_EXPIRING = {
    "name": {"en": "Points expiry reminder", "zh-hant": "積分到期提醒", "zh-hans": "积分到期提醒"},
    "message_title": {"en": "Your points expire soon", "zh-hant": "你的積分即將到期", "zh-hans": "你的积分即将到期"},
    "message_body": {
        "en": "{points} of your points will expire in the next {days} days, the first on {expires_on}.",
        "zh-hant": "你有 {points} 積分將於未來 {days} 日內到期，最早一批於 {expires_on} 到期。",
        "zh-hans": "你有 {points} 积分将于未来 {days} 天内到期，最早一批于 {expires_on} 到期。",
    },
}
DELIVER_CHUNK = 1000


@transaction.atomic
def points_expiring_campaign_default_ensure() -> Campaign:
    """Return the points_expiring campaign to run, creating the default one (running) when none exists at all.

    Serialised on the points policy's row, so that two reminder chunks at once create one campaign."""
    PointsPolicy.objects.select_for_update().get(pk=PointsPolicy.load().pk)
    existing = Campaign.objects.filter(kind=Kind.POINTS_EXPIRING).order_by("pk").first()
    if existing is not None:
        return existing
    return _reminder_campaign_create(kind=Kind.POINTS_EXPIRING, texts=DEFAULT_POINTS_EXPIRING)


def _reminder_campaign_create(*, kind: str, texts: dict) -> Campaign:
    """Create a running reminder campaign of `kind`, with `texts` ({field: {language: text}}): transactional for
    points, marketing for coupons (campaigns.channels.policy: a coupon about to expire invites a purchase).

    Without `days_before`: it speaks when the points policy's or the coupon template's `reminder_days` says, so
    that changing those later still holds (a days_before frozen at creation would override them)."""
    campaign = Campaign(
        kind=kind,
        status=Campaign.Status.RUNNING,
        params={},
        channels=["wechat", "sms", "email"],
        is_marketing=kind not in TRANSACTIONAL_KINDS,
        respects_global_control=kind not in TRANSACTIONAL_KINDS,
    )
    for field, by_language in texts.items():
        for language, text in by_language.items():
            setattr(campaign, localized_column(field, language), text)
    campaign.save()
    return campaign


def campaigns_trigger_points_expiring(*, reminders: list[dict], now: datetime.datetime) -> dict[int, int]:
    """Deliver the points reminders (as the `points_expiring` signal gives them) through the running
    points_expiring campaigns; return {campaign id: members delivered to}."""
    if not Campaign.objects.filter(kind=Kind.POINTS_EXPIRING).exists():
        points_expiring_campaign_default_ensure()
    # A reminder points already sent with its own message (before the campaign took over) is not sent again.
    sent = set(
        Notification.objects.filter(dedupe_key__in=[r["key"] for r in reminders]).values_list("dedupe_key", flat=True)
    )
    reminders = [r for r in reminders if r["key"] not in sent]
    today = _local(now).date()
    delivered = {}
    for campaign in campaigns_running(kind=Kind.POINTS_EXPIRING, now=now):
        due = _due(campaign, reminders, by="member_id", today=today, now=now)
        delivered[campaign.pk] = _deliver_reminders(
            campaign,
            {member_id: due[member_id] for member_id in sorted(due)},
            fields_of=lambda reminder: {key: reminder[key] for key in ("points", "days", "expires_on")},
            now=now,
        )
    return delivered


def _due(campaign: Campaign, reminders: list[dict], *, by: str, today: datetime.date, now: datetime.datetime) -> dict:
    """Return the reminders (keyed by their `by`) that fall within the campaign's `days_before` of `today` (without
    one: all, each sent at its source's own notice), of the members its segment (if any) selects."""
    days_before = (campaign.params or {}).get("days_before")
    if days_before is None:
        due = {r[by]: r for r in reminders}
    else:
        horizon = today + datetime.timedelta(days=int(days_before))
        due = {r[by]: r for r in reminders if datetime.date.fromisoformat(r["expires_on"]) <= horizon}
    if campaign.segment_id and due:
        chosen = set(
            segment_members_of(segment=campaign.segment, now=now)
            .filter(pk__in={r["member_id"] for r in due.values()})
            .values_list("pk", flat=True)
        )
        due = {key: r for key, r in due.items() if r["member_id"] in chosen}
    return due


def _deliver_reminders(campaign: Campaign, reminders: dict[int, dict], *, fields_of, now: datetime.datetime) -> int:
    """Deliver the campaign to the members of `reminders` (member id -> reminder, in the order to deliver), on each
    reminder's key as occasion, its message filled with `fields_of(reminder)`, DELIVER_CHUNK members a call; return
    how many were delivered, stopping when the campaign stops running."""
    ids = list(reminders)
    count = 0
    for start in range(0, len(ids), DELIVER_CHUNK):
        chunk = ids[start : start + DELIVER_CHUNK]
        try:
            result = campaign_deliver(
                campaign_id=campaign.pk,
                member_ids=chunk,
                occasion={member_id: reminders[member_id]["key"] for member_id in chunk},
                fields={member_id: fields_of(reminders[member_id]) for member_id in chunk},
                now=now,
            )
        except CampaignNotRunning:
            break
        count += result.delivered
    return count


# -- coupon expiring ----------------------------------------------------------------------------------------------
DEFAULT_COUPON_EXPIRING = {
    "name": {"en": "Coupon expiry reminder", "zh-hant": "優惠券到期提醒", "zh-hans": "优惠券到期提醒"},
    "message_title": {
        "en": "Your coupon expires soon",
        "zh-hant": "您的優惠券即將到期",
        "zh-hans": "您的优惠券即将到期",
    },
    "message_body": {
        "en": "Your coupon “{coupon}” expires on {expires_on}. Use it before then.",
        "zh-hant": "您的優惠券「{coupon}」將於 {expires_on} 到期，請盡快使用。",
        "zh-hans": "您的优惠券“{coupon}”将于 {expires_on} 到期，请尽快使用。",
    },
}


@transaction.atomic
def coupon_expiring_campaign_default_ensure() -> Campaign:
    """Return the coupon_expiring campaign to run, creating the default one (running) when none exists at all.

    Serialised on the points policy's row (the program's one settings row, as for points_expiring), so that two
    reminder chunks at once create one campaign."""

    PointsPolicy.objects.select_for_update().get(pk=PointsPolicy.load().pk)
    existing = Campaign.objects.filter(kind=Kind.COUPON_EXPIRING).order_by("pk").first()
    if existing is not None:
        return existing
    return _reminder_campaign_create(kind=Kind.COUPON_EXPIRING, texts=DEFAULT_COUPON_EXPIRING)


def _rounds(due: dict[int, dict]) -> list[dict[int, dict]]:
    """Split reminders (coupon id -> reminder) into rounds with one reminder per member each (campaign_deliver takes
    one occasion per member and call), each round in member id order."""
    by_member: dict[int, list[dict]] = {}
    for coupon_id in sorted(due):
        by_member.setdefault(due[coupon_id]["member_id"], []).append(due[coupon_id])
    rounds: list[dict[int, dict]] = []
    for member_id in sorted(by_member):
        for number, reminder in enumerate(by_member[member_id]):
            if number == len(rounds):
                rounds.append({})
            rounds[number][member_id] = reminder
    return rounds


def campaigns_trigger_coupon_expiring(*, reminders: list[dict], now: datetime.datetime) -> dict[int, int]:
    """Deliver the coupon reminders (as the `coupon_expiring` signal gives them) through the running coupon_expiring
    campaigns; return {campaign id: messages delivered}."""
    from coupons.models import Coupon, CouponTemplate

    if not Campaign.objects.filter(kind=Kind.COUPON_EXPIRING).exists():
        coupon_expiring_campaign_default_ensure()
    # A reminder coupons already sent with its own message (before the campaign took over) is not sent again, and a
    # coupon used or withdrawn since the job ran is not reminded of.
    sent = set(
        Notification.objects.filter(dedupe_key__in=[r["key"] for r in reminders]).values_list("dedupe_key", flat=True)
    )
    available = set(
        Coupon.objects.filter(
            pk__in=[r["coupon_id"] for r in reminders], status=Coupon.Status.AVAILABLE, valid_until__gt=now
        ).values_list("pk", flat=True)
    )
    reminders = [r for r in reminders if r["key"] not in sent and r["coupon_id"] in available]
    if not reminders:
        return {}
    names = {
        template.pk: translations_of(template, "name")
        for template in CouponTemplate.objects.filter(pk__in={r["template_id"] for r in reminders})
    }
    locales = dict(Member.objects.filter(pk__in={r["member_id"] for r in reminders}).values_list("pk", "locale"))
    today = _local(now).date()
    delivered = {}
    for campaign in campaigns_running(kind=Kind.COUPON_EXPIRING, now=now):
        due = _due(campaign, reminders, by="coupon_id", today=today, now=now)
        delivered[campaign.pk] = sum(
            _deliver_reminders(
                campaign,
                round_,
                fields_of=lambda reminder: _coupon_fields(reminder, names, locales, today),
                now=now,
            )
            for round_ in _rounds(due)
        )
    return delivered


def _coupon_fields(reminder: dict, names: dict, locales: dict, today: datetime.date) -> dict:
    expires_on = datetime.date.fromisoformat(reminder["expires_on"])
    return {
        "coupon": in_language(names.get(reminder["template_id"], {}), locales.get(reminder["member_id"])) or "",
        "expires_on": reminder["expires_on"],
        "days": max((expires_on - today).days, 0),
    }
