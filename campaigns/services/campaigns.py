"""Writers of campaigns: saving one (its kind's settings checked) and delivering it to members.

`campaign_deliver` is the one entry point every kind uses (the scheduled runs of campaigns.services.campaign_runs,
the triggers of the event kinds). In one transaction per chunk it:

1. locks the chunk's members (primary-key order, as every writer of members does): whatever reaches a member, a
   coupon issue, a points credit, another campaign's delivery, waits for this chunk, so the caps below count what
   is really there and nothing else can write the same member's row meanwhile;
2. writes one `CampaignRecipient` per member and occasion not reached before (`bulk_create(ignore_conflicts=True)`
   over the unique constraint, then reads back the rows it created): a retried, duplicated or resumed chunk
   writes nothing for the members already done;
3. decides for each new row: held out (the member's stable bucket salted with the campaign id is below the
   hold-out share), capped (this campaign's cap per member over its life, the calendar day or week; or the
   weekly cap of marketing messages per member and channel of all campaigns together,
   CAMPAIGN_MESSAGES_PER_MEMBER_PER_WEEK), or delivered;
4. takes the budget (coupons, points) by a conditional UPDATE of the campaign's counters: with a budget the
   campaign row is locked, what is left is read, at most that many members are rewarded, and the UPDATE moves the
   counters only while they stay within the budget (the database's check constraints are the backstop); the others
   are `budget_exhausted` and get nothing;
5. gives each reward through its own service under the recipient's key `campaign:<recipient id>` (the chunk's
   coupons in a few statements through coupons_issue_many; points credit and multiplier window per member), and
   writes the inbox notification with an outbox message per channel the campaign chose and the member consented to
   (marketing needs the consent to marketing as well; a member who withdrew it gets the inbox only). Quiet hours
   and consent are checked again by the sender at send time.

Steps 2 and 5 as written above are the portable reference (`_write_reference`). On PostgreSQL, a campaign whose
rewards are a coupon and/or a message (no points, no multiplier window, no partner-code template) has its chunk
written by one statement (`_write_set_based`, campaigns/sql.py): the same decisions taken in Python, then every
recipient row, coupon, notification and outbox message inserted at once with the same keys. A conflict rolls that
statement back and the reference writes the chunk.
"""

import datetime
import string
from collections import Counter
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import CharField, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.utils.translation import gettext as _

from campaigns import sql
from campaigns.errors import CampaignInvalid, CampaignNotRunning, CampaignStatusInvalid
from campaigns.kinds import TRANSACTIONAL_KINDS, kind_params_clean
from campaigns.lift.control import global_control_member_ids
from campaigns.models import Campaign, CampaignRecipient
from campaigns.segments.buckets import member_bucket
from campaigns.selectors.scope import campaign_check_scope
from infra.bulk_sql import field_in, set_based
from infra.errors import LoyaltyError, NotFound
from infra.translation import in_language, languages, localized_column, translations_of
from members.models import Member, Notification, OutboxMessage
from members.services.notifications import NotificationDraft, notify_many
from points.services.multiplier_windows import multiplier_window_grant

Status = CampaignRecipient.Status
Channel = OutboxMessage.Channel

# The campaign's channel names (as the console shows them) and the outbox's.
CHANNELS = {"wechat": Channel.WECHAT_SUBSCRIBE, "sms": Channel.SMS, "email": Channel.EMAIL}
CHANNEL_CONSENT = {
    Channel.WECHAT_SUBSCRIBE: ("consent_wechat", "wechat_openid"),
    Channel.SMS: ("consent_sms", "phone"),
    Channel.EMAIL: ("consent_email", "email"),
}
PLACEHOLDERS = ("name", "first_name", "member_number", "points_balance")
# Fields a kind's trigger gives per member besides the member's own (campaign_deliver's `fields`).
KIND_PLACEHOLDERS = {
    Campaign.Kind.POINTS_EXPIRING: ("points", "days", "expires_on"),
    Campaign.Kind.COUPON_EXPIRING: ("coupon", "days", "expires_on"),
}
EDITABLE_STATUSES = frozenset({Campaign.Status.DRAFT, Campaign.Status.SCHEDULED, Campaign.Status.PAUSED})
# The latest send time a campaign may have (campaigns.run_due_campaigns runs every 5 minutes).
LATEST_SEND_AT = datetime.time(23, 50)
MEMBER_FIELDS = (
    "pk", "locale", "name", "member_number", "points_balance", "consent_marketing",
    "consent_wechat", "wechat_openid", "consent_sms", "phone", "consent_email", "email",
)  # fmt: skip
INBOX = "inbox"


# -- saving ----------------------------------------------------------------------------------------------------
def _placeholder_errors(text: str, known: tuple[str, ...] = PLACEHOLDERS) -> list[str]:
    try:
        names = {name for _literal, name, _spec, _conversion in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return [_("Write a member field as {name}; write a brace itself as {{ or }}.")]
    unknown = sorted(name for name in names if name not in known)
    if unknown:
        return [
            _("Unknown member fields: %(unknown)s. Use: %(known)s.")
            % {"unknown": ", ".join(unknown), "known": ", ".join(f"{{{name}}}" for name in known)}
        ]
    return []


def campaign_errors(*, campaign: Campaign) -> dict[str, list[str]]:
    """Return what is wrong with a campaign's settings by field (empty when it may be saved); clean its params."""
    params, errors = kind_params_clean(kind=campaign.kind, params=campaign.params)
    if not errors:
        campaign.params = params
    channels = campaign.channels if isinstance(campaign.channels, list) else None
    if channels is None or any(channel not in CHANNELS for channel in channels) or len(set(channels)) != len(channels):
        errors["channels"] = [_("Choose among: %(channels)s.") % {"channels": ", ".join(CHANNELS)}]
    if not 0 <= (campaign.holdout_percent or 0) <= 50:
        errors["holdout_percent"] = [_("Give a hold-out from 0 to 50 percent.")]
    if campaign.multiplier is not None:
        if not 1 < campaign.multiplier <= 10:
            errors["multiplier"] = [_("Give a multiplier above 1 and at most 10.")]
        if not campaign.multiplier_days:
            errors["multiplier_days"] = [_("Give how many days the multiplier lasts.")]
    has_reward = campaign.coupon_template_id or campaign.points_bonus or campaign.multiplier is not None
    if not campaign.is_marketing and campaign.kind not in TRANSACTIONAL_KINDS:
        errors["is_marketing"] = [_("Only reminders about the member's own points are not marketing.")]
    elif not campaign.is_marketing and has_reward:
        errors["is_marketing"] = [_("A message that brings a reward is marketing.")]
    if campaign.send_at and campaign.send_at > LATEST_SEND_AT:
        # Due runs are started by a job every few minutes: a time after its last round of the day is never reached.
        errors["send_at"] = [_("Choose a time by %(time)s.") % {"time": LATEST_SEND_AT.strftime("%H:%M")}]
    if campaign.starts_on and campaign.ends_on and campaign.ends_on < campaign.starts_on:
        errors["ends_on"] = [_("The campaign must end on or after its first day.")]
    if campaign.segment_id and campaign.store_id and campaign.segment.store_id not in (None, campaign.store_id):
        errors["segment"] = [_("Choose a segment of the campaign's store.")]
    if campaign.coupon_template_id and not campaign.coupon_template.is_active:
        errors["coupon_template"] = [_("Choose an active coupon template.")]
    for name in ("message_title", "message_body"):
        for language in languages():
            problems = _placeholder_errors(
                getattr(campaign, localized_column(name, language), "") or "",
                PLACEHOLDERS + KIND_PLACEHOLDERS.get(campaign.kind, ()),
            )
            if problems:
                errors[localized_column(name, language)] = problems
    has_message = any(translations_of(campaign, "message_title").values()) or any(
        translations_of(campaign, "message_body").values()
    )
    if not has_reward and not has_message:
        errors["message_title"] = [_("Give a reward or a message.")]
    return errors


@transaction.atomic
def campaign_save(*, campaign: Campaign, user) -> Campaign:
    """Create or change a campaign (a form's instance, every language filled in): settings checked, store scope kept.

    A new campaign starts as a draft; a campaign can be changed while it is a draft, scheduled or paused. Staff
    of a store save their store's campaigns only. Raises CampaignInvalid (naming the fields), CampaignStatusInvalid,
    CampaignPermissionDenied.
    """
    is_new = campaign.pk is None
    campaign_check_scope(campaign=campaign, user=user, permission=f"campaigns.{'add' if is_new else 'change'}_campaign")
    if is_new:
        campaign.status = Campaign.Status.DRAFT
        campaign.created_by = user
    else:
        stored = (
            Campaign.objects.select_for_update()
            .filter(pk=campaign.pk)
            .values("status", "store_id", "holdout_percent")
            .first()
        )
        if stored is None:
            raise NotFound()
        if stored["status"] not in EDITABLE_STATUSES:
            raise CampaignStatusInvalid(_("A running or finished campaign cannot be changed: pause it first."))
        campaign_check_scope(
            campaign=Campaign(store_id=stored["store_id"]), user=user, permission="campaigns.change_campaign"
        )
        campaign.status = stored["status"]  # only the lifecycle services move it
    errors = campaign_errors(campaign=campaign)
    if not is_new and campaign.holdout_percent != stored["holdout_percent"] and campaign.recipients.exists():
        # A member's group follows the share: changed after members were reached, some would move between the
        # hold-out and the treated, and the lift report would compare groups that both had the treatment.
        errors["holdout_percent"] = [_("The hold-out cannot change once the campaign has reached members.")]
    if errors:
        raise CampaignInvalid.for_field_errors(errors)
    campaign.save()
    return campaign


# -- delivering ------------------------------------------------------------------------------------------------
@dataclass
class DeliverResult:
    """What one call did: rows it created by status (members already reached on the occasion are `existing`)."""

    created: int = 0
    existing: int = 0
    skipped: int = 0  # not active, outside the campaign's store, or in the global control group
    statuses: Counter = field(default_factory=Counter)
    coupons: int = 0
    points: int = 0

    @property
    def delivered(self) -> int:
        return self.statuses[Status.DELIVERED]

    @property
    def held_out(self) -> int:
        return self.statuses[Status.HELD_OUT]


class _Row:
    """A recipient row being decided: who, on which occasion, and what it comes to (cheaper than a model instance,
    which only the reference builds)."""

    __slots__ = ("member_id", "occasion", "status", "held_out", "channels")

    def __init__(self, *, member_id: int, occasion: str):
        self.member_id, self.occasion = member_id, occasion
        self.status, self.held_out, self.channels = Status.DELIVERED, False, []


class _Format(dict):
    def __missing__(self, key):
        return "{" + key + "}"


def _render(text: str, member: dict, extra: dict | None = None) -> str:
    name = member["name"] or ""
    values = _Format(
        name=name,
        first_name=name.split()[0] if name.split() else "",
        member_number=member["member_number"] or "",
        points_balance=member["points_balance"],
    )
    values.update(extra or {})
    try:
        return text.format_map(values)
    except (ValueError, IndexError, AttributeError):  # checked at save; a text saved before stays as written
        return text


def _period_starts(now: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
    """The start of the local calendar day and week (Monday) of `now`: a daily run at 10:03 then 10:00 the next
    day is two days, not 23 hours and 57 minutes."""
    local = now.astimezone(ZoneInfo(settings.TIME_ZONE))
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return day, day - datetime.timedelta(days=local.weekday())


def _wanted_channels(campaign: Campaign, member: dict) -> list[str]:
    """The outbox channels of the campaign this member consented to (and has an address for)."""
    if campaign.is_marketing and not member["consent_marketing"]:
        return []
    wanted = []
    for name in campaign.channels or []:
        channel = CHANNELS[name]
        consent, address = CHANNEL_CONSENT[channel]
        if member[consent] and member[address]:
            wanted.append(channel)
    return wanted


def _campaign_rows_of(campaign: Campaign, member_ids: list[int]) -> Q:
    """The campaign's recipient rows of these members, their ids' range beside the list: for a campaign new to
    the planner's statistics, PostgreSQL walked the (campaign, member, occasion) index over every row of the
    campaign and kept the members of the list (a run's chunks slowing with its size); the range bounds that walk
    to the chunk's members."""
    if not member_ids:
        return Q(pk__in=[])
    return Q(
        field_in(CampaignRecipient, "member_id", member_ids),
        campaign=campaign,
        member_id__gte=min(member_ids),
        member_id__lte=max(member_ids),
    )


def _decide(*, campaign: Campaign, rows: list[_Row], members: dict[int, dict], now: datetime.datetime) -> None:
    """Set each new row's status (held out, capped, delivered) and the channels it will use."""
    day_start, week_start = _period_starts(now)
    member_ids = [row.member_id for row in rows]
    mine = Counter()
    mine_day = Counter()
    mine_week = Counter()
    if campaign.cap_per_member or campaign.cap_per_member_per_day or campaign.cap_per_member_per_week:
        for member_id, created_at in CampaignRecipient.objects.filter(
            _campaign_rows_of(campaign, member_ids), status=Status.DELIVERED
        ).values_list("member_id", "created_at"):
            mine[member_id] += 1
            mine_day[member_id] += created_at >= day_start
            mine_week[member_id] += created_at >= week_start
    limits = settings.CAMPAIGN_MESSAGES_PER_MEMBER_PER_WEEK if campaign.is_marketing else {}
    sent_week: dict[int, Counter] = {}
    if limits:
        for member_id, channels in CampaignRecipient.objects.filter(
            field_in(CampaignRecipient, "member_id", member_ids),
            status=Status.DELIVERED,
            created_at__gte=week_start,
            campaign__is_marketing=True,
        ).values_list("member_id", "channels"):
            counts = sent_week.setdefault(member_id, Counter())
            counts[INBOX] += 1
            counts.update(channels or [])
    threshold = (campaign.holdout_percent or 0) * 100  # of the 10,000 buckets
    for row in rows:
        member_id = row.member_id
        counts = sent_week.get(member_id, Counter())
        if threshold and member_bucket(member_id, campaign.pk) < threshold:
            row.status, row.held_out = Status.HELD_OUT, True
        elif (
            (campaign.cap_per_member is not None and mine[member_id] >= campaign.cap_per_member)
            or (campaign.cap_per_member_per_day is not None and mine_day[member_id] >= campaign.cap_per_member_per_day)
            or (
                campaign.cap_per_member_per_week is not None
                and mine_week[member_id] >= campaign.cap_per_member_per_week
            )
            or (INBOX in limits and counts[INBOX] >= limits[INBOX])
        ):
            row.status = Status.CAPPED
        else:
            row.status = Status.DELIVERED
            row.channels = [
                channel
                for channel in _wanted_channels(campaign, members[member_id])
                if channel not in limits or counts[channel] < limits[channel]
            ]


def _affordable(campaign_id: int, wanted: int) -> tuple[Campaign, int]:
    """Lock the campaign's row and return it with how many of `wanted` members its budgets still cover."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
    affordable = wanted
    if campaign.coupon_template_id and campaign.budget_coupons is not None:
        affordable = min(affordable, max(campaign.budget_coupons - campaign.coupons_issued, 0))
    if campaign.points_bonus and campaign.budget_points is not None:
        affordable = min(affordable, max(campaign.budget_points - campaign.points_granted, 0) // campaign.points_bonus)
    return campaign, affordable


def _take_budget(campaign: Campaign, *, coupons: int, points: int) -> None:
    """Move the counters by what was given, only while they stay within the budgets (a conditional UPDATE)."""
    if not coupons and not points:
        return
    within = Campaign.objects.filter(pk=campaign.pk).filter(
        Q(budget_coupons__isnull=True) | Q(coupons_issued__lte=F("budget_coupons") - coupons),
        Q(budget_points__isnull=True) | Q(points_granted__lte=F("budget_points") - points),
    )
    if not within.update(coupons_issued=F("coupons_issued") + coupons, points_granted=F("points_granted") + points):
        raise AssertionError("a campaign's budget moved under its row lock")  # unreachable: the row is locked


def _reward(*, campaign: Campaign, row: CampaignRecipient, now: datetime.datetime, expires_at) -> None:
    """Give one delivered row its points and multiplier window under keys derived from it (a retry returns what the
    first call gave). Its coupon came with the chunk's (_coupons)."""
    from members.models import PointsEntry
    from members.services.ledger import points_credit

    key = f"campaign:{row.pk}"
    if campaign.points_bonus:
        points_credit(
            member_id=row.member_id,
            points=campaign.points_bonus,
            kind=PointsEntry.Kind.ADDITION,
            idempotency_key=key,
            now=now,
            expires_at=expires_at,
            source="campaign",
            reason=translations_of(campaign, "name"),  # as it is now, shown in each reader's language
            breakdown={"campaign": campaign.pk},
        )
        row.points_granted = campaign.points_bonus
    if campaign.multiplier is not None:
        multiplier_window_grant(
            member_id=row.member_id,
            multiplier=campaign.multiplier,
            starts_at=now,
            ends_at=now + datetime.timedelta(days=campaign.multiplier_days or 1),
            key=key,
            reason=translations_of(campaign, "name"),
            now=now,
        )


def _coupons(*, campaign: Campaign, rows: list[CampaignRecipient], now: datetime.datetime) -> list[CampaignRecipient]:
    """Give the rows the campaign's coupon, the whole chunk at once (coupons_issue_many, keys `campaign:<row id>`);
    return the rows still delivered. A template that ran out or ended leaves its rows without a reward and without
    a message promising one (`budget_exhausted`)."""
    if not campaign.coupon_template_id or not rows:
        return rows
    from coupons.models import Coupon
    from coupons.services.bulk import coupons_issue_many

    try:
        issued = coupons_issue_many(
            template_id=campaign.coupon_template_id,
            issue_keys={row.member_id: f"campaign:{row.pk}" for row in rows},
            source=Coupon.Source.BULK,  # announced by the campaign's own message, not a second notification
            now=now,
        )
    except LoyaltyError:
        issued = {}
    for row in rows:
        row.coupon_id = issued.get(row.member_id)
        if row.coupon_id is None:
            row.status, row.channels = Status.BUDGET_EXHAUSTED, []
    return [row for row in rows if row.coupon_id is not None]


def _rewards(*, campaign: Campaign, rows: list[CampaignRecipient], now: datetime.datetime) -> tuple[int, int]:
    """Reward the delivered rows within the budgets; return (coupons, points) given."""
    delivered = [row for row in rows if row.status == Status.DELIVERED]
    has_reward = campaign.coupon_template_id or campaign.points_bonus or campaign.multiplier is not None
    if not delivered or not has_reward:
        return 0, 0
    budgeted = (campaign.coupon_template_id and campaign.budget_coupons is not None) or (
        campaign.points_bonus and campaign.budget_points is not None
    )
    affordable = len(delivered)
    if budgeted:
        campaign, affordable = _affordable(campaign.pk, len(delivered))
    expires_at = None
    if campaign.points_bonus:
        from points.models import PointsPolicy

        expires_at = PointsPolicy.load().expires_at_for(earned_at=now)
    for row in delivered[affordable:]:
        row.status, row.channels = Status.BUDGET_EXHAUSTED, []
    rewarded = _coupons(campaign=campaign, rows=delivered[:affordable], now=now)
    coupons = sum(row.coupon_id is not None for row in delivered)
    points = 0
    if campaign.points_bonus or campaign.multiplier is not None:
        for row in rewarded:
            try:
                with transaction.atomic():
                    _reward(campaign=campaign, row=row, now=now, expires_at=expires_at)
            except LoyaltyError:
                # The member's balance is full: no more reward, no message promising it (a coupon given stays).
                row.status, row.channels, row.points_granted = Status.BUDGET_EXHAUSTED, [], 0
                continue
            points += row.points_granted
    _take_budget(campaign, coupons=coupons, points=points)
    return coupons, points


def _message_params(campaign: Campaign) -> dict:
    """What every message of the campaign stores besides its title and body."""
    # The sender's consent check (campaigns/channels/policy.py): no marketing consent needed.
    return {"campaign": campaign.pk, **({} if campaign.is_marketing else {"transactional": True})}


def _texts(*, campaign: Campaign, rows: list, members: dict[int, dict], fields: dict | None) -> list[tuple[str, str]]:
    """Each row's message (title, body) in its member's language, with the member's fields filled in."""
    titles, bodies = translations_of(campaign, "message_title"), translations_of(campaign, "message_body")
    names = translations_of(campaign, "name")
    by_locale = {}
    texts = []
    for row in rows:
        member = members[row.member_id]
        locale = member["locale"]
        if locale not in by_locale:
            by_locale[locale] = (in_language(titles, locale) or in_language(names, locale), in_language(bodies, locale))
        title, body = by_locale[locale]
        extra = (fields or {}).get(row.member_id)
        texts.append((_render(title, member, extra)[:200], _render(body, member, extra)))
    return texts


def _notify(
    *, campaign: Campaign, rows: list[CampaignRecipient], members: dict[int, dict], now, fields: dict | None = None
) -> None:
    delivered = [row for row in rows if row.status == Status.DELIVERED]
    if not delivered:
        return
    texts = _texts(campaign=campaign, rows=delivered, members=members, fields=fields)
    drafts = [
        NotificationDraft(
            member_id=row.member_id,
            params={"title": title, "body": body, **_message_params(campaign)},
            dedupe_key=f"campaign:{row.pk}",
        )
        for row, (title, body) in zip(delivered, texts, strict=True)
    ]
    notify_many(
        kind=Notification.Kind.CAMPAIGN,
        drafts=drafts,
        now=now,
        channels={row.member_id: row.channels for row in delivered},
    )
    ids = dict(
        Notification.objects.filter(dedupe_key__in=[draft.dedupe_key for draft in drafts]).values_list(
            "dedupe_key", "pk"
        )
    )
    for row in delivered:
        row.notification_id = ids.get(f"campaign:{row.pk}")


def _record_outcomes(rows: list[CampaignRecipient]) -> None:
    """Write what the rows came to: one UPDATE per distinct outcome (a chunk has a handful), each row's coupon and
    message found by their keys `campaign:<row id>` through the unique indexes in the same statement, so each row is
    written once. A bulk_update would build a CASE per row and field, most of a chunk's time."""
    from coupons.models import Coupon

    key = Concat(Value("campaign:"), Cast(OuterRef("pk"), output_field=CharField()))
    coupon = Subquery(Coupon.objects.filter(issue_key=key).values("pk")[:1])
    message = Subquery(Notification.objects.filter(member_id=OuterRef("member_id"), dedupe_key=key).values("pk")[:1])
    outcomes: dict[tuple, list[int]] = {}
    for row in rows:
        outcome = (row.status, row.held_out, tuple(row.channels), row.points_granted)
        outcomes.setdefault((*outcome, row.coupon_id is not None, row.notification_id is not None), []).append(row.pk)
    for (status, held_out, channels, points_granted, has_coupon, has_message), ids in outcomes.items():
        CampaignRecipient.objects.filter(pk__in=ids).update(
            status=status,
            held_out=held_out,
            channels=list(channels),
            points_granted=points_granted,
            coupon_id=coupon if has_coupon else None,
            notification_id=message if has_message else None,
        )


def _write_reference(
    *, campaign: Campaign, rows: list[_Row], members: dict[int, dict], now, run_id, fields
) -> tuple[int, int]:
    """Write a chunk's rows and give their rewards and messages (the portable reference); return (coupons, points)."""
    decided, rows = rows, [
        CampaignRecipient(
            campaign=campaign, member_id=row.member_id, occasion=row.occasion, run_id=run_id, status=row.status,
            held_out=row.held_out, channels=row.channels, created_at=now,
        )
        for row in rows
    ]  # fmt: skip
    CampaignRecipient.objects.bulk_create(rows, ignore_conflicts=True)
    # The member locks make these rows ours: read their ids back (bulk_create with ignore_conflicts sets none).
    wanted = {(row.member_id, row.occasion): row for row in rows}
    for pk, member_id, row_occasion in CampaignRecipient.objects.filter(
        campaign=campaign, member_id__in=[row.member_id for row in rows]
    ).values_list("pk", "member_id", "occasion"):
        row = wanted.get((member_id, row_occasion))
        if row is not None:
            row.pk = pk
    given = _rewards(campaign=campaign, rows=rows, now=now)
    _notify(campaign=campaign, rows=rows, members=members, now=now, fields=fields)
    _record_outcomes(rows)
    for row, written in zip(decided, rows, strict=True):
        row.status, row.channels = written.status, written.channels
    return given


class _Fallback(Exception):
    """The set-based write met something the reference handles (a conflict): its savepoint is rolled back."""


def _set_based_fits(campaign: Campaign) -> bool:
    """Whether a chunk of this campaign may be written by the PostgreSQL statement (campaigns/sql.py): on
    PostgreSQL, for coupon and message rewards (points and multiplier windows go member by member through their
    own services; a partner-code template picks its pool's codes one by one)."""
    if not set_based() or campaign.points_bonus or campaign.multiplier is not None:
        return False
    if campaign.coupon_template_id:
        from coupons.models import CouponTemplate

        return campaign.coupon_template.code_source != CouponTemplate.CodeSource.PARTNER_POOL
    return True


def _coupon_plan(*, campaign: Campaign, rows: list[_Row], now) -> tuple[dict | None, list, list[str]]:
    """What coupons_issue_many would give `rows` (in member order): (the coupon rows' constant columns, the rows
    within the template's quota, their codes). A template that ended or ran out gives none."""
    from coupons.codes import generate_codes
    from coupons.models import Coupon, CouponTemplate
    from coupons.services import _issuable_validity, _template_get

    try:
        template = _template_get(campaign.coupon_template_id)
        if template.quota is not None:  # the room left is read and taken under the template's row lock
            template = CouponTemplate.objects.select_for_update().get(pk=template.pk)
            rows = rows[: max(template.quota - template.issued_count, 0)]
        valid_from, valid_until = _issuable_validity(template=template, now=now)
    except LoyaltyError:
        return None, [], []
    common = {
        "template_id": template.pk, "status": Coupon.Status.AVAILABLE, "source": Coupon.Source.BULK,
        "issued_by_id": None, "issued_at": now, "valid_from": valid_from, "valid_until": valid_until,
    }  # fmt: skip
    return common, rows, generate_codes(len(rows), prefix=template.code_prefix, body_length=template.code_length)


def _write_set_based(
    *, campaign: Campaign, rows: list[_Row], members: dict[int, dict], now, run_id, fields
) -> tuple[int, int] | None:
    """Write a chunk's rows, coupons, messages and outbox in one statement (campaigns.sql.chunk_rows_insert): the
    decisions of _rewards and the rows of _rewards, _notify and _record_outcomes. Return (coupons, points) given,
    or None, having written nothing, when the statement met a conflict (a coupon code taken): the reference then
    writes the chunk."""
    from coupons.models import CouponTemplate
    from members.signals import coupons_issued, send_after_commit

    outcome = {row.member_id: (row.status, row.channels) for row in rows}
    delivered = [row for row in rows if row.status == Status.DELIVERED]
    coupon, codes = None, {}
    if campaign.coupon_template_id and delivered:
        affordable = len(delivered)
        if campaign.budget_coupons is not None:
            campaign, affordable = _affordable(campaign.pk, len(delivered))
        coupon, rewarded, drawn = _coupon_plan(campaign=campaign, rows=delivered[:affordable], now=now)
        codes = {row.member_id: code for row, code in zip(rewarded, drawn, strict=True)}
        for row in delivered:
            if row.member_id not in codes:
                outcome[row.member_id] = (Status.BUDGET_EXHAUSTED, [])
        delivered = [row for row in delivered if row.member_id in codes]
    drafted = _texts(campaign=campaign, rows=delivered, members=members, fields=fields)
    texts = {row.member_id: text for row, text in zip(delivered, drafted, strict=True)}
    chunk = []
    for row in rows:
        status, channels = outcome[row.member_id]
        title, body = texts.get(row.member_id, (None, None))
        chunk.append({
            "member_id": row.member_id, "occasion": row.occasion, "status": status, "held_out": row.held_out,
            "channels": list(channels), "code": codes.get(row.member_id), "title": title, "body": body,
            "locale": members[row.member_id]["locale"],
        })  # fmt: skip
    try:
        with transaction.atomic():
            written, coupon_ids, messages = sql.chunk_rows_insert(
                campaign_id=campaign.pk, run_id=run_id, now=now, rows=chunk, coupon=coupon,
                notification_params=_message_params(campaign),
            )  # fmt: skip
            if (written, len(coupon_ids), messages) != (len(rows), len(codes), len(texts)):
                raise _Fallback()
    except (IntegrityError, _Fallback):
        return None
    for row in rows:
        row.status, row.channels = outcome[row.member_id]
    if coupon_ids:
        within = Q(quota__isnull=True) | Q(issued_count__lte=F("quota") - len(coupon_ids))
        template = CouponTemplate.objects.filter(within, pk=campaign.coupon_template_id)
        if not template.update(issued_count=F("issued_count") + len(coupon_ids)):
            raise AssertionError("the quota moved under the template lock")  # the row is held when it has a quota
        send_after_commit(coupons_issued, coupon_ids=coupon_ids)
    _take_budget(campaign, coupons=len(coupon_ids), points=0)
    return len(coupon_ids), 0


@transaction.atomic
def campaign_deliver(
    *,
    campaign_id: int,
    member_ids: list[int],
    occasion: str | dict,
    now: datetime.datetime,
    run_id: int | None = None,
    fields: dict[int, dict] | None = None,
) -> DeliverResult:
    """Deliver a running campaign to members on an occasion (one text, or one per member id); see the module.

    `fields` (member id -> {name: value}) gives the message more fields per member than the member's own, e.g. the
    points and date of a points expiry reminder (KIND_PLACEHOLDERS).

    Members already reached on their occasion, inactive members, members outside the campaign's store and
    (for a campaign that respects it) the global control group get nothing more. Calling it twice with the same
    arguments changes nothing the second time. Raises NotFound, CampaignNotRunning.
    """
    campaign = Campaign.objects.filter(pk=campaign_id).select_related(None).first()
    if campaign is None:
        raise NotFound()
    if campaign.status != Campaign.Status.RUNNING:
        raise CampaignNotRunning()
    occasions = dict.fromkeys(member_ids, occasion) if isinstance(occasion, str) else dict(occasion)
    result = DeliverResult()
    ids = sorted({member_id for member_id in member_ids if member_id in occasions})
    if not ids:
        return result
    eligible = Member.objects.select_for_update().filter(field_in(Member, "id", ids), status=Member.Status.ACTIVE)
    if campaign.store_id:
        eligible = eligible.filter(home_store_id=campaign.store_id)
    members = {row["pk"]: row for row in eligible.order_by("pk").values(*MEMBER_FIELDS)}
    if campaign.is_marketing and campaign.respects_global_control:
        for member_id in global_control_member_ids(list(members)):
            members.pop(member_id)
    result.skipped = len(ids) - len(members)
    reached = CampaignRecipient.objects.filter(_campaign_rows_of(campaign, list(members)))
    done = set(reached.values_list("member_id", "occasion"))
    rows = [
        _Row(member_id=member_id, occasion=occasions[member_id])
        for member_id in members
        if (member_id, occasions[member_id]) not in done
    ]
    result.existing = len(members) - len(rows)
    if not rows:
        return result
    _decide(campaign=campaign, rows=rows, members=members, now=now)
    given = None
    if _set_based_fits(campaign):
        given = _write_set_based(campaign=campaign, rows=rows, members=members, now=now, run_id=run_id, fields=fields)
    if given is None:
        given = _write_reference(campaign=campaign, rows=rows, members=members, now=now, run_id=run_id, fields=fields)
    result.coupons, result.points = given
    result.created = len(rows)
    result.statuses = Counter(row.status for row in rows)
    if run_id is not None:
        from campaigns.models import CampaignRun

        CampaignRun.objects.filter(pk=run_id).update(
            delivered_count=F("delivered_count") + result.delivered,
            held_out_count=F("held_out_count") + result.held_out,
        )
    return result
