"""Outbound webhooks to the merchant's CRM or POS: endpoints and the log of their deliveries.

Invariants:
- one delivery per (endpoint, event key): an event recorded twice (a signal sent again, a job run twice) is sent
  once; its id is the same on every retry, so a receiver can deduplicate too;
- a delivery is pending (with its next attempt time), sent, or failed after the last try (the dead letter);
- an endpoint of a store receives only that store's events; one without a store receives every event.
"""

import secrets

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from members.models import Store


class WebhookEvent(models.TextChoices):
    MEMBER_JOINED = "member.joined", _("Member joined")
    TIER_CHANGED = "member.tier_changed", _("Tier changed")
    POINTS_EXPIRING = "points.expiring", _("Points expiring")
    COUPON_ISSUED = "coupon.issued", _("Coupon issued")
    COUPON_REDEEMED = "coupon.redeemed", _("Coupon redeemed")
    PURCHASE_RECORDED = "purchase.recorded", _("Purchase recorded")


def new_webhook_secret() -> str:
    return secrets.token_hex(32)


class WebhookEndpoint(models.Model):
    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(
        _("signing secret"),
        max_length=128,
        default=new_webhook_secret,
        help_text=_("The receiver checks each request's X-Loyalty-Signature with it (HMAC-SHA256)."),
    )
    events = models.JSONField(_("events"), default=list, help_text=_("The events sent to this URL."))
    store = models.ForeignKey(
        Store,
        verbose_name=_("store"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        help_text=_("Only this store's events; empty: every event of the brand."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    history = HistoricalRecords(excluded_fields=["secret"])

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self):
        return str(self.name)

    def clean(self):
        from django.core.exceptions import ValidationError

        from infra.webhooks import WebhookUrlRefused, webhook_url_check

        if self.url:
            try:
                webhook_url_check(self.url)
            except WebhookUrlRefused as exc:
                raise ValidationError({"url": ValidationError(exc.message, code=exc.code)}) from exc
        if not isinstance(self.events, list) or not self.events:
            raise ValidationError({"events": _("Choose at least one event.")})
        unknown = [event for event in self.events if event not in WebhookEvent.values]
        if unknown:
            raise ValidationError(
                {"events": _("Unknown events: %(events)s.") % {"events": ", ".join(map(str, unknown))}}
            )


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    endpoint = models.ForeignKey(
        WebhookEndpoint, verbose_name=_("endpoint"), on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(_("event"), max_length=32, choices=WebhookEvent.choices)
    event_key = models.CharField(_("event key"), max_length=150)
    payload = models.JSONField(_("payload"))
    # The payload's member number, kept beside it so that a member's anonymisation finds their deliveries by index.
    member_number = models.CharField(_("member number"), max_length=10, blank=True, default="")
    # The store the event belongs to (a purchase's store, a member's home store): the console's scope.
    store = models.ForeignKey(
        Store, verbose_name=_("store"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("last HTTP status"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_key"], name="webhook_delivery_once"),
            models.CheckConstraint(
                condition=~Q(status="pending") | Q(next_attempt_at__isnull=False), name="webhook_pending_has_time"
            ),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_pending_due"),
            # Each endpoint's chunk task asks for its own due deliveries, oldest first.
            models.Index(
                fields=["endpoint", "next_attempt_at"], condition=Q(status="pending"), name="webhook_endpoint_due"
            ),
            models.Index(fields=["member_number"], condition=~Q(member_number=""), name="webhook_member_number"),
        ]

    def __str__(self):
        return f"{self.event} → {self.endpoint}"
