"""The console walk: every page of every admin opened by each role and by staff of another store, with the answer
expected from a declarative table (the console's equivalent of the API's object-level checks).

The pages come from the admin site's registry (each ModelAdmin's get_urls()); one object of each model, in store A
where a model belongs to a store, fills their arguments. The expected answer follows from the role's permissions
(members.roles.ROLE_PERMISSIONS, through the groups) and the table below: what each admin offers at all, how its
objects are scoped, and what each custom page needs. A page the table does not know fails the walk, so a new page
cannot ship before someone decides who may open it.

Every page is opened with GET. Where GET is allowed but writing is not (a view-only change form, a past version
that may not be reverted), the page is also posted to, and must refuse.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.contrib.auth.models import Group
from django.urls import URLPattern, reverse
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from campaigns.models import (
    Campaign,
    CampaignRecipient,
    CampaignRun,
    ConsentRecord,
    DeliveryAttempt,
    MessageTemplate,
    Segment,
    WebhookDelivery,
    WebhookEndpoint,
)
from coupons.models import Coupon, CouponIssueJob, PostPaymentRule
from coupons.services import coupon_template_issue_to_member
from coupons.services.bulk import coupon_issue_job_create
from members.models import MemberImportJob, MemberToken, Notification, OutboxMessage, ProgramSettings, Role, TierPolicy
from members.services.ledger import points_credit
from members.services.notifications import notify
from members.services.plans import plan_purchase
from members.services.stored_value import stored_value_adjust
from members.services.tiers import tier_override_set
from members.services.tokens import member_token_issue
from points.models import CheckoutOrder, EarningRule, PointsPolicy, TierGiftRun, TierMonthlyGift
from points.services.checkout import purchase_refund
from points.services.draws import draw_spin
from points.services.grants import points_grant_job_create
from points.services.mall import reward_redeem
from tests.console_helpers import REVERTIBLE, ROLES, make_staff
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import (
    AuctionFactory,
    DrawPrizeFactory,
    LuckyDrawFactory,
    MemberFactory,
    MembershipPlanFactory,
    RewardFactory,
    TagFactory,
    TierFactory,
    TopUpOfferFactory,
    UserFactory,
    checkout_sale,
)

pytestmark = pytest.mark.django_db

# How a model's objects are scoped:
BRAND = "brand"  # the brand's configuration or jobs: staff of any store with the permission open them
STORE = "store"  # rows of a store (or of its members): staff of another store are refused
# members: staff of any store open one (read-only, the till's visitor) once an exact phone, member number or card code
# found it (tests/members/test_console.py); by id alone, like their history and edits, they stay in-store
MEMBER = "member"

# model: (scope of its objects, what the admin offers beyond viewing: a = add, c = change, d = delete)
MODELS = {
    "auth.Group": (BRAND, "acd"),
    "campaigns.Campaign": (STORE, "ac"),  # a draft is edited; launched ones move by actions; never deleted
    "campaigns.CampaignRecipient": (STORE, ""),  # written by deliveries only
    "campaigns.CampaignRun": (STORE, ""),  # written by the runs only
    "campaigns.Segment": (STORE, "acd"),  # a store's segment: its staff count, edit and use it
    "campaigns.ConsentRecord": (STORE, ""),  # written by unsubscribe paths only
    "campaigns.DeliveryAttempt": (STORE, ""),  # the sender's log
    "campaigns.MessageTemplate": (BRAND, "acd"),
    "campaigns.WebhookDelivery": (STORE, ""),  # the webhooks' log, by the event's store
    "campaigns.WebhookEndpoint": (STORE, "acd"),  # a store's endpoint receives its events; staff of a store make those
    "django_celery_beat.ClockedSchedule": (BRAND, "acd"),
    "django_celery_beat.CrontabSchedule": (BRAND, "acd"),
    "django_celery_beat.IntervalSchedule": (BRAND, "acd"),
    "django_celery_beat.PeriodicTask": (BRAND, "acd"),
    "django_celery_beat.SolarSchedule": (BRAND, "acd"),
    "coupons.Coupon": (STORE, ""),
    "coupons.CouponIssueJob": (STORE, ""),
    "coupons.CouponTemplate": (BRAND, "acd"),
    "coupons.PostPaymentRule": (BRAND, "acd"),
    "members.Member": (MEMBER, "acd"),
    "members.MemberImportJob": (STORE, ""),
    "members.MemberPlanSubscription": (STORE, ""),
    "members.MemberToken": (STORE, "d"),
    "members.MembershipPlan": (BRAND, "ac"),
    "members.Notification": (STORE, ""),
    "members.OutboxMessage": (STORE, ""),
    "members.PointsEntry": (STORE, ""),
    "members.ProgramSettings": (BRAND, "c"),  # one row: never added twice nor deleted
    "members.Purchase": (STORE, ""),
    "members.Store": (STORE, "acd"),
    "members.StoredValueEntry": (STORE, ""),
    "members.Tag": (BRAND, "acd"),
    "members.Tier": (BRAND, "acd"),
    "members.TierHistory": (STORE, "a"),  # "add" sets a member's tier by hand
    "members.TierPolicy": (BRAND, "c"),
    "members.TopUpOffer": (BRAND, "acd"),
    "members.User": (STORE, "acd"),
    "points.Auction": (BRAND, "ac"),
    "points.CheckoutOrder": (STORE, ""),  # written by the checkout-order services; released through its page
    "points.DrawSpin": (STORE, ""),
    "points.EarningRule": (BRAND, "acd"),
    "points.LuckyDraw": (BRAND, "acd"),
    "points.PointsGrantJob": (STORE, "a"),  # staff limited to a store grant to its members
    "points.PointsPolicy": (BRAND, "c"),
    "points.PointsReport": (BRAND, ""),  # a report page, no rows of its own
    "points.PurchaseCheckout": (STORE, ""),
    "points.PurchaseRefund": (STORE, ""),
    "points.Reward": (BRAND, "acd"),
    "points.RewardOrder": (STORE, ""),
    "points.TierGiftRun": (BRAND, ""),
    "points.TierMonthlyGift": (BRAND, "acd"),
}

# (model, action) whose permission is not the model's own
PERMISSION_OVERRIDES = {
    ("members.TierHistory", "add"): "members.override_tier",
    ("points.PointsGrantJob", "view"): "points.grant_points",
    ("points.PointsGrantJob", "add"): "points.grant_points",
}

# Custom pages: url name -> (permission, whose object it takes or None, scope of that object, methods).
# "POST" pages answer GET with a refusal for everyone.
CUSTOM_PAGES = {
    "members_member_adjust_points": ("members.adjust_points", "members.Member", STORE, "GET"),
    "members_member_import": ("members.import_member", None, BRAND, "GET"),
    "members_member_import_confirm": ("members.import_member", None, BRAND, "POST"),
    "members_member_import_template": ("members.import_member", None, BRAND, "GET"),
    "members_member_import_job": ("members.import_member", "members.MemberImportJob", STORE, "GET"),
    "members_member_export": ("members.export_member", None, BRAND, "GET"),
    "members_storedvalueentry_adjust": ("members.adjust_stored_value", "members.Member", STORE, "GET"),
    "members_tier_preview": ("members.change_tier", "members.Tier", BRAND, "POST"),
    "members_tierpolicy_preview": ("members.change_tierpolicy", "members.TierPolicy", BRAND, "POST"),
    "auth_user_password_change": ("members.change_user", "members.User", STORE, "GET"),
    "campaigns_messagetemplate_test_send": (
        "campaigns.change_messagetemplate",
        "campaigns.MessageTemplate",
        BRAND,
        "GET",
    ),
    "campaigns_segment_preview": ("campaigns.view_segment", None, BRAND, "POST"),
    "campaigns_segment_issue_coupons": ("coupons.add_couponissuejob", "campaigns.Segment", STORE, "GET"),
    "campaigns_segment_grant_points": ("points.grant_points", "campaigns.Segment", STORE, "GET"),
    # the campaign's report and its CSV (campaigns/admin/campaign_report.py)
    "campaigns_campaign_report": ("campaigns.view_campaign", "campaigns.Campaign", STORE, "GET"),
    "campaigns_campaign_report_csv": ("campaigns.view_campaign", "campaigns.Campaign", STORE, "GET"),
    "coupons_coupontemplate_report": ("coupons.view_coupontemplate", None, BRAND, "GET"),
    "coupons_coupontemplate_issue": ("coupons.add_couponissuejob", "coupons.CouponTemplate", BRAND, "GET"),
    "coupons_coupontemplate_partner_codes": ("coupons.add_partnercode", "coupons.CouponTemplate", BRAND, "GET"),
    "points_reward_partner_codes": ("points.change_reward", "points.Reward", BRAND, "GET"),
    "points_rewardorder_fulfil": ("points.fulfil_rewardorder", None, BRAND, "GET"),
    "points_rewardorder_prize_collect": ("points.fulfil_rewardorder", None, BRAND, "GET"),
    "points_rewardorder_fulfil_order": ("points.fulfil_rewardorder", "points.RewardOrder", STORE, "GET"),
    "points_rewardorder_cancel": ("points.cancel_rewardorder", "points.RewardOrder", STORE, "GET"),
    "points_checkoutorder_release": ("points.release_checkoutorder", "points.CheckoutOrder", STORE, "GET"),
    "points_checkoutorder_refunded_by_hand": ("points.refund_checkoutorder", "points.CheckoutOrder", STORE, "GET"),
}

STANDARD_PAGES = ("changelist", "add", "change", "delete", "history", "simple_history")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def build_world(staff, now):
    """Return {model label: one object}, in store A (or of its member) where the model belongs to a store."""
    store_a, admin_user, manager_a = staff["clerk_a"].store, staff["merchant_admin"], staff["manager_a"]
    member = MemberFactory(home_store=store_a)
    tier, gift_tier = TierFactory(), TierFactory()
    points_credit(member_id=member.pk, points=2000, idempotency_key="walk:seed", now=now)
    sale = checkout_sale(store=store_a, member=member, now=now, external_id="walk-1", gross_amount=Decimal("100.00"))
    refund = purchase_refund(
        store_id=store_a.pk, channel="pos", purchase_external_id="walk-1", refund_external_id="walk-r1",
        amount=Decimal("10.00"), now=now,
    )  # fmt: skip
    member_token_issue(member_id=member.pk, now=now)
    notification = notify(
        member_id=member.pk, kind=Notification.Kind.POINTS_EXPIRING, dedupe_key="walk", now=now,
        params={"points": 120, "days": 30, "expires_on": "2026-12-31"},
    )  # fmt: skip
    outbox = OutboxMessage.objects.filter(notification=notification).first() or OutboxMessage.objects.create(
        notification=notification, channel=OutboxMessage.Channel.SMS, next_attempt_at=now, created_at=now
    )
    plan = MembershipPlanFactory(tier=tier)
    subscription = plan_purchase(member_id=member.pk, plan_id=plan.pk, provider="fps", transaction_id="walk", now=now)
    template = CouponTemplateFactory()
    draw = LuckyDrawFactory()
    DrawPrizeFactory(draw=draw)
    reward = RewardFactory()
    for singleton in (ProgramSettings.load(), TierPolicy.load(), PointsPolicy.load()):
        singleton.save()  # a version in its history
    interval = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    endpoint = WebhookEndpoint.objects.create(
        name="CRM", url="https://crm.example.com/hooks", events=["purchase.recorded"], store=store_a
    )
    campaign = Campaign.objects.create(
        name="Walk", store=store_a, kind=Campaign.Kind.BROADCAST, message_title="Hello", message_body="Hello",
        created_by=manager_a,
    )  # fmt: skip
    return {
        "auth.Group": Group.objects.create(name="Marketing"),  # a merchant's own role (built-in ones are read-only)
        "campaigns.Campaign": campaign,
        "campaigns.CampaignRecipient": CampaignRecipient.objects.create(
            campaign=campaign, member=member, occasion="walk", created_at=now
        ),
        "campaigns.CampaignRun": CampaignRun.objects.create(campaign=campaign, key="walk", occasion="walk"),
        "campaigns.Segment": Segment.objects.create(
            name="Walk",
            store=store_a,
            rule={"match": "all", "conditions": [{"field": "tier", "op": "in", "value": [tier.pk]}]},
        ),
        "campaigns.ConsentRecord": ConsentRecord.objects.create(
            member=member, member_number=member.member_number, channel="sms", source="link", recorded_at=now
        ),
        "campaigns.DeliveryAttempt": DeliveryAttempt.objects.create(
            outbox_message=outbox, channel=outbox.channel, category="transactional", outcome="held", created_at=now
        ),
        "campaigns.MessageTemplate": MessageTemplate.objects.create(
            kind=Notification.Kind.POINTS_EXPIRING, channel="sms", locale="en", body="{points} points expire."
        ),
        "campaigns.WebhookDelivery": WebhookDelivery.objects.create(
            endpoint=endpoint,
            event="purchase.recorded",
            event_key="walk",
            payload={},
            store=store_a,
            next_attempt_at=now,
            created_at=now,
        ),  # fmt: skip
        "campaigns.WebhookEndpoint": endpoint,
        "django_celery_beat.ClockedSchedule": ClockedSchedule.objects.create(clocked_time=now),
        "django_celery_beat.CrontabSchedule": CrontabSchedule.objects.create(minute="0", hour="3"),
        "django_celery_beat.IntervalSchedule": interval,
        "django_celery_beat.PeriodicTask": PeriodicTask.objects.create(name="walk", task="walk", interval=interval),
        "django_celery_beat.SolarSchedule": SolarSchedule.objects.create(
            event="sunrise", latitude=Decimal("22.3"), longitude=Decimal("114.2")
        ),
        "coupons.Coupon": coupon_template_issue_to_member(
            template_id=template.pk, member_id=member.pk, source=Coupon.Source.MANUAL, now=now
        ),
        "coupons.CouponIssueJob": coupon_issue_job_create(
            template_id=template.pk,
            audience=CouponIssueJob.Audience.TIER,
            tier_id=tier.pk,
            store_id=store_a.pk,
            created_by_id=manager_a.pk,
            now=now,
        ),  # fmt: skip
        "coupons.CouponTemplate": template,
        "coupons.PostPaymentRule": PostPaymentRule.objects.create(
            name="Pay and return", template=template, min_paid_amount=Decimal(100)
        ),
        "members.Member": member,
        "members.MemberImportJob": MemberImportJob.objects.create(
            created_by=manager_a, store=manager_a.store, file="imports/walk.csv"
        ),
        "members.MemberPlanSubscription": subscription.subscription,
        "members.MemberToken": MemberToken.objects.get(member=member),
        "members.MembershipPlan": plan,
        "members.Notification": notification,
        "members.OutboxMessage": outbox,
        "members.PointsEntry": member.points_entries.order_by("pk").first(),
        "members.ProgramSettings": ProgramSettings.load(),
        "members.Purchase": sale.purchase,
        "members.Store": store_a,
        "members.StoredValueEntry": stored_value_adjust(
            member_id=member.pk,
            amount=Decimal(50),
            reason="walk",
            created_by=admin_user,
            idempotency_key="walk",
            now=now,
        ),  # fmt: skip
        "members.Tag": TagFactory(),
        "members.Tier": tier,
        "members.TierHistory": tier_override_set(
            member_id=member.pk,
            tier_id=tier.pk,
            until=now + timedelta(days=30),
            reason="walk",
            created_by=admin_user,
            now=now,
        ),  # fmt: skip
        "members.TierPolicy": TierPolicy.load(),
        "members.TopUpOffer": TopUpOfferFactory(),
        "members.User": staff["clerk_a"],
        "points.Auction": AuctionFactory(),
        "points.CheckoutOrder": CheckoutOrder.objects.create(
            member=member,
            out_trade_no="MPWALK",
            idempotency_key="walk",
            request_hash="walk",
            store=store_a,
            amount_due=Decimal("10.00"),
            created_at=now,
            expires_at=now + timedelta(minutes=15),
        ),
        "points.DrawSpin": draw_spin(member_id=member.pk, draw_id=draw.pk, idempotency_key="walk", now=now).spin,
        "points.EarningRule": EarningRule.objects.create(
            name="HK$100 = 10 points",
            kind=EarningRule.Kind.BASE_RATE,
            priority=10,
            amount_per_unit=Decimal(100),
            points_per_unit=10,
        ),  # fmt: skip
        "points.LuckyDraw": draw,
        "points.PointsGrantJob": points_grant_job_create(
            created_by=UserFactory(role=Role.MERCHANT_ADMIN, store=store_a),
            points=10,
            reason="walk",
            member_list=member.member_number,
            now=now,
        ),
        "points.PointsPolicy": PointsPolicy.load(),
        "points.PointsReport": None,  # a report: no page takes an object
        "points.PurchaseCheckout": sale.checkout,
        "points.PurchaseRefund": refund.refund,
        "points.Reward": reward,
        "points.RewardOrder": reward_redeem(
            member_id=member.pk, reward_id=reward.pk, idempotency_key="walk", pickup_store_id=store_a.pk, now=now
        ).order,
        "points.TierGiftRun": TierGiftRun.objects.create(tier=gift_tier, month=date(2026, 1, 1), created_at=now),
        "points.TierMonthlyGift": TierMonthlyGift.objects.create(tier=gift_tier, points=100),
    }


def console_pages():
    """Return [(url name, model label, page kind or "custom", model admin)] for every named admin URL."""
    pages, unknown = [], []
    for model, model_admin in admin.site._registry.items():
        prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
        for pattern in model_admin.get_urls():
            if not isinstance(pattern, URLPattern) or pattern.name is None:
                continue  # the catch-all redirect of an old-style object URL
            kind = pattern.name.removeprefix(prefix)
            if pattern.name in CUSTOM_PAGES:
                pages.append((pattern.name, model._meta.label, "custom", model_admin))
            elif pattern.name.startswith(prefix) and kind in STANDARD_PAGES:
                pages.append((pattern.name, model._meta.label, kind, model_admin))
            else:
                unknown.append(pattern.name)
    return pages, unknown


class Walker:
    """Expected answers for one user, from their permissions and the tables above."""

    def __init__(self, user, store_a):
        self.user = user
        self.in_store = user.store_id in (None, store_a.pk)

    def has(self, label, action):
        perm = PERMISSION_OVERRIDES.get((label, action))
        if perm is None:
            app_label, _name = label.split(".")
            opts = admin.site._registry[next(m for m in admin.site._registry if m._meta.label == label)].opts
            perm = f"{app_label}.{get_permission_codename(action, opts)}"
        return self.user.has_perm(perm)

    def may_view(self, label):
        return self.has(label, "view") or self.has(label, "change")

    def scoped_ok(self, scope):
        return scope == BRAND or self.in_store

    def expected(self, label, kind):
        """Return (GET allowed, POST allowed) for a standard page of the model."""
        scope, offers = MODELS[label]
        if kind == "changelist":
            return self.may_view(label), None
        if kind == "add":
            allowed = "a" in offers and self.has(label, "add")
            return allowed, allowed
        if kind == "change":
            return (
                self.may_view(label) and self.scoped_ok(scope),
                "c" in offers and self.has(label, "change") and self.scoped_ok(scope),
            )
        if kind == "delete":
            allowed = "d" in offers and self.has(label, "delete") and self.scoped_ok(scope)
            return allowed, allowed
        if kind == "history":
            return self.may_view(label) and self.scoped_ok(scope), None
        # a past version (simple_history): read where the history is read, reverted only where the policy allows
        return (
            self.may_view(label) and self.scoped_ok(scope),
            label in REVERTIBLE and self.has(label, "change") and self.scoped_ok(scope),
        )

    def expected_custom(self, name):
        perm, _label, scope, methods = CUSTOM_PAGES[name]
        allowed = self.user.has_perm(perm) and self.scoped_ok(scope)
        return (allowed and methods == "GET"), allowed


def page_url(name, label, kind, world):
    obj_label = CUSTOM_PAGES[name][1] if kind == "custom" else label
    if kind in ("changelist", "add") or obj_label is None:
        return reverse(f"admin:{name}")
    obj = world[obj_label]
    if kind == "simple_history":
        version = obj.history.order_by("-history_date", "-history_id").first()
        return reverse(f"admin:{name}", args=[obj.pk, version.history_id])
    return reverse(f"admin:{name}", args=[obj.pk])


REFUSED_REDIRECTS = ("/console/", "/console/login/")


def answer(response):
    """Return "allowed" or "refused" for a console answer (anything else is reported as it is)."""
    if response.status_code == 200:
        return "allowed"
    if response.status_code in (403, 404, 405):
        return "refused"
    if response.status_code == 302:
        location = response["Location"].split("?")[0]
        return "refused" if location in REFUSED_REDIRECTS else "allowed"
    return f"HTTP {response.status_code}"


def test_the_table_knows_every_console_page_and_model():
    pages, unknown = console_pages()

    assert unknown == [], "decide who may open these pages: add them to CUSTOM_PAGES"
    assert {label for _name, label, _kind, _admin in pages} == set(MODELS)
    assert {name for name, _label, kind, _admin in pages if kind == "custom"} == set(CUSTOM_PAGES)


def test_every_console_page_answers_each_role_as_the_table_says(client, now):
    # given one object of every model (in store A) and staff of store A, of store B and the brand
    staff = make_staff()
    store_a = staff["clerk_a"].store
    world = build_world(staff, now)
    assert set(world) == set(MODELS)
    pages, _unknown = console_pages()
    mismatches = []

    for role in ROLES:
        walker = Walker(staff[role], store_a)
        client.force_login(staff[role])
        for name, label, kind, _model_admin in pages:
            url = page_url(name, label, kind, world)
            get_allowed, post_allowed = (
                walker.expected_custom(name) if kind == "custom" else walker.expected(label, kind)
            )
            # when they open the page
            got = answer(client.get(url))
            # then it answers as the table says
            if got != ("allowed" if get_allowed else "refused"):
                mismatches.append(
                    f"{role} GET {url} ({name}): {got}, expected {'allowed' if get_allowed else 'refused'}"
                )
            if post_allowed is False and got == "allowed":
                posted = answer(client.post(url, {}))
                if posted != "refused":
                    mismatches.append(f"{role} POST {url} ({name}): {posted}, expected refused")

    assert mismatches == []


def test_the_points_report_opens_no_ledger_rows(client, now):
    # given a points entry of a store A member, and a manager of store B who may read the points report
    staff = make_staff()
    member = MemberFactory(home_store=staff["clerk_a"].store)
    entry = points_credit(member_id=member.pk, points=100, idempotency_key="walk:report", now=now)
    client.force_login(staff["manager_b"])

    # when they open the entry through the report's model (a proxy of the ledger)
    opened = [client.get(f"/console/points/pointsreport/{entry.pk}/{page}") for page in ("change/", "history/", "")]

    # then nothing opens (the ledger's own admin is scoped to their store), while the report itself does
    assert [answer(response) for response in opened] == ["refused", "refused", "refused"]
    assert client.get(reverse("admin:points_pointsreport_changelist")).status_code == 200


# The console site's own pages (console.sites, Unfold's site): url name -> permission (None: every staff member).
# Django's own site pages (login, password change, jsi18n...) are Django's business and stay out of the table.
SITE_PAGES = {
    "index": None,  # the home page: its figures need console.view_dashboard (tests/console/test_dashboard.py)
    "console_find": "members.view_member",  # the header's member search
    "console_audit_log": "console.view_audit_log",  # the audit log (tests/console/test_audit_log.py)
    "console_audit_log_export": "console.view_audit_log",
    "search": None,  # Unfold's search of the sidebar's lists
}
DJANGO_SITE_PAGES = {
    "login", "logout", "password_change", "password_change_done", "autocomplete", "jsi18n", "view_on_site", "app_list",
}  # fmt: skip


# Pages of one member (console/member_360): the member in the staff member's store scope and, for an action or the
# export, its own permission; tests/console/test_member_360.py walks them per role and store.
MEMBER_PAGES = {"console_member_360", "console_member_360_action", "console_member_360_export"}


def test_the_table_knows_every_page_of_the_console_site():
    names = {pattern.name for pattern in admin.site.get_urls() if isinstance(pattern, URLPattern) and pattern.name}

    assert names - DJANGO_SITE_PAGES - MEMBER_PAGES == set(SITE_PAGES), (
        "decide who may open these pages: add them to SITE_PAGES"
    )


def test_every_page_of_the_console_site_answers_each_role_as_the_table_says(client):
    staff = make_staff()
    mismatches = []

    for role in ROLES:
        client.force_login(staff[role])
        for name, permission in SITE_PAGES.items():
            expected = "allowed" if permission is None or staff[role].has_perm(permission) else "refused"
            got = answer(client.get(reverse(f"admin:{name}"), {"q": "91234567", "s": "member"}))
            if got != expected:
                mismatches.append(f"{role} GET {name}: {got}, expected {expected}")

    assert mismatches == []
