"""Helpers for tests that open console pages as each role: the staff of a store and of another one, one object of
each history-enabled model with two versions, and a form's data as the browser would post it."""

import re
from decimal import Decimal

from django.contrib import admin
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.forms import CheckboxInput
from django.forms.models import model_to_dict
from simple_history.admin import SimpleHistoryAdmin

from campaigns.models import Campaign, MessageTemplate, Segment, WebhookEndpoint
from coupons.models import PostPaymentRule
from members.models import ProgramSettings, Role, TierPolicy
from points.models import EarningRule, PointsPolicy, TierMonthlyGift
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import (
    AuctionFactory,
    LuckyDrawFactory,
    MemberFactory,
    MembershipPlanFactory,
    RewardFactory,
    StoreFactory,
    TierFactory,
    TopUpOfferFactory,
    UserFactory,
)

# The staff a console page is opened by: the brand's merchant admin, the staff of store A (where the objects
# are) and a manager of store B ("staff of another store").
# merchant_admin_b: a merchant admin limited to store B (the staff form allows it: an owner of one store, who manages
# that store's staff); every page holds them to store B like the store's own staff.
ROLES = ("merchant_admin", "manager_a", "clerk_a", "manager_b", "merchant_admin_b")

# The history revert policy, per history-enabled model (members.console.ConsoleHistoryAdmin).
# Pure configuration: reverted by staff who may change it.
REVERTIBLE = {
    "campaigns.MessageTemplate",
    "campaigns.Segment",
    "coupons.PostPaymentRule",
    "members.MembershipPlan",
    "members.ProgramSettings",
    "members.Store",
    "members.Tier",
    "members.TierPolicy",
    "members.TopUpOffer",
    "points.EarningRule",
    "points.PointsPolicy",
    "points.TierMonthlyGift",
}
# State owned by services: a member's tier, status and balances (tier history, ledgers), stock and issued counts,
# a draw's prizes, an auction's bids and outcome. A webhook endpoint too: its history says who pointed member data
# where, and sending it back to an old address must be typed, not restored.
NEVER_REVERTED = {
    "campaigns.Campaign",  # its status and counters are the lifecycle's and the deliveries' (services own them)
    "campaigns.WebhookEndpoint",
    "coupons.CouponTemplate",
    "members.Member",
    "points.Auction",
    "points.LuckyDraw",
    "points.Reward",
}


def make_staff():
    """Return {role name: user} for ROLES, with stores A and B."""
    store_a = StoreFactory(code="a", name="Store A")
    store_b = StoreFactory(code="b", name="Store B")
    return {
        "merchant_admin": UserFactory(role=Role.MERCHANT_ADMIN),
        "manager_a": UserFactory(role=Role.STORE_MANAGER, store=store_a),
        "clerk_a": UserFactory(role=Role.CLERK, store=store_a),
        "manager_b": UserFactory(role=Role.STORE_MANAGER, store=store_b),
        "merchant_admin_b": UserFactory(role=Role.MERCHANT_ADMIN, store=store_b),
    }


def history_admins():
    """Every registered admin with history pages, found from the admin site (a new one is covered at once)."""
    return sorted(
        (model_admin for model_admin in admin.site._registry.values() if isinstance(model_admin, SimpleHistoryAdmin)),
        key=lambda model_admin: model_admin.opts.label,
    )


def _saved_twice(obj, field, first, second):
    """Save `obj` with `field` = first, then = second: two versions in its history, the older one to revert to."""
    for value in (first, second):
        setattr(obj, field, value)
        obj.save()
    return obj, field


# model label -> make(store) returning (object with two versions, the field that differs between them).
# Objects that belong to a store belong to `store` (store A in the tests).
HISTORY_OBJECT_MAKERS = {
    "campaigns.Campaign": lambda store: _saved_twice(
        Campaign(name="Welcome back", store=store, kind="broadcast", message_title="Hello"), "points_bonus", 0, 50
    ),
    "campaigns.Segment": lambda store: _saved_twice(
        Segment(
            name="Lapsed",
            store=store,
            rule={"match": "all", "conditions": [{"field": "age", "op": "gte", "value": 18}]},
        ),
        "name",
        "Lapsed",
        "Lapsed (renamed)",
    ),  # fmt: skip
    "campaigns.MessageTemplate": lambda store: _saved_twice(
        MessageTemplate(kind="tier_changed", channel="sms", locale="en", body="Welcome to {tier}"),
        "body",
        "Welcome to {tier}",
        "You are now {tier}",
    ),  # fmt: skip
    "campaigns.WebhookEndpoint": lambda store: _saved_twice(
        WebhookEndpoint(name="CRM", url="https://crm.example.com/hooks", events=["member.joined"], store=store),
        "url",
        "https://crm.example.com/hooks",
        "https://crm2.example.com/hooks",
    ),  # fmt: skip
    "members.Member": lambda store: _saved_twice(MemberFactory(home_store=store), "name", "First", "Second"),
    "members.Store": lambda store: _saved_twice(store, "name", "Store A", "Store A (renamed)"),
    "members.Tier": lambda store: _saved_twice(TierFactory(), "earn_multiplier", Decimal(1), Decimal(2)),
    "members.TierPolicy": lambda store: _saved_twice(TierPolicy.load(), "window_days", 365, 180),
    "members.TopUpOffer": lambda store: _saved_twice(TopUpOfferFactory(), "bonus_amount", Decimal(100), Decimal(500)),
    "members.MembershipPlan": lambda store: _saved_twice(
        MembershipPlanFactory(tier=TierFactory()), "price", Decimal(388), Decimal(1)
    ),
    "members.ProgramSettings": lambda store: _saved_twice(ProgramSettings.load(), "program_name", "Club", "Renamed"),
    "points.EarningRule": lambda store: _saved_twice(
        EarningRule.objects.create(
            name="HK$100 = 10 points",
            kind=EarningRule.Kind.BASE_RATE,
            priority=10,
            amount_per_unit=Decimal(100),
            points_per_unit=10,
        ),
        "points_per_unit",
        10,
        50,
    ),  # fmt: skip
    "points.PointsPolicy": lambda store: _saved_twice(PointsPolicy.load(), "checkout_value", Decimal(5), Decimal(100)),
    "points.Reward": lambda store: _saved_twice(RewardFactory(), "points_price", 1500, 1),
    "points.LuckyDraw": lambda store: _saved_twice(LuckyDrawFactory(), "points_per_spin", 100, 1),
    "points.Auction": lambda store: _saved_twice(AuctionFactory(), "starting_bid", 1000, 1),
    "points.TierMonthlyGift": lambda store: _saved_twice(
        TierMonthlyGift.objects.create(tier=TierFactory(), points=100), "points", 100, 5000
    ),
    "coupons.CouponTemplate": lambda store: _saved_twice(CouponTemplateFactory(), "amount", Decimal(20), Decimal(500)),
    "coupons.PostPaymentRule": lambda store: _saved_twice(
        PostPaymentRule.objects.create(name="Pay and return", template=CouponTemplateFactory(), min_paid_amount=100),
        "min_paid_amount",
        Decimal(100),
        Decimal(1),
    ),  # fmt: skip
}


def row_snapshot(obj):
    """Every column and many-to-many value of the object's row as stored now."""
    fresh = type(obj)._default_manager.get(pk=obj.pk)
    values = model_to_dict(fresh, fields=[field.name for field in fresh._meta.concrete_fields])
    for field in fresh._meta.many_to_many:
        values[field.name] = sorted(getattr(fresh, field.name).values_list("pk", flat=True))
    return values


def form_data(form):
    """Return the data a browser posts for an unbound form as rendered (files left out)."""
    data = {}
    for bound in form:
        widget = bound.field.widget
        while isinstance(widget, RelatedFieldWidgetWrapper):
            widget = widget.widget
        context = widget.get_context(bound.html_name, bound.value(), dict(widget.attrs))["widget"]
        parts = (
            zip(widget.widgets, context["subwidgets"], strict=True) if "subwidgets" in context else [(widget, context)]
        )
        for part_widget, part in parts:
            _put(data, part_widget, part)
    return data


def _put(data, widget, context):
    if context.get("type") == "file":
        return
    value = context.get("value")
    if isinstance(widget, CheckboxInput):
        if context["attrs"].get("checked"):
            data[context["name"]] = "on"
        return
    if isinstance(value, list):
        chosen = [item for item in value if item not in ("", None)]
        data[context["name"]] = chosen if widget.allow_multiple_selected else (chosen[0] if chosen else "")
        return
    data[context["name"]] = "" if value is None else value


def header_trail(html: str) -> list[tuple[str, str]]:
    """The console header's trail (Unfold's title in #header-inner): each linked part's address and text."""
    h1 = html.split('id="header-inner"', 1)[1].split("<h1", 1)[1].split("</h1>", 1)[0]
    return [
        (link, " ".join(text.split()))
        for link, text in re.findall(r'<a href="([^"]*)"[^>]*>(.*?)</a\s*>', h1, flags=re.S)
    ]
