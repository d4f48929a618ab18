from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import ExtractMonth
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from members.models.service_owned import ServiceOwnedFieldsMixin


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self):
        return str(self.name)


class MemberQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status=Member.Status.ACTIVE)

    def for_staff(self, user):
        """Members a staff user may list or export: those of their home store."""
        store_id = user.scope_store_id
        return self if store_id is None else self.filter(home_store_id=store_id)


class Member(ServiceOwnedFieldsMixin, models.Model):
    class Status(models.TextChoices):
        VISITOR = "visitor", _("Visitor")
        ACTIVE = "active", _("Active")
        FROZEN = "frozen", _("Frozen")
        CLOSED = "closed", _("Closed")

    class Gender(models.TextChoices):
        UNKNOWN = "", _("Not given")
        FEMALE = "f", _("Female")
        MALE = "m", _("Male")
        OTHER = "o", _("Other")

    class JoinSource(models.TextChoices):
        HOME_POPUP = "home_popup", _("Home page pop-up")
        PRODUCT_DETAIL = "product_detail", _("Product detail page")
        POST_PAYMENT = "post_payment", _("After payment")
        STORE_QR = "store_qr", _("Store QR code")
        REFERRAL = "referral", _("Referral")
        IMPORT = "import", _("Import")
        CONSOLE = "console", _("Console")

    class Locale(models.TextChoices):
        EN = "en", "English"
        ZH_HANT = "zh-hant", "繁體中文"
        ZH_HANS = "zh-hans", "简体中文"

    # Unique through Meta constraints, not unique=True: PostgreSQL then builds no second, pattern-matching index
    # per column (lookups here are exact), which every insert and import would pay for.
    member_number = models.CharField(_("member number"), max_length=10, editable=False)
    phone = models.CharField(_("phone"), max_length=20, null=True, blank=True)
    wechat_openid = models.CharField(_("WeChat openid"), max_length=64, null=True, blank=True)
    wechat_unionid = models.CharField(_("WeChat unionid"), max_length=64, blank=True)
    name = models.CharField(_("name"), max_length=100, blank=True)
    gender = models.CharField(_("gender"), max_length=1, choices=Gender.choices, blank=True, default="")
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    email = models.EmailField(_("email"), blank=True)
    locale = models.CharField(_("language"), max_length=8, choices=Locale.choices, default=Locale.ZH_HANT)
    home_store = models.ForeignKey(
        "members.Store",
        verbose_name=_("home store"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        db_index=False,  # (home_store, status) below serves it
    )
    tier = models.ForeignKey(
        "members.Tier",
        verbose_name=_("tier"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        db_index=False,  # (tier, status, month of birthday) below serves it
    )
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="members")
    join_source = models.CharField(_("join source"), max_length=20, choices=JoinSource.choices, blank=True)
    joined_at = models.DateTimeField(_("joined at"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.VISITOR)

    consent_marketing = models.BooleanField(_("marketing consent"), default=False)
    consent_sms = models.BooleanField(_("SMS consent"), default=False)
    consent_email = models.BooleanField(_("email consent"), default=False)
    consent_wechat = models.BooleanField(_("WeChat message consent"), default=False)
    consent_updated_at = models.DateTimeField(_("consent updated at"), null=True, blank=True)

    # Caches kept by the ledger services; `check_points_ledger` verifies them.
    points_balance = models.PositiveBigIntegerField(_("points balance"), default=0, editable=False)
    points_debt = models.PositiveBigIntegerField(_("points debt"), default=0, editable=False)
    points_pending = models.PositiveBigIntegerField(_("pending points"), default=0, editable=False)
    # The sum of the member's active holds (members.models.holds): set aside for a checkout waiting for its payment.
    points_held = models.PositiveBigIntegerField(_("points held"), default=0, db_default=0, editable=False)
    # Purchase statistics, kept by purchase_record.
    purchase_count = models.PositiveIntegerField(_("purchases"), default=0, editable=False)
    total_spend = models.DecimalField(
        _("total spend"), max_digits=14, decimal_places=2, default=Decimal("0.00"), editable=False
    )
    first_purchase_at = models.DateTimeField(_("first purchase at"), null=True, blank=True, editable=False)
    last_purchase_at = models.DateTimeField(_("last purchase at"), null=True, blank=True, editable=False)
    # Tier evaluation state (members/services/tiers.py): when the score fell below the tier's score to keep
    # (the grace period runs from here), and the end of a manual override (no evaluation until then).
    tier_below_keep_since = models.DateTimeField(
        _("below the score to keep since"), null=True, blank=True, editable=False
    )
    tier_override_until = models.DateTimeField(_("tier set by hand until"), null=True, blank=True, editable=False)
    # Cache of the stored-value ledger, kept by members/services/stored_value.py.
    stored_value_balance = models.DecimalField(
        _("stored value"), max_digits=14, decimal_places=2, default=Decimal("0.00"), db_default=Decimal("0.00"),
        editable=False,
    )  # fmt: skip
    stored_value_held = models.DecimalField(
        _("stored value held"), max_digits=14, decimal_places=2, default=Decimal("0.00"), db_default=Decimal("0.00"),
        editable=False,
    )  # fmt: skip

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords(
        # The history is read per member (by id) and by date; copies of the live table's lookup indexes would
        # only slow every write (an import writes one history row per member).
        no_db_index=["member_number", "phone", "wechat_openid", "wechat_unionid", "home_store", "tier"],
        excluded_fields=[
            "points_balance",
            "points_debt",
            "points_pending",
            "points_held",
            "updated_at",
            "stored_value_balance",
            "stored_value_held",
            "tier_below_keep_since",
        ],
    )
    objects = MemberQuerySet.as_manager()

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        constraints = [
            models.CheckConstraint(condition=Q(points_balance__gte=0), name="member_points_balance_gte_0"),
            models.CheckConstraint(condition=Q(points_debt__gte=0), name="member_points_debt_gte_0"),
            models.CheckConstraint(condition=Q(stored_value_balance__gte=0), name="member_stored_value_balance_gte_0"),
            models.CheckConstraint(condition=Q(stored_value_held__gte=0), name="member_stored_value_held_gte_0"),
            models.CheckConstraint(
                condition=~Q(status="active") | Q(phone__isnull=False), name="member_active_has_phone"
            ),
            # The pattern operator class serves equality, `= ANY`, ON CONFLICT and the console's partial search
            # (LIKE 'term%', whatever the database's collation) from the one index: a second, prefix-only index
            # would be one more index every insert and every non-HOT update writes. Only ORDER BY phone or
            # member number (a list sorted on that column) is left to a sort, as for the list's other columns.
            models.UniqueConstraint(
                fields=["member_number"], opclasses=["varchar_pattern_ops"], name="member_number_unique"
            ),
            models.UniqueConstraint(fields=["phone"], opclasses=["varchar_pattern_ops"], name="member_phone_unique"),
            # Partial, like the two indexes below: members who never opened the mini program (imported, joined at
            # a till) have no openid, and members who never bought no last purchase. Their rows, written by every
            # import, expiry and grant, are then in neither index; every lookup names a value, which is never NULL.
            models.UniqueConstraint(
                fields=["wechat_openid"], condition=Q(wechat_openid__isnull=False), name="member_wechat_openid_unique"
            ),
        ]
        indexes = [
            # The segments' days since the last purchase (a range; "never" is the rest of the table) and win-back.
            models.Index(
                fields=["last_purchase_at"], condition=Q(last_purchase_at__isnull=False), name="member_last_purchase"
            ),
            models.Index(fields=["wechat_unionid"], condition=~Q(wechat_unionid=""), name="member_wechat_unionid"),
            # One index for the tier's foreign key (a tier's members: the console's tier filter, the check before a
            # tier is deleted) and for segments of members by tier, status and birthday month (the birthday
            # campaign's audience), which read it instead of the whole table: bench/segment_count.py, 1,895 ms ->
            # 668 ms at 1M members. Not partial, so it can stand for the foreign key's own index: every insert and
            # every member update that leaves its page writes one index fewer (members 0024).
            models.Index(F("tier"), F("status"), ExtractMonth("birthday"), name="member_tier_status_bday_month"),
            # The console's member list, newest first, reads this index instead of sorting every member
            # (bench/console.py); the dashboard's live count of today's joins uses it too.
            models.Index(fields=["joined_at", "id"], name="member_joined"),
            # The console's partial search by the start of a name (LIKE 'term%'), never the whole table; the start of
            # a phone or member number is searched in their unique indexes (above).
            models.Index(fields=["name"], opclasses=["varchar_pattern_ops"], name="member_name_prefix"),
            # The balances the dashboard and the points report sum over every member (or a store's), read from this
            # narrow index instead of the table (bench/console.py: about 200 ms -> see the migration's note). On
            # PostgreSQL only (INCLUDE); the balance columns' updates also update this index. Its keys also serve a
            # store's members by status (the store-scoped lists, segments and jobs), which needs no index of its own.
            models.Index(
                fields=["home_store", "status"],
                include=["joined_at", "points_balance", "points_pending", "points_debt", "stored_value_balance"],
                name="member_store_balances",
            ),
            # The few members who owe points or wait for pending ones: the points report's programme-wide debts and
            # pending points without reading every member (console.reports).
            models.Index(
                fields=["home_store"],
                include=["points_pending", "points_debt"],
                condition=Q(points_pending__gt=0) | Q(points_debt__gt=0),
                name="member_points_owed",
            ),
        ]
        permissions = [
            ("import_member", _("Can import members from CSV")),
            ("export_member", _("Can export members to CSV")),
            ("adjust_points", _("Can adjust points by hand")),
            # The member page's actions (console/member_360), one permission each.
            ("freeze_member", _("Can freeze and unfreeze members")),
            ("tag_member", _("Can change a member's tags")),
            ("issue_member_coupon", _("Can issue a coupon to one member")),
            ("export_member_data", _("Can export a member's personal data (data access request)")),
            ("anonymise_member", _("Can anonymise a member on request (PDPO)")),
        ]

    def __str__(self):
        return f"{self.member_number} {self.name or self.phone or ''}".strip()

    # Moved only by the ledgers' and purchases' services (F() expressions under the member lock).
    SERVICE_OWNED_FIELDS = (
        "points_balance", "points_debt", "points_pending", "points_held", "stored_value_balance", "stored_value_held",
        "purchase_count", "total_spend", "first_purchase_at", "last_purchase_at",
    )  # fmt: skip
    PROFILE_FIELDS = ("name", "gender", "birthday", "email")

    @property
    def profile_is_complete(self) -> bool:
        """Every profile field a member fills in themselves is given (the "profile completed" behaviour)."""
        return all(getattr(self, name) for name in self.PROFILE_FIELDS)

    # Members authenticate through DRF with a MemberToken; these let permission classes ask.
    is_authenticated = True
    is_anonymous = False


class MemberToken(models.Model):
    """An opaque member API token; only its SHA-256 is stored."""

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    user_agent = models.CharField(_("client"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("member token")
        verbose_name_plural = _("member tokens")

    def __str__(self):
        return f"{self.member.member_number} #{self.pk}"


class WechatSession(models.Model):
    """WeChat's session_key for a member: server-side only, never serialised to a client."""

    member = models.OneToOneField(Member, on_delete=models.CASCADE, related_name="wechat_session")
    session_key = models.CharField(max_length=128)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"WeChat session of member {self.member_id}"
