"""The console's sidebar: grouped by what staff do, not by app, and filtered per role.

Each entry is a model's list (shown when the model's admin lets the user view it, by the admin's own permission
checks) or a page behind one permission. A model registered later in an app named in a group's `apps` (campaigns
and its segments) joins that group by itself; a group with no entry the user may open is not shown.
`tests/console/test_navigation.py` checks that every registered list is reachable from the sidebar and that every
entry a role sees opens for that role.
"""

from dataclasses import dataclass

from django.apps import apps as django_apps
from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Entry:
    title: str
    icon: str
    model: str = ""  # "app_label.ModelName": the model's list
    url_name: str = ""  # or a named console page
    permission: str = ""  # the page's permission (a model's list uses its admin's checks)
    badge: str = ""  # a model list's sidebar badge: the import path of a callable(request) -> text ("" for none)


def _model(label, title, icon, badge=""):
    return Entry(title=title, icon=icon, model=label, badge=badge)


def _page(url_name, title, icon, permission=""):
    return Entry(title=title, icon=icon, url_name=url_name, permission=permission)


# (group title, entries, apps whose other registered models join the group)
SIDEBAR = (
    (_("Today"), (_page("admin:index", _("Dashboard"), "dashboard"),), ()),
    (
        _("Members"),
        (
            _model("members.Member", _("Members"), "group"),
            _page("admin:members_member_import", _("Import members"), "upload_file", "members.import_member"),
            _model("members.MemberImportJob", _("Imports"), "history"),
            _model("members.Tag", _("Tags"), "sell"),
            _model("campaigns.Segment", _("Segments"), "filter_alt"),
            _model("members.TierHistory", _("Tier changes"), "trending_up"),
            _model("members.Notification", _("Inbox messages"), "mail"),
            _model("members.OutboxMessage", _("Outbox"), "outbox"),
            _model("members.MemberToken", _("Sign-ins"), "key"),
        ),
        (),
    ),
    (
        _("Sales"),
        (
            _model("members.Purchase", _("Purchases"), "receipt_long"),
            _model("points.PurchaseRefund", _("Refunds"), "undo"),
            _model("points.PurchaseCheckout", _("Checkouts"), "point_of_sale"),
            # The badge counts refunds WeChat Pay would not take: staff refund them by hand.
            _model(
                "points.CheckoutOrder",
                _("Mini-program orders"),
                "shopping_cart_checkout",
                badge="points.admin.checkout_orders.refund_failed_badge",
            ),
            _model("members.StoredValueEntry", _("Stored value"), "account_balance_wallet"),
            _model("members.MemberPlanSubscription", _("Plan subscriptions"), "card_membership"),
        ),
        (),
    ),
    (
        _("Points"),
        (
            _model("points.PointsPolicy", _("Points policy"), "policy"),
            _model("points.EarningRule", _("Earning rules"), "rule"),
            _model("points.PointsGrantJob", _("Grants"), "redeem"),
            _model("points.PointsReport", _("Points report"), "monitoring"),
            _model("members.PointsEntry", _("Points ledger"), "list_alt"),
            _model("points.TierMonthlyGift", _("Monthly tier gifts"), "featured_seasonal_and_gifts"),
            _model("points.TierGiftRun", _("Tier gift runs"), "event_repeat"),
        ),
        (),
    ),
    (
        _("Rewards"),
        (
            _model("points.Reward", _("Points mall"), "storefront"),
            _model("points.RewardOrder", _("Pickups and orders"), "shopping_bag"),
            _page(
                "admin:points_rewardorder_fulfil",
                _("Hand over a pickup"),
                "qr_code_scanner",
                "points.fulfil_rewardorder",
            ),
            _model("points.LuckyDraw", _("Lucky draws"), "casino"),
            _model("points.DrawSpin", _("Draw spins"), "autorenew"),
            _model("points.Auction", _("Auctions"), "gavel"),
        ),
        (),
    ),
    (
        _("Coupons"),
        (
            _model("coupons.CouponTemplate", _("Coupon templates"), "confirmation_number"),
            _model("coupons.Coupon", _("Issued coupons"), "local_activity"),
            _model("coupons.CouponIssueJob", _("Bulk issues"), "send"),
            _model("coupons.PostPaymentRule", _("Post-payment rules"), "add_card"),
            _page(
                "admin:coupons_coupontemplate_report", _("Coupon report"), "query_stats", "coupons.view_coupontemplate"
            ),
        ),
        (),
    ),
    (
        _("Campaigns"),
        (
            _model("campaigns.Campaign", _("Campaigns"), "campaign"),
            _model("campaigns.CampaignRun", _("Campaign runs"), "play_circle"),
            _model("campaigns.CampaignRecipient", _("Campaign recipients"), "group"),
        ),
        ("campaigns",),
    ),
    (
        _("Settings"),
        (
            _model("members.ProgramSettings", _("Program settings"), "tune"),
            _model("members.Store", _("Stores"), "store"),
            _model("members.User", _("Staff"), "badge"),
            _model("auth.Group", _("Roles"), "admin_panel_settings"),
            _page("admin:console_audit_log", _("Audit log"), "manage_history", "console.view_audit_log"),
            _model("members.Tier", _("Tiers"), "workspace_premium"),
            _model("members.TierPolicy", _("Tier policy"), "rule_settings"),
            _model("members.MembershipPlan", _("Paid plans"), "loyalty"),
            _model("members.TopUpOffer", _("Top-up offers"), "savings"),
            _model("django_celery_beat.PeriodicTask", _("Schedules"), "schedule"),
            _model("django_celery_beat.CrontabSchedule", _("Crontabs"), "calendar_month"),
            _model("django_celery_beat.IntervalSchedule", _("Intervals"), "timer"),
            _model("django_celery_beat.ClockedSchedule", _("Clocked"), "alarm"),
            _model("django_celery_beat.SolarSchedule", _("Solar events"), "wb_sunny"),
        ),
        (),
    ),
)


def _model_admin(label):
    try:
        model = django_apps.get_model(label)
    except LookupError:
        return None  # an app not installed (yet): campaigns' segments before they land
    return admin.site._registry.get(model)


def _allowed(request, entry):
    """Return the entry's URL when the user may open it, else None."""
    if entry.model:
        model_admin = _model_admin(entry.model)
        if model_admin is None or not model_admin.has_module_permission(request):
            return None
        if not model_admin.has_view_or_change_permission(request):
            return None
        opts = model_admin.model._meta
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    if entry.permission and not request.user.has_perm(entry.permission):
        return None
    try:
        return reverse(entry.url_name)
    except NoReverseMatch:
        return None


def _app_entries(app_labels, placed):
    """Entries for the registered models of these apps that no group names."""
    found = []
    for model in admin.site._registry:
        label = model._meta.label
        if model._meta.app_label in app_labels and label not in placed:
            found.append(_model(label, model._meta.verbose_name_plural.capitalize(), "campaign"))
    return sorted(found, key=lambda entry: entry.model)


PLACED = {entry.model for _title, entries, _apps in SIDEBAR for entry in entries if entry.model}


def sidebar_links(request):
    """Return [(group title, [(title, icon, url)])] the user may open, groups without entries left out."""
    groups = []
    for title, entries, app_labels in SIDEBAR:
        links = []
        for entry in (*entries, *_app_entries(app_labels, PLACED)):
            url = _allowed(request, entry)
            if url is not None:
                links.append((entry.title, entry.icon, url))
        if links:
            groups.append((title, links))
    return groups


def _badges():
    """{model list URL: badge callable path} of the entries with a badge."""
    badges = {}
    for _title, entries, _apps in SIDEBAR:
        for entry in entries:
            if entry.badge and (model_admin := _model_admin(entry.model)) is not None:
                opts = model_admin.model._meta
                badges[reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")] = entry.badge
    return badges


def sidebar_navigation(request):
    """Unfold's SIDEBAR["navigation"]: the groups of sidebar_links as Unfold's dictionaries."""
    badges = _badges()
    return [
        {
            "title": title,
            "separator": True,
            "collapsible": False,
            "items": [
                {"title": name, "icon": icon, "link": url, **({"badge": badges[url]} if url in badges else {})}
                for name, icon, url in links
            ],
        }
        for title, links in sidebar_links(request)
    ]
