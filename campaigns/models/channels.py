"""Channels: message templates per kind, channel and language; WeChat subscriptions; consent records; the log of
delivery attempts of the members' outbox.

The outbox itself (members.OutboxMessage: one row per notification and channel, unique) carries the delivery
state the sender moves: pending (with its next attempt time: due, held for quiet hours or a rate limit, or
backing off), sent, failed (refused, or the dead letter after the last try) and skipped (no consent, no address,
no template, no subscription). Invariants here:
- one template per (kind, channel, language); its placeholders are known fields, and a WeChat template's values
  fit WeChat's limits per keyword type (`thing` 20 characters, ...), checked at save;
- one WeChat subscription per (member, template): a one-time subscription allows exactly one send (`available`
  is 0 or 1, taken by a conditional UPDATE before the send); WeChat's 43101 sets it to 0 and records the refusal;
- consent records are append-only and outlive the member (Hong Kong's PDPO: an opt-out is kept with its date for
  at least 3 years; nothing in this app deletes them);
- delivery attempts are append-only, one per attempt and outcome, each marked transactional or marketing.
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from members.models import Member, Notification, OutboxMessage


class Category(models.TextChoices):
    """Hong Kong's rules tell the two apart: marketing needs consent to direct marketing and an opt-out path."""

    TRANSACTIONAL = "transactional", _("Transactional")
    MARKETING = "marketing", _("Marketing")


class MessageTemplate(models.Model):
    """The text a channel carries for one kind of notification in one language, with `{field}` placeholders."""

    kind = models.CharField(_("kind"), max_length=32, choices=Notification.Kind.choices)
    channel = models.CharField(_("channel"), max_length=20, choices=OutboxMessage.Channel.choices)
    locale = models.CharField(_("language"), max_length=8, choices=Member.Locale.choices)
    subject = models.CharField(_("subject"), max_length=200, blank=True, help_text=_("E-mail only."))
    body = models.TextField(
        _("text"), blank=True, help_text=_("SMS and e-mail. Placeholders in braces, e.g. {name} or {points}.")
    )
    wechat_template_id = models.CharField(
        _("WeChat template id"), max_length=64, blank=True, help_text=_("The subscribe message's template id.")
    )
    wechat_page = models.CharField(
        _("mini program page"), max_length=200, blank=True, help_text=_("Opened when the member taps the message.")
    )
    wechat_fields = models.JSONField(
        _("WeChat values"),
        default=dict,
        blank=True,
        help_text=_('Each keyword of the WeChat template and its text, e.g. {"thing1": "{coupon}"}.'),
    )
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        constraints = [
            models.UniqueConstraint(fields=["kind", "channel", "locale"], name="message_template_unique"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.get_channel_display()} · {self.get_locale_display()}"

    def clean(self):
        from campaigns.channels.templates import template_errors

        errors = template_errors(self)
        if errors:
            from django.core.exceptions import ValidationError

            raise ValidationError(errors)


class WechatSubscription(models.Model):
    """What a member accepted of one WeChat subscribe template (reported by the mini program)."""

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="wechat_subscriptions"
    )
    template_id = models.CharField(_("WeChat template id"), max_length=64)
    available = models.PositiveSmallIntegerField(_("sends available"), default=0)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    refused_at = models.DateTimeField(_("refused at"), null=True, blank=True)

    class Meta:
        verbose_name = _("WeChat subscription")
        verbose_name_plural = _("WeChat subscriptions")
        constraints = [
            models.UniqueConstraint(fields=["member", "template_id"], name="wechat_subscription_unique"),
            models.CheckConstraint(condition=Q(available__lte=1), name="wechat_subscription_one_send"),
        ]

    def __str__(self):
        return f"{self.member_id} · {self.template_id}"


class ConsentRecord(models.Model):
    """A member's withdrawal of consent through an unsubscribe path, with its date (append-only)."""

    class Source(models.TextChoices):
        LINK = "link", _("Unsubscribe link")
        REPLY = "reply", _("Reply keyword")

    member = models.ForeignKey(
        Member,
        verbose_name=_("member"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="consent_records",
        db_index=False,  # consent_record_member below serves it
    )
    # Kept beside the link so the record still says who it was after the member is gone.
    member_number = models.CharField(_("member number"), max_length=10)
    channel = models.CharField(_("channel"), max_length=20, choices=OutboxMessage.Channel.choices)
    consented = models.BooleanField(_("consented"), default=False)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    address = models.CharField(_("address"), max_length=254, blank=True, help_text=_("The phone or e-mail."))
    recorded_at = models.DateTimeField(_("recorded at"))

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        indexes = [models.Index(fields=["member", "-recorded_at"], name="consent_record_member")]

    def __str__(self):
        return f"{self.member_number} · {self.channel} · {self.recorded_at:%Y-%m-%d}"


class DeliveryAttempt(models.Model):
    """One thing the sender did with an outbox message (append-only): the delivery log."""

    class Outcome(models.TextChoices):
        SENT = "sent", _("Sent")
        RETRY = "retry", _("Failed, will retry")
        DEAD = "dead", _("Failed, no more tries")
        REFUSED = "refused", _("Refused by the provider")
        HELD = "held", _("Held (quiet hours)")
        SKIPPED = "skipped", _("Skipped")
        # Written just before the provider is called: a message whose last attempt is still "sending" when its
        # lease ends was being sent by a worker that died (campaigns/channels/sender.py).
        SENDING = "sending", _("Sending")
        UNKNOWN = "unknown", _("Outcome unknown (the sender stopped during the send)")

    outbox_message = models.ForeignKey(
        OutboxMessage,
        verbose_name=_("outbox message"),
        on_delete=models.CASCADE,
        related_name="delivery_attempts",
        db_index=False,  # delivery_attempt_message below is this index, named
    )
    channel = models.CharField(_("channel"), max_length=20, choices=OutboxMessage.Channel.choices)
    category = models.CharField(_("category"), max_length=16, choices=Category.choices)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    attempt = models.PositiveSmallIntegerField(_("attempt"), default=0)
    detail = models.CharField(_("detail"), max_length=500, blank=True)
    provider_reference = models.CharField(_("provider reference"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        indexes = [models.Index(fields=["outbox_message"], name="delivery_attempt_message")]

    def __str__(self):
        return f"{self.outbox_message_id} · {self.outcome}"
