"""Coupons: templates designed in the console and the coupons issued from them to members.

Invariants (kept by coupons.services, backstopped by constraints):
- a template's `issued_count` only moves by a conditional UPDATE (`issued_count < quota`), never by a
  Python read-modify-write, and never exceeds the quota (CheckConstraint);
- a member holds at most `per_member_limit` coupons of a template: each issue takes the member's next
  `member_sequence` under the member's row lock, and (template, member, member_sequence) is unique;
- a coupon is redeemed at most once: only a conditional UPDATE from available/reserved writes `redeemed`;
- codes are unique, typable, and carry a check character (coupons.codes).
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from coupons.codes import DEFAULT_BODY_LENGTH, MAX_CODE_LENGTH, MIN_BODY_LENGTH, is_valid_prefix
from members.models import PurchaseChannel


def all_channels():
    return [choice.value for choice in PurchaseChannel]


class CouponTemplate(models.Model):
    class Kind(models.TextChoices):
        AMOUNT_OFF = "amount_off", _("Amount off")
        SPEND_X_SAVE_Y = "spend_x_save_y", _("Spend X, save Y")
        PERCENT_OFF = "percent_off", _("Percent off")
        GIFT_ITEM = "gift_item", _("Gift item")
        FREE_SHIPPING = "free_shipping", _("Free shipping")

    class Audience(models.TextChoices):
        PUBLIC = "public", _("Everyone, visitors included")
        MEMBERS = "members", _("Members who have joined")

    class RefundPolicy(models.TextChoices):
        RESTORE_IF_VALID = "restore_if_valid", _("Give the coupon back if it is still valid")
        NO_RESTORE = "no_restore", _("Do not give the coupon back")

    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    amount = models.DecimalField(
        _("amount off"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("For amount off and spend X, save Y."),
    )
    percent = models.DecimalField(
        _("percent off"), max_digits=5, decimal_places=2, null=True, blank=True, help_text=_("For percent off.")
    )
    max_discount = models.DecimalField(
        _("discount cap"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("The most a percent-off coupon takes off. Empty means no cap."),
    )
    min_spend = models.DecimalField(
        _("minimum spend"), max_digits=12, decimal_places=2, default=Decimal("0.00"), blank=True
    )
    gift_description = models.CharField(
        _("gift"), max_length=200, blank=True, help_text=_("For gift item: what the member receives.")
    )

    stores = models.ManyToManyField(
        "members.Store",
        verbose_name=_("stores"),
        blank=True,
        related_name="+",
        help_text=_("Empty means every store."),
    )
    channels = models.JSONField(_("channels"), default=all_channels, blank=True)
    categories = models.JSONField(_("categories"), default=list, blank=True, help_text=_("Empty means any category."))
    skus = models.JSONField(_("SKUs"), default=list, blank=True, help_text=_("Empty means any SKU."))

    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    valid_days = models.PositiveIntegerField(
        _("valid for (days after issue)"),
        null=True,
        blank=True,
        help_text=_("Instead of, or together with, a fixed end: the earlier end applies."),
    )

    quota = models.PositiveIntegerField(_("total quota"), null=True, blank=True, help_text=_("Empty means unlimited."))
    issued_count = models.PositiveIntegerField(_("issued"), default=0, editable=False)
    per_member_limit = models.PositiveIntegerField(
        _("limit per member"), null=True, blank=True, default=1, help_text=_("Empty means unlimited.")
    )
    claim_starts_at = models.DateTimeField(_("claiming opens at"), null=True, blank=True)
    claim_ends_at = models.DateTimeField(_("claiming closes at"), null=True, blank=True)
    is_claimable = models.BooleanField(
        _("members may claim it"), default=True, help_text=_("Off: only issued by staff, jobs or rules.")
    )

    audience = models.CharField(_("audience"), max_length=10, choices=Audience.choices, default=Audience.MEMBERS)
    tiers = models.ManyToManyField(
        "members.Tier",
        verbose_name=_("tiers"),
        blank=True,
        related_name="+",
        help_text=_("Only members of these tiers. Empty means any tier."),
    )
    tags = models.ManyToManyField(
        "members.Tag",
        verbose_name=_("tags"),
        blank=True,
        related_name="+",
        help_text=_("Only members with one of these tags. Empty means no tag needed."),
    )

    stacks_with_points = models.BooleanField(_("may be combined with paying by points"), default=True)
    refund_policy = models.CharField(
        _("on refund"), max_length=20, choices=RefundPolicy.choices, default=RefundPolicy.RESTORE_IF_VALID
    )
    code_prefix = models.CharField(
        _("code prefix"),
        max_length=8,
        blank=True,
        help_text=_("Letters and digits without 0, 1, I, L, O."),
    )
    code_length = models.PositiveSmallIntegerField(_("random characters in the code"), default=DEFAULT_BODY_LENGTH)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords(excluded_fields=["issued_count", "updated_at"])

    class Meta:
        verbose_name = _("coupon template")
        verbose_name_plural = _("coupon templates")
        constraints = [
            models.CheckConstraint(
                condition=Q(quota__isnull=True) | Q(issued_count__lte=models.F("quota")),
                name="coupon_template_within_quota",
            ),
            models.CheckConstraint(
                condition=Q(percent__isnull=True) | Q(percent__gt=0, percent__lte=100),
                name="coupon_template_percent_range",
            ),
            models.CheckConstraint(
                condition=(Q(amount__isnull=True) | Q(amount__gte=0))
                & (Q(max_discount__isnull=True) | Q(max_discount__gte=0))
                & Q(min_spend__gte=0),
                name="coupon_template_amounts_not_negative",
            ),
        ]

    def __str__(self):
        return str(self.name)

    def save(self, *args, **kwargs):
        # issued_count moves only by conditional UPDATEs in the services: a console save of a form loaded a
        # second ago must not write back a stale count over claims made in between.
        if self.pk and not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name != "issued_count"
            ]
        super().save(*args, **kwargs)

    def clean(self):
        errors = {}
        for field in ("amount", "percent", "max_discount", "min_spend"):
            value = getattr(self, field)
            if value is not None and value < 0:
                errors[field] = _("This value cannot be negative.")
        if self.percent is not None and self.percent > 100 and "percent" not in errors:
            errors["percent"] = _("A percentage cannot be above 100.")
        if self.kind in (self.Kind.AMOUNT_OFF, self.Kind.SPEND_X_SAVE_Y) and not self.amount and "amount" not in errors:
            errors["amount"] = _("Give the amount this coupon takes off.")
        if self.kind == self.Kind.SPEND_X_SAVE_Y and not self.min_spend and "min_spend" not in errors:
            errors["min_spend"] = _("Give the spend that unlocks the saving.")
        if self.kind == self.Kind.PERCENT_OFF and not self.percent and "percent" not in errors:
            errors["percent"] = _("Give the percentage this coupon takes off.")
        if self.kind == self.Kind.GIFT_ITEM and not self.gift_description:
            errors["gift_description"] = _("Say which gift the member receives.")
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            errors["valid_until"] = _("The validity must end after it starts.")
        if not self.valid_until and not self.valid_days:
            errors["valid_days"] = _("Give a fixed end date or a number of days after issue.")
        if self.claim_starts_at and self.claim_ends_at and self.claim_ends_at <= self.claim_starts_at:
            errors["claim_ends_at"] = _("Claiming must close after it opens.")
        if self.quota is not None and self.pk:
            issued = type(self).objects.filter(pk=self.pk).values_list("issued_count", flat=True).first() or 0
            if self.quota < issued:
                errors["quota"] = _("%(issued)d coupons were already issued: the quota cannot be lower.") % {
                    "issued": issued
                }
        if self.per_member_limit == 0:
            errors["per_member_limit"] = _("The limit per member must be at least 1, or empty for no limit.")
        channels = self.channels if isinstance(self.channels, list) else None
        if not channels or any(channel not in PurchaseChannel.values for channel in channels):
            errors["channels"] = _("Choose at least one of: %(channels)s.") % {
                "channels": ", ".join(PurchaseChannel.values)
            }
        for field in ("categories", "skus"):
            value = getattr(self, field)
            if not isinstance(value, list) or any(not isinstance(item, str) or not item for item in value):
                errors[field] = _("Give a list of names.")
        if not is_valid_prefix(self.code_prefix or ""):
            errors["code_prefix"] = _("Use only letters and digits other than 0, 1, I, L and O, in capitals.")
        if not MIN_BODY_LENGTH <= (self.code_length or 0) <= MAX_CODE_LENGTH - 1 - len(self.code_prefix or ""):
            errors["code_length"] = _("Use %(min)d to %(max)d random characters with this prefix.") % {
                "min": MIN_BODY_LENGTH,
                "max": MAX_CODE_LENGTH - 1 - len(self.code_prefix or ""),
            }
        if errors:
            raise ValidationError(errors)

    @property
    def remaining(self):
        return None if self.quota is None else max(self.quota - self.issued_count, 0)


class CouponQuerySet(models.QuerySet):
    def held(self):
        """Coupons a member can still use or is using at a checkout."""
        return self.filter(status__in=(Coupon.Status.AVAILABLE, Coupon.Status.RESERVED))


class Coupon(models.Model):
    class Status(models.TextChoices):
        AVAILABLE = "available", _("Available")
        RESERVED = "reserved", _("Reserved at a checkout")
        REDEEMED = "redeemed", _("Redeemed")
        EXPIRED = "expired", _("Expired")
        VOID = "void", _("Void")

    class Source(models.TextChoices):
        CLAIM = "claim", _("Claimed by the member")
        BULK = "bulk", _("Bulk issue")
        POST_PAYMENT = "post_payment", _("After a purchase")
        REWARD = "reward", _("Points mall or reward")
        BIRTHDAY = "birthday", _("Birthday gift")
        REFERRAL = "referral", _("Referral")
        MANUAL = "manual", _("Issued by staff")

    template = models.ForeignKey(
        CouponTemplate, verbose_name=_("template"), on_delete=models.PROTECT, related_name="coupons"
    )
    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="coupons"
    )
    member_sequence = models.PositiveIntegerField(_("number for this member"), editable=False)
    code = models.CharField(_("code"), max_length=MAX_CODE_LENGTH, unique=True, editable=False)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.AVAILABLE)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    issue_key = models.CharField(
        _("issue key"),
        max_length=100,
        null=True,
        blank=True,
        unique=True,
        editable=False,
        help_text=_("Set by jobs and rules so that running them twice issues nothing twice."),
    )
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("issued by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    issued_at = models.DateTimeField(_("issued at"))
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    reserved_until = models.DateTimeField(_("reserved until"), null=True, blank=True)
    reservation_reference = models.CharField(_("reserved for checkout"), max_length=64, blank=True)
    redeemed_at = models.DateTimeField(_("redeemed at"), null=True, blank=True)
    redeemed_purchase = models.ForeignKey(
        "members.Purchase",
        verbose_name=_("purchase"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="coupons",
    )
    redeemed_store = models.ForeignKey(
        "members.Store",
        verbose_name=_("redeemed in store"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    redeemed_channel = models.CharField(_("redeemed on"), max_length=16, choices=PurchaseChannel.choices, blank=True)
    redeemed_reference = models.CharField(_("redeemed for (external id)"), max_length=64, blank=True)
    discount_amount = models.DecimalField(_("discount given"), max_digits=12, decimal_places=2, null=True, blank=True)
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("voided by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    void_reason = models.CharField(_("reason for voiding"), max_length=200, blank=True)

    objects = CouponQuerySet.as_manager()

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        constraints = [
            models.UniqueConstraint(
                fields=["template", "member", "member_sequence"], name="coupon_member_sequence_unique"
            ),
            models.CheckConstraint(
                condition=~Q(status="redeemed") | Q(redeemed_at__isnull=False), name="coupon_redeemed_has_time"
            ),
            models.CheckConstraint(
                condition=~Q(status="reserved") | Q(reserved_until__isnull=False),
                name="coupon_reserved_has_deadline",
            ),
            models.CheckConstraint(
                condition=Q(discount_amount__isnull=True) | Q(discount_amount__gte=0),
                name="coupon_discount_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["member", "status"], name="coupon_member_status"),
            models.Index(fields=["template", "status"], name="coupon_template_status"),
            models.Index(fields=["valid_until"], condition=Q(status="available"), name="coupon_available_until"),
            models.Index(fields=["reserved_until"], condition=Q(status="reserved"), name="coupon_reserved_until"),
        ]
        permissions = [("void_coupon", _("Can void coupons"))]

    def __str__(self):
        return str(self.code)
