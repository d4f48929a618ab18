"""seed_demo: deterministic for a seed, idempotent, consistent ledger, printed credentials that work."""

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from coupons.models import Coupon, PostPaymentRule
from members.models import (
    Member,
    MemberToken,
    PointsEntry,
    PointsLot,
    ProgramSettings,
    Purchase,
    PurchaseItem,
    Role,
    Store,
    StoreApiKey,
    StoreHoursException,
    StoreOpeningHours,
    Tag,
    Tier,
    TierHistory,
    User,
)
from members.services.ledger import points_ledger_drift
from members.services.tokens import member_token_authenticate, store_api_key_authenticate
from points.management.commands.seed_demo import Command
from points.models import EarningRule, PurchaseCheckout
from points.rules import CartFacts, CartItem, MemberFacts, earn_points
from points.selectors import checkout_settings_get

pytestmark = pytest.mark.django_db

ANCHOR = datetime(2025, 6, 1, tzinfo=ZoneInfo("Asia/Hong_Kong"))


def seed(*args):
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def counts():
    return {
        model.__name__: model.objects.count()
        for model in (
            Member,
            Purchase,
            PurchaseItem,
            PointsEntry,
            Store,
            StoreOpeningHours,
            StoreHoursException,
            Tier,
            Tag,
            User,
            ProgramSettings,
        )  # fmt: skip
    } | {
        "live POS keys": StoreApiKey.objects.filter(revoked_at__isnull=True).count(),
        "live member tokens": MemberToken.objects.filter(revoked_at__isnull=True).count(),
    }


def line_after(output, marker):
    return next(line.split(marker, 1)[1].strip() for line in output.splitlines() if marker in line)


def test_seeding_twice_gives_the_same_counts_and_a_consistent_ledger():
    seed("--members", "40", "--seed", "5")
    first = counts()

    seed("--members", "40", "--seed", "5")

    assert counts() == first
    assert first["Member"] == 40
    assert first["Store"] == 6
    assert first["Tier"] == 4
    assert first["Purchase"] > 40
    assert points_ledger_drift() == []


def test_demo_stores_open_every_day_and_keep_the_coming_public_holidays():
    Command()._stores(today=date(2026, 12, 1))

    for store in Store.objects.all():
        assert sorted(set(store.opening_hours.values_list("weekday", flat=True))) == list(range(7)), store.code
    central = Store.objects.get(code="central")
    assert list(central.opening_hours.filter(weekday=6).values_list("opens_at", "closes_at")) == [(time(11), time(19))]
    assert list(central.hours_exceptions.order_by("date").values_list("date", "is_closed", "note")) == [
        (date(2026, 12, 25), False, "Christmas Day"),
        (date(2027, 2, 6), True, "Lunar New Year's Day"),
    ]


def test_seed_records_purchases_points_and_a_few_redemptions():
    seed("--members", "60")

    assert PointsEntry.objects.filter(kind="accrual").count() > 60
    assert PointsEntry.objects.filter(kind="redemption").exists()
    assert set(Purchase.objects.values_list("payment_method", flat=True)) >= {"alipay_hk", "octopus", "card"}
    entry = PointsEntry.objects.filter(kind="accrual").select_related("purchase").first()
    assert entry.idempotency_key == f"purchase:{entry.purchase_id}:earn"
    assert Member.objects.filter(phone__startswith="+86").exists()
    assert points_ledger_drift() == []


def test_some_demo_points_expire_within_the_coming_month_and_none_before_now():
    seed("--members", "40")

    now = timezone.now()
    lots = PointsLot.objects.filter(remaining__gt=0, expires_at__isnull=False)
    assert lots.filter(expires_at__lte=now + timedelta(days=32)).exists()  # the reminders have something to say
    assert not lots.filter(expires_at__lte=now).exists()


def test_the_history_earns_no_post_payment_coupons_the_rule_starts_with_the_demo():
    seed("--members", "40")

    rule = PostPaymentRule.objects.get()
    assert rule.starts_at > Purchase.objects.latest("purchased_at").purchased_at
    assert not Coupon.objects.filter(source=Coupon.Source.POST_PAYMENT).exists()


def test_more_members_top_up_without_touching_the_first_ones():
    seed("--members", "20")
    before = dict(Member.objects.values_list("phone", "member_number"))

    seed("--members", "30")

    after = dict(Member.objects.values_list("phone", "member_number"))
    assert len(after) == 30
    assert {phone: after[phone] for phone in before} == before


def test_the_plan_is_deterministic_for_a_seed():
    command = Command()

    def signature(seed_value):
        plans = command._plan(seed=seed_value, count=25, anchor=ANCHOR)
        return [
            (
                plan.fields.get("phone"),
                plan.fields.get("name"),
                [(p.external_id, p.gross, p.store_code) for p in plan.purchases],
            )
            for plan in plans
        ]

    assert signature(7) == signature(7)
    assert signature(7) != signature(8)


def test_printed_credentials_work():
    output = seed("--members", "10", "--password", "s3cret-demo-pass")

    assert "http://127.0.0.1:8000/console/" in output
    assert "http://127.0.0.1:8000/api/docs/" in output
    admin = User.objects.get(username="admin")
    assert admin.is_superuser
    assert admin.check_password("s3cret-demo-pass")
    clerk = User.objects.get(username="clerk")
    assert clerk.groups.filter(name=Role.CLERK).exists()
    assert clerk.store == Store.objects.get(code="cwb")
    token = line_after(output, "Authorization: Bearer")
    pos_key = line_after(output, "Authorization: Api-Key")
    now = datetime.now(tz=ZoneInfo("UTC"))
    assert member_token_authenticate(raw=token, now=now) is not None
    assert store_api_key_authenticate(raw=pos_key, now=now) is not None


def test_an_existing_admin_password_is_kept_unless_asked():
    seed("--members", "5", "--password", "first-pass-123")

    output = seed("--members", "5", "--password", "second-pass-456")

    assert User.objects.get(username="admin").check_password("first-pass-123")
    assert "password unchanged" in output
    seed("--members", "5", "--password", "second-pass-456", "--reset-passwords")
    assert User.objects.get(username="admin").check_password("second-pass-456")


def test_a_second_run_revokes_the_previous_demo_key_and_token():
    first = seed("--members", "5")

    seed("--members", "5")

    now = datetime.now(tz=ZoneInfo("UTC"))
    assert member_token_authenticate(raw=line_after(first, "Authorization: Bearer"), now=now) is None
    assert store_api_key_authenticate(raw=line_after(first, "Authorization: Api-Key"), now=now) is None


def _tier_at(history, *, member_id, at, first_tier_id):
    """The member's tier when a purchase dated `at` was checked out: the last move reviewed before it."""
    moves = [row.new_tier_id for row in history[member_id] if row.created_at < at]
    return moves[-1] if moves else first_tier_id


def test_every_demo_purchase_is_a_checkout_earning_by_the_program_rules():
    seed("--members", "60")

    settings = checkout_settings_get()
    policy = settings.policy
    tiers = {tier.pk: tier for tier in Tier.objects.all()}
    first_tier_id = min(tiers.values(), key=lambda tier: tier.rank).pk
    history = defaultdict(list)
    for row in TierHistory.objects.order_by("created_at", "pk"):
        history[row.member_id].append(row)
    earned = {entry.purchase_id: entry for entry in PointsEntry.objects.filter(kind="accrual").select_related("lot")}
    purchases = list(
        Purchase.objects.select_related("checkout", "member").prefetch_related("items").order_by("member_id", "pk")
    )
    assert EarningRule.objects.count() == 10  # the demo program, configured before the purchases
    assert PurchaseCheckout.objects.count() == len(purchases) > 60
    seen = set()
    for purchase in purchases:
        member = purchase.member
        tier = tiers[_tier_at(history, member_id=member.pk, at=purchase.purchased_at, first_tier_id=first_tier_id)]
        items = tuple(
            CartItem(sku=item.sku, category=item.category, quantity=item.quantity, amount=item.amount)
            for item in purchase.items.all()
        )
        expected = earn_points(
            cart=CartFacts(
                amount=purchase.paid_amount,
                store_id=purchase.store_id,
                channel=purchase.channel,
                purchased_at=purchase.purchased_at,
                items=() if purchase.channel == "mini_program" else items,
                is_first_purchase=member.pk not in seen,
            ),
            member=MemberFacts(
                tier_id=tier.pk,
                tier_name=f"{tier.code} {tier.name}",
                tier_multiplier=tier.earn_multiplier,
                birthday=member.birthday,
                tier_birthday_multiplier=tier.birthday_multiplier,
            ),
            rules=settings.rules,
            stacking=policy.multiplier_stacking,
            item_bonus_cap=policy.item_bonus_cap,
            max_total=policy.max_points_per_purchase,
        ).total
        seen.add(member.pk)
        assert purchase.checkout.points_earned == expected, purchase.external_id
        entry = earned.get(purchase.pk)
        if not expected:
            assert entry is None, purchase.external_id
            continue
        assert (entry.delta, entry.idempotency_key) == (expected, f"purchase:{purchase.pk}:earn")
        assert entry.lot.expires_at == policy.expires_at_for(earned_at=purchase.purchased_at)
    assert not PointsEntry.objects.filter(idempotency_key__startswith="demo:purchase:").exists()


def test_demo_tiers_are_what_the_members_purchases_reach():
    seed("--members", "60")

    ladder = list(Tier.objects.order_by("rank"))
    spend = defaultdict(int)
    for member_id, paid in Purchase.objects.values_list("member_id", "paid_amount"):
        spend[member_id] += paid
    tiers = dict(Member.objects.filter(status=Member.Status.ACTIVE).values_list("pk", "tier__code"))
    # every purchase is within a year of the member's last one: the review after it counted them all
    expected = {
        member_id: [tier.code for tier in ladder if tier.min_score_to_reach <= spend[member_id]][-1]
        for member_id in tiers
    }
    assert tiers == expected
    assert {"V1", "V2"} <= set(tiers.values())
    assert not Member.objects.filter(status=Member.Status.VISITOR, tier__isnull=False).exists()
