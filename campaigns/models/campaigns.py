"""Campaigns: an offer or message to an audience at the right time, its runs and one row per member reached.

Invariants:
- a campaign's `params` fit the schema of its kind (campaigns/kinds.py), checked at every save by
  campaigns.services.campaigns; its status moves only through the lifecycle services (draft -> scheduled ->
  running <-> paused -> finished);
- `coupons_issued` and `points_granted` move only by a conditional UPDATE that keeps them within the budgets (and
  database checks say so too): concurrent deliveries can never give more than the budget;
- a member is reached at most once per campaign and occasion (`CampaignRecipient`'s unique constraint): a retried,
  duplicated or resumed chunk delivers nothing twice, and every reward's idempotency key derives from that row;
- a run's status is `finished` only when none of its outbox messages is still due to be sent or retried.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


def empty_list() -> list:
    return []


class Campaign(models.Model):
    """Who (segment and store), when (kind and its params), what (reward, message) and within which limits."""

    class Kind(models.TextChoices):
        BROADCAST = "broadcast", _("One-off broadcast")
        RECURRING = "recurring", _("Recurring")
        BIRTHDAY = "birthday", _("Birthday")
        DATE = "date", _("Dates and festivals")
        MEMBER_DAY = "member_day", _("Member day")
        WIN_BACK = "win_back", _("Win-back")
        WELCOME = "welcome", _("Welcome")
        AFTER_PURCHASE = "after_purchase", _("After a purchase")
        TIER_UPGRADE = "tier_upgrade", _("Tier upgrade")
        POINTS_EXPIRING = "points_expiring", _("Points expiring")
        COUPON_EXPIRING = "coupon_expiring", _("Coupon expiring")
        NEAR_STORE = "near_store", _("Near a store")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        FINISHED = "finished", _("Finished")

    name = models.CharField(_("name"), max_length=120)
    store = models.ForeignKey(
        "members.Store",
        verbose_name=_("store"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Set: only members whose home store it is. Empty: the whole brand."),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    params = models.JSONField(_("settings of the kind"), default=dict, blank=True)
    segment = models.ForeignKey(
        "campaigns.Segment",
        verbose_name=_("segment"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
        help_text=_("Empty: every active member of the campaign's store (or of the brand)."),
    )
    send_at = models.TimeField(
        _("send at"), null=True, blank=True, help_text=_("The time of day scheduled kinds run, in local time.")
    )
    starts_on = models.DateField(_("starts on"), null=True, blank=True)
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    # When it was last launched or resumed: an occasion whose time fell before (paused, not launched yet) is not
    # owed, so the beat's catch-up of missed days (campaigns.services.campaign_runs) leaves it alone.
    live_since = models.DateTimeField(_("live since"), null=True, blank=True, editable=False)

    coupon_template = models.ForeignKey(
        "coupons.CouponTemplate",
        verbose_name=_("coupon template"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    points_bonus = models.PositiveBigIntegerField(_("bonus points"), default=0)
    multiplier = models.DecimalField(_("points multiplier"), max_digits=4, decimal_places=2, null=True, blank=True)
    multiplier_days = models.PositiveSmallIntegerField(
        _("multiplier window (days)"), null=True, blank=True, help_text=_("How long the window lasts from delivery.")
    )

    message_title = models.CharField(_("message title"), max_length=200, blank=True)
    message_body = models.TextField(
        _("message"), blank=True, help_text=_("Member fields such as {first_name} are filled in per member.")
    )
    channels = models.JSONField(
        _("channels"), default=empty_list, blank=True, help_text=_("Channels besides the inbox, which is always on.")
    )
    is_marketing = models.BooleanField(
        _("marketing"), default=True, help_text=_("Marketing messages go only to members who consented to them.")
    )

    budget_coupons = models.PositiveIntegerField(_("coupon budget"), null=True, blank=True)
    budget_points = models.PositiveBigIntegerField(_("points budget"), null=True, blank=True)
    coupons_issued = models.PositiveIntegerField(_("coupons issued"), default=0, editable=False)
    points_granted = models.PositiveBigIntegerField(_("points granted"), default=0, editable=False)
    cap_per_member = models.PositiveIntegerField(_("deliveries per member"), null=True, blank=True)
    cap_per_member_per_day = models.PositiveIntegerField(_("deliveries per member per day"), null=True, blank=True)
    cap_per_member_per_week = models.PositiveIntegerField(_("deliveries per member per week"), null=True, blank=True)

    holdout_percent = models.PositiveSmallIntegerField(
        _("hold-out (%)"), default=0, help_text=_("Members kept back to measure the lift; they receive nothing.")
    )
    lift_days = models.PositiveSmallIntegerField(_("lift window (days)"), default=14)
    respects_global_control = models.BooleanField(_("respects the global control group"), default=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords(excluded_fields=["coupons_issued", "points_granted", "updated_at"])

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        permissions = [("launch_campaign", _("Can launch, pause, resume and finish campaigns"))]
        constraints = [
            models.CheckConstraint(
                condition=Q(holdout_percent__gte=0, holdout_percent__lte=50), name="campaign_holdout_0_50"
            ),
            models.CheckConstraint(
                condition=Q(budget_coupons__isnull=True) | Q(coupons_issued__lte=F("budget_coupons")),
                name="campaign_coupons_within_budget",
            ),
            models.CheckConstraint(
                condition=Q(budget_points__isnull=True) | Q(points_granted__lte=F("budget_points")),
                name="campaign_points_within_budget",
            ),
            models.CheckConstraint(
                condition=Q(coupons_issued__gte=0, points_granted__gte=0, points_bonus__gte=0),
                name="campaign_counters_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(multiplier__isnull=True) | Q(multiplier__gt=1, multiplier__lte=10, multiplier_days__gte=1),
                name="campaign_multiplier_window",
            ),
            models.CheckConstraint(
                condition=Q(starts_on__isnull=True) | Q(ends_on__isnull=True) | Q(ends_on__gte=F("starts_on")),
                name="campaign_dates_in_order",
            ),
        ]
        indexes = [models.Index(fields=["status", "kind"], name="campaign_status_kind")]

    def __str__(self):
        return str(self.name)


class CampaignRun(models.Model):
    """The deliveries of one occasion of a scheduled kind (a broadcast, a birthday day, a member day)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        PREPARING = "preparing", _("Preparing")
        SENDING = "sending", _("Sending")
        RETRYING = "retrying", _("Retrying")
        FINISHED = "finished", _("Finished")
        FAILED = "failed", _("Failed")

    campaign = models.ForeignKey(Campaign, verbose_name=_("campaign"), on_delete=models.PROTECT, related_name="runs")
    key = models.CharField(_("run"), max_length=120, unique=True)
    occasion = models.CharField(_("occasion"), max_length=80, blank=True)
    # The local day whose occasion it is: today's, or a day the beat missed and caught up (whose birthdays it keeps).
    day = models.DateField(_("day"), null=True, blank=True)
    freeze = models.ForeignKey(
        "campaigns.SegmentFreeze",
        verbose_name=_("frozen audience"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    audience_count = models.PositiveIntegerField(_("audience"), default=0)
    held_out_count = models.PositiveIntegerField(_("held out"), default=0)
    delivered_count = models.PositiveIntegerField(_("delivered"), default=0)
    chunks_total = models.PositiveIntegerField(_("chunks"), default=0)
    chunks_done = models.PositiveIntegerField(_("chunks done"), default=0)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("campaign run")
        verbose_name_plural = _("campaign runs")
        indexes = [models.Index(fields=["campaign", "-id"], name="campaign_run_newest")]
        constraints = [
            models.CheckConstraint(condition=Q(chunks_done__lte=F("chunks_total")), name="campaign_run_chunks_done")
        ]

    def __str__(self):
        return self.key


class CampaignRecipient(models.Model):
    """One member reached (or held out, capped, out of budget) by a campaign on one occasion."""

    class Status(models.TextChoices):
        DELIVERED = "delivered", _("Delivered")
        HELD_OUT = "held_out", _("Held out")
        CAPPED = "capped", _("Capped")
        BUDGET_EXHAUSTED = "budget_exhausted", _("Budget exhausted")
        # No "no consent": the inbox is always on, so a member of the audience without consent on any of the
        # campaign's channels (or to marketing) is delivered to the inbox only (`channels` empty); the report's
        # deliveries by channel show what the consents left out.

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.PROTECT, related_name="recipients", db_index=False
    )
    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="+", db_index=False
    )
    occasion = models.CharField(_("occasion"), max_length=80)
    run = models.ForeignKey(
        CampaignRun, verbose_name=_("run"), null=True, blank=True, on_delete=models.PROTECT, related_name="recipients"
    )
    held_out = models.BooleanField(_("held out"), default=False)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.DELIVERED)
    coupon = models.ForeignKey(
        "coupons.Coupon", verbose_name=_("coupon"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    points_granted = models.BigIntegerField(_("points granted"), default=0)
    notification = models.ForeignKey(
        "members.Notification",
        verbose_name=_("notification"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The extra channels queued for this delivery: the frequency cap per member and channel counts these.
    channels = models.JSONField(_("channels"), default=empty_list, blank=True)
    created_at = models.DateTimeField(_("delivered at"))

    class Meta:
        verbose_name = _("campaign recipient")
        verbose_name_plural = _("campaign recipients")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "member", "occasion"], name="campaign_recipient_once_per_occasion"
            ),
            models.CheckConstraint(condition=Q(points_granted__gte=0), name="campaign_recipient_points_non_negative"),
        ]
        indexes = [
            # The caps: a member's recent deliveries (of one campaign, or of every marketing campaign).
            models.Index(fields=["member", "created_at"], name="campaign_recipient_member_time"),
        ]

    def __str__(self):
        return f"{self.campaign_id}:{self.member_id}:{self.occasion}"
