"""Member notifications: the in-app inbox (one row per message) and the outbox of messages for other channels.

Any app notifies a member through members.services.notifications; `campaigns` owns the channels and
delivers what the outbox holds. Invariants:
- a notification is written once: its `dedupe_key` is unique, so a job that runs twice notifies once;
- title and body are rendered in the member's language when the notification is created, from the message
  of its kind and the `params` kept beside them (so the text can be rendered again, in any language);
- a notification has at most one outbox message per channel; the inbox itself needs none. Outbox messages
  are written for the channels the member consented to (and has an address for) when it was created;
  consent and quiet hours are checked again when the message is sent.
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Notification(models.Model):
    """One message in a member's inbox."""

    class Kind(models.TextChoices):
        POINTS_EXPIRING = "points_expiring", _("Points about to expire")
        COUPON_EXPIRING = "coupon_expiring", _("Coupon about to expire")
        COUPON_ISSUED = "coupon_issued", _("Coupon received")
        TIER_CHANGED = "tier_changed", _("Tier changed")
        CHECKOUT_REFUNDED = "checkout_refunded", _("Payment refunded")
        CAMPAIGN = "campaign", _("Offers and news")

    # No index of its own: the member's inbox index (member, -id) serves every lookup by member.
    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("member"),
        on_delete=models.CASCADE,
        related_name="notifications",
        db_index=False,
    )
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("message"))
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    locale = models.CharField(_("language"), max_length=8, help_text=_("The language the text was written in."))
    dedupe_key = models.CharField(
        _("deduplication key"),
        max_length=150,
        help_text=_("Set by the job that wrote it, so that running the job again notifies nobody twice."),
    )
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        constraints = [
            # A constraint rather than unique=True: PostgreSQL then builds no second, pattern-matching index (no
            # query matches a pattern of the key; a campaign writes a million notifications at once).
            models.UniqueConstraint(fields=["dedupe_key"], name="notification_dedupe_key_unique"),
        ]
        indexes = [
            models.Index(fields=["member", "-id"], name="notification_member_newest"),
            models.Index(fields=["member"], condition=Q(read_at__isnull=True), name="notification_member_unread"),
        ]

    def __str__(self):
        return str(self.title)

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class OutboxMessage(models.Model):
    """A notification waiting to be sent (or sent, failed, skipped) through one channel."""

    class Channel(models.TextChoices):
        WECHAT_SUBSCRIBE = "wechat_subscribe", _("WeChat subscribe message")
        SMS = "sms", _("SMS")
        EMAIL = "email", _("Email")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")

    # No index of its own: the unique (notification, channel) serves every lookup by notification.
    notification = models.ForeignKey(
        Notification,
        verbose_name=_("notification"),
        on_delete=models.CASCADE,
        related_name="outbox_messages",
        db_index=False,
    )
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox messages")
        constraints = [
            models.UniqueConstraint(fields=["notification", "channel"], name="outbox_notification_channel_unique"),
            models.CheckConstraint(
                condition=~Q(status="pending") | Q(next_attempt_at__isnull=False), name="outbox_pending_has_time"
            ),
        ]
        indexes = [
            # The delivery worker's query: pending messages whose time has come, oldest first.
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="outbox_pending_due"),
        ]

    def __str__(self):
        return f"{self.get_channel_display()}: {self.notification_id}"
