"""The dashboard's pre-aggregated daily figures.

A closed day's figures are sums that never change once the day is over (late writes aside, which the refresh
recounts: it recomputes the last days each run), so the dashboard reads a few hundred rows instead of scanning
millions of purchases, ledger entries and coupons. `FigureDay` records which days are stored; a day not stored
(today, or days the job has not reached yet) is counted live from the source tables by the same code
(console.selectors.figures). Rows are written only by `console.services.figures.daily_figures_refresh`, which
replaces a day's rows in one transaction, so a rerun writes the same rows again.
"""

from decimal import Decimal

from django.contrib.auth.models import Group
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history import register
from simple_history.models import HistoricalRecords

from members.models import User


class FigureDay(models.Model):
    """A day (in the program's time zone) whose figures are stored in DailyFigure."""

    day = models.DateField(_("day"), primary_key=True)
    refreshed_at = models.DateTimeField(_("refreshed at"))

    class Meta:
        verbose_name = _("dashboard day")
        verbose_name_plural = _("dashboard days")
        default_permissions = ()
        permissions = [("view_dashboard", _("Can view the dashboard"))]

    def __str__(self):
        return self.day.isoformat()


class DailyFigure(models.Model):
    """One figure of one day and store, split by one dimension (join source, tier, ledger kind)."""

    class Figure(models.TextChoices):
        JOINED = "joined", _("members joined")  # dimension: join source; count
        PURCHASES = "purchases", _("purchases")  # dimension: the member's tier id; count, amount = gross sales
        POINTS = "points", _("points moved")  # dimension: ledger kind (refunds split by sign); amount = sum of deltas
        COUPONS_ISSUED = "coupons_issued", _("coupons issued")  # count
        COUPONS_REDEEMED = "coupons_redeemed", _("coupons redeemed")  # count
        STORED_VALUE = "stored_value", _("stored value moved")  # amount = sum of entries
        # dimension: an earning rule's id; count = accrual entries it had a share in, amount = its points (the
        # points report's top rules, from the accruals' breakdowns)
        RULE_POINTS = "rule_points", _("points by earning rule")

    day = models.DateField(_("day"))
    # The store the figure belongs to, as the console scopes it: a purchase's store, a member's home store for
    # everything else. Null: members without a home store.
    store = models.ForeignKey(
        "members.Store", verbose_name=_("store"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    figure = models.CharField(_("figure"), max_length=20, choices=Figure.choices)
    dimension = models.CharField(_("dimension"), max_length=32, blank=True)
    count = models.BigIntegerField(_("count"), default=0)
    amount = models.DecimalField(_("amount"), max_digits=18, decimal_places=2, default=Decimal("0.00"))

    class Meta:
        verbose_name = _("daily figure")
        verbose_name_plural = _("daily figures")
        default_permissions = ()
        indexes = [models.Index(fields=["figure", "day"], name="console_figure_day")]

    def __str__(self):
        return f"{self.day} {self.figure} {self.dimension}"


class CouponFigure(models.Model):
    """The coupon report's figures of one day, template and store (the coupon's member's home store).

    Each figure counts on the day of its own moment: issued and claimed on the issue, redeemed, discount and sales
    on the redemption, expired on the coupon's end of validity (its issue when it has none). A coupon's status
    changes (a refund restores a redeemed coupon), so the nightly refresh recounts every day's coupons, not only
    the last days; a day not stored is counted live by the same code (console.selectors.figures).
    """

    day = models.DateField(_("day"))
    store = models.ForeignKey(
        "members.Store", verbose_name=_("store"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    template = models.ForeignKey(
        "coupons.CouponTemplate", verbose_name=_("coupon template"), on_delete=models.CASCADE, related_name="+"
    )
    issued = models.BigIntegerField(_("issued"), default=0)
    claimed = models.BigIntegerField(_("claimed"), default=0)
    redeemed = models.BigIntegerField(_("redeemed"), default=0)
    expired = models.BigIntegerField(_("expired"), default=0)
    discount = models.DecimalField(_("discount given"), max_digits=18, decimal_places=2, default=Decimal("0.00"))
    sales = models.DecimalField(_("sales"), max_digits=18, decimal_places=2, default=Decimal("0.00"))

    class Meta:
        verbose_name = _("coupon figure")
        verbose_name_plural = _("coupon figures")
        default_permissions = ()
        indexes = [models.Index(fields=["store", "template"], name="console_coupon_figure_store")]

    def __str__(self):
        return f"{self.day} {self.template_id} {self.store_id}"


class BuyerFigure(models.Model):
    """Members who purchased in a run of closed days [first, end), and those who purchased twice or more there.

    Members are counted once per window, so these do not add up across days: the nightly refresh stores the
    windows the dashboard's periods need on the following day (each period's days before today, and the period
    before it), and the dashboard adds today's buyers live (console.selectors). Rows of all stores have
    `all_stores`; the others are a store's (purchases made there).
    """

    first = models.DateField(_("first day"))
    end = models.DateField(_("end (excluded)"))
    all_stores = models.BooleanField(_("all stores"), default=False)
    store = models.ForeignKey(
        "members.Store", verbose_name=_("store"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    buyers = models.BigIntegerField(_("members who purchased"), default=0)
    repeat = models.BigIntegerField(_("members who purchased twice or more"), default=0)

    class Meta:
        verbose_name = _("buyer figure")
        verbose_name_plural = _("buyer figures")
        default_permissions = ()
        indexes = [models.Index(fields=["first", "end"], name="console_buyer_figure_window")]

    def __str__(self):
        return f"{self.first}..{self.end} {self.store_id}"


class AuditLog(models.Model):
    """Holds the audit log's permission; no table (the log reads the history tables and ledgers: console.audit_log).

    Unmanaged and never queried: Django needs a model to hang a permission on.
    """

    class Meta:
        managed = False
        db_table = "console_audit_log_no_table"
        verbose_name = _("audit log")
        verbose_name_plural = _("audit log")
        default_permissions = ()
        permissions = [("view_audit_log", _("Can view the audit log"))]

    def __str__(self):
        return str(self._meta.verbose_name)


class StaffHistoricalRecords(HistoricalRecords):
    """History of staff accounts and roles, without a version per sign-in.

    Django's sign-in saves `last_login` alone (update_fields); that is not a change anyone made, so it writes no
    version. Every other save (the staff form, a password change, the groups and permissions) does.
    """

    def post_save(self, instance, created, using=None, **kwargs):
        update_fields = kwargs.get("update_fields")
        if not created and update_fields and set(update_fields) <= {"last_login"}:
            return
        super().post_save(instance, created, using=using, **kwargs)


# Staff permissions are audited through django-simple-history like every other setting. User (members) and Group
# (django.contrib.auth) get their history registered here, with the tables in this app (console's migrations), so
# the audit log owns them and members' and Django's models stay as they are. The password hash and the sign-in time
# are not copied.
register(
    User,
    app="console",
    records_class=StaffHistoricalRecords,
    m2m_fields=["groups", "user_permissions"],
    excluded_fields=["password", "last_login"],
)
register(Group, app="console", records_class=StaffHistoricalRecords, m2m_fields=["permissions"])
