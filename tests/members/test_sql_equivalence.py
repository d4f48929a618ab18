"""On PostgreSQL, each statement of members/sql.py writes exactly the rows of its ORM reference."""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from infra.bulk_sql import orm_reference
from members import sql
from members.models import Member, MemberPlanSubscription, PointsEntry, Purchase, PurchaseItem, TierHistory, TierPolicy
from members.selectors import tiers as tier_selectors
from members.services import purchases
from members.services import tiers as tiers_service
from tests.factories import MemberFactory, MembershipPlanFactory, PurchaseFactory, StoreFactory, TierFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

ITEMS = [
    {"sku": "SHOE-1", "name": "Runner", "category": "shoes", "quantity": 2, "unit_price": "120.50"},
    {"sku": "SOCK-9", "category": "socks", "unit_price": "19.00"},
]


def written(member, external_id):
    purchase = Purchase.objects.get(external_id=external_id)
    own = ("_state", "id", "external_id", "member_id", "created_at")  # what differs between two sales by design
    row = {name: value for name, value in vars(purchase).items() if name not in own}
    items = list(
        PurchaseItem.objects.filter(purchase=purchase)
        .order_by("pk")
        .values("sku", "name", "category", "quantity", "unit_price", "amount")
    )
    member = Member.objects.get(pk=member.pk)
    stats = (member.purchase_count, member.total_spend, member.first_purchase_at, member.last_purchase_at)
    return row, items, stats


@pytest.mark.parametrize("items", [ITEMS, []], ids=["with items", "without items"])
@pytest.mark.parametrize("history", [False, True], ids=["first purchase", "earlier purchases"])
def test_the_purchase_statement_writes_the_rows_of_the_orm(monkeypatch, items, history):
    # given two members alike and the same sale for each, one written by the ORM and one by the statement
    store, now = StoreFactory(), timezone.now()
    reference, fast = MemberFactory(), MemberFactory()
    if history:
        for member in (reference, fast):
            Member.objects.filter(pk=member.pk).update(
                purchase_count=3, total_spend=Decimal("500.00"), first_purchase_at=now - timedelta(days=90),
                last_purchase_at=now + timedelta(days=1),
            )  # fmt: skip
    sale = {
        "store_id": store.pk, "channel": "pos", "purchased_at": now, "gross_amount": Decimal("300.00"),
        "discount_amount": Decimal("20.00"), "points_value_amount": Decimal("5.00"), "payment_method": "card",
        "items": items,
    }  # fmt: skip

    # when
    monkeypatch.setattr(purchases.sql, "purchase_insert", purchases._write)
    purchases.purchase_record(purchases.Sale(member_id=reference.pk, external_id="R-1", **sale))
    monkeypatch.setattr(purchases.sql, "purchase_insert", sql.purchase_insert)
    purchases.purchase_record(purchases.Sale(member_id=fast.pk, external_id="F-1", **sale))

    # then
    assert written(fast, "F-1") == written(reference, "R-1")


# -- the tier review ----------------------------------------------------------------------------------------------
REVIEW_AT = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)  # 23:30 in Hong Kong: local days differ from UTC ones


@pytest.fixture
def population():
    """Members in every situation a review meets, with histories inside, outside and on the edges of the window."""
    policy = TierPolicy.load()
    policy.weight_spend, policy.weight_purchases, policy.weight_points = Decimal(1), Decimal(10), Decimal("0.5")
    policy.weight_active_days, policy.weight_stores = Decimal(20), Decimal("33.333")
    policy.save()
    tiers = [
        TierFactory(code="V1", rank=1),
        TierFactory(code="V2", rank=2, min_score_to_reach=1000, min_score_to_keep=800),
        TierFactory(code="V3", rank=3, min_score_to_reach=3000, min_score_to_keep=2500),
        TierFactory(code="V4", rank=4, min_score_to_reach=6000, min_score_to_keep=5000),
    ]
    plan = MembershipPlanFactory(tier=tiers[2])
    rng, stores = random.Random(20261204), [StoreFactory(code=f"eq{index}") for index in range(3)]
    window = timedelta(days=policy.window_days)
    moments = [REVIEW_AT - window + timedelta(seconds=1), REVIEW_AT - window, REVIEW_AT,
               REVIEW_AT - timedelta(hours=16), REVIEW_AT - timedelta(minutes=31)]  # fmt: skip
    members = []
    for index in range(60):
        member = MemberFactory(
            tier=rng.choice([None, *tiers]),
            status=rng.choice([Member.Status.ACTIVE] * 5 + [Member.Status.FROZEN]),
            tier_below_keep_since=rng.choice([None, None, REVIEW_AT - timedelta(days=rng.choice([1, 29, 30, 45]))]),
            tier_override_until=rng.choice([None] * 6 + [REVIEW_AT + timedelta(days=3), REVIEW_AT - timedelta(days=3)]),
        )
        for sale in range(rng.randint(0, 7)):
            moment = rng.choice([*moments, REVIEW_AT - timedelta(hours=rng.randint(1, 24 * 400))])
            gross = Decimal(rng.randint(1, 2000_00)) / 100
            PurchaseFactory(
                member=member, store=rng.choice(stores), purchased_at=moment, gross_amount=gross,
                paid_amount=gross, status=rng.choice(["completed", "completed", "refunded", "partially_refunded"]),
            )  # fmt: skip
            if rng.random() < 0.6:
                PointsEntry.objects.create(
                    member=member, kind=rng.choice(["accrual", "accrual", "addition"]), delta=rng.randint(1, 900),
                    balance_after=0, idempotency_key=f"eq:{member.pk}:{sale}", created_at=moment,
                )  # fmt: skip
        if index % 7 == 0:  # a running plan, or one that ended, or one not started yet
            starts = REVIEW_AT - timedelta(days=rng.choice([10, 400, -5]))
            MemberPlanSubscription.objects.create(
                member=member, plan=plan, tier=tiers[2], starts_at=starts, ends_at=starts + timedelta(days=30),
                provider="test", transaction_id=f"eq-{member.pk}", created_at=starts,
            )  # fmt: skip
        members.append(member)
    return policy, tiers, members


def review_writes(review, **arguments):
    """Run a review in a savepoint rolled back afterwards; return what it returned and every row it wrote."""
    with transaction.atomic():
        moves = review(**arguments)
        members = list(Member.objects.order_by("pk").values_list("pk", "tier_id", "tier_below_keep_since"))
        history = list(
            TierHistory.objects.order_by("member_id").values(
                "member_id", "old_tier_id", "new_tier_id", "score", "reason", "note", "override_until",
                "created_by_id", "created_at",
            )
        )  # fmt: skip
        transaction.set_rollback(True)
    return moves, members, history


@pytest.mark.parametrize("later", [0, 31], ids=["now", "31 days later"])
@pytest.mark.parametrize("scope", ["range", "ids", "instant"])
def test_the_tier_review_statement_writes_the_rows_of_the_orm(population, scope, later):
    # given members in every situation, and a review at a moment where grace periods run or end
    policy, tiers, members = population
    now = REVIEW_AT + timedelta(days=later)
    ids = [member.pk for member in members]
    arguments = {"policy": policy, "tiers": tiers, "now": now, "first_id": min(ids), "last_id": max(ids)}
    if scope == "ids":
        arguments["member_ids"] = ids[::3]
    if scope == "instant":
        arguments.update(first_id=ids[5], last_id=ids[5], instant=True)

    # when each path reviews the same data
    reference = review_writes(tiers_service.tier_review_orm, **arguments)
    fast = review_writes(sql.tier_review_apply, **arguments)

    # then they return and write the same rows, and the review does move members
    assert fast == reference
    if scope != "instant":
        assert len(reference[0]) > 5


def test_the_tier_preview_statement_counts_as_the_orm(population):
    policy, tiers, _members = population
    # unsaved thresholds, as the console previews them
    tiers[1].min_score_to_reach, tiers[1].min_score_to_keep = Decimal(700), Decimal(500)

    fast = tier_selectors.tier_policy_preview(now=REVIEW_AT, policy=policy, tiers=tiers)
    with orm_reference():  # the portable path, on the same data
        reference = tier_selectors.tier_policy_preview(now=REVIEW_AT, policy=policy, tiers=tiers)

    assert [vars(row) for row in fast] == [vars(row) for row in reference]
    assert sum(row.up + row.down for row in reference) > 5
