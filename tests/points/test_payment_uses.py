"""One payment pays for one thing: a paid plan, a top-up, a mini-program purchase or a mall order's cash part each
record their payment's one use (members.PaymentUse), whichever app and member try to use it again; a replay of the
same request still answers as the first time; the migrations record the uses of payments recorded before them."""

import importlib
from decimal import Decimal

import pytest
from django.apps import apps

from members.errors import MemberNotActive, PaymentAlreadyUsed
from members.models import MemberPlanSubscription, PaymentUse, Purchase, StoredValueEntry
from members.services.payments import payment_is_used
from members.services.plans import plan_purchase
from members.services.stored_value import stored_value_top_up
from points.models import RewardOrder
from points.services.mall import reward_redeem
from tests.concurrency import run_in_threads
from tests.factories import (
    MemberFactory,
    MembershipPlanFactory,
    RewardFactory,
    TierFactory,
    TopUpOfferFactory,
    checkout_sale,
)

PROVIDER = "wechat_pay_hk"
PAYMENT = "WX-4200"
USES = ("plan", "top_up", "purchase", "mall_order")


@pytest.fixture
def payers(db, store, policy, give_points):
    """One way to pay for each thing, by name: each call uses `transaction_id` for `member`."""
    gold_plan = MembershipPlanFactory(tier=TierFactory(code="V2", rank=2), price=Decimal("388.00"))
    offer = TopUpOfferFactory()
    reward = RewardFactory(points_price=100, cash_price=Decimal("10.00"))

    def plan(member, now, transaction_id=PAYMENT):
        return plan_purchase(
            member_id=member.pk, plan_id=gold_plan.pk, provider=PROVIDER, transaction_id=transaction_id, now=now
        )

    def top_up(member, now, transaction_id=PAYMENT):
        return stored_value_top_up(
            member_id=member.pk, offer_id=offer.pk, provider=PROVIDER, transaction_id=transaction_id, now=now
        )

    def purchase(member, now, transaction_id=PAYMENT):
        # A mini-program sale: its external id is the member's WeChat Pay order.
        return checkout_sale(
            store=store, member=member, now=now, channel="mini_program", external_id=transaction_id,
            payment_method=PROVIDER, gross_amount=Decimal("100.00"),
        )  # fmt: skip

    def mall_order(member, now, transaction_id=PAYMENT):
        give_points(member, 100, key=f"mall-seed-{transaction_id}")
        return reward_redeem(
            member_id=member.pk, reward_id=reward.pk, idempotency_key=f"order-{transaction_id}",
            pickup_store_id=store.pk, payment_provider=PROVIDER, payment_transaction_id=transaction_id, now=now,
        )  # fmt: skip

    return {"plan": plan, "top_up": top_up, "purchase": purchase, "mall_order": mall_order}


def things_paid_for():
    return (
        MemberPlanSubscription.objects.count(),
        StoredValueEntry.objects.filter(kind="top_up").count(),
        Purchase.objects.count(),
        RewardOrder.objects.count(),
    )


@pytest.mark.django_db
@pytest.mark.parametrize(("first", "second"), [(a, b) for a in USES for b in USES if a != b])
@pytest.mark.parametrize("who", ["the same member", "another member"])
def test_a_payment_that_paid_for_one_thing_is_refused_for_another(payers, now, first, second, who):
    # given a payment that paid for one thing
    member = MemberFactory()
    payers[first](member, now)
    paid_for = things_paid_for()
    other = member if who == "the same member" else MemberFactory()

    # when it is used again to pay for another thing
    with pytest.raises(PaymentAlreadyUsed) as refused:
        payers[second](other, now)

    # then it is refused as already used, and nothing more is written
    assert (refused.value.code, refused.value.status) == ("payment_already_used", 409)
    assert things_paid_for() == paid_for
    assert list(PaymentUse.objects.values_list("provider", "transaction_id", "purpose", "member_id")) == [
        (PROVIDER, PAYMENT, first, member.pk)
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("use", ["plan", "top_up", "mall_order"])
def test_a_payment_that_paid_for_a_member_is_refused_for_the_same_thing_for_another_member(payers, now, use):
    member = MemberFactory()
    payers[use](member, now)
    paid_for = things_paid_for()

    with pytest.raises(PaymentAlreadyUsed):
        payers[use](MemberFactory(), now)

    assert things_paid_for() == paid_for
    assert list(PaymentUse.objects.values_list("member_id", flat=True)) == [member.pk]


@pytest.mark.django_db
@pytest.mark.parametrize("use", USES)
def test_the_same_request_again_answers_as_the_first_time_and_records_one_use(payers, now, use):
    member = MemberFactory()
    first = payers[use](member, now)

    replay = payers[use](member, now)

    assert replay.is_replay is True
    assert first.is_replay is False
    assert PaymentUse.objects.filter(provider=PROVIDER, transaction_id=PAYMENT).count() == 1


@pytest.mark.django_db
def test_a_refused_thing_leaves_its_payment_free_for_another_use(payers, now):
    # given a member who is not active yet (a plan needs an active member)
    visitor = MemberFactory(status="visitor")

    # when the payment is refused for a plan, then used for a mall order by an active member
    with pytest.raises(MemberNotActive):
        payers["plan"](visitor, now)
    member = MemberFactory()
    payers["mall_order"](member, now)

    # then the use recorded is the mall order's only
    assert list(PaymentUse.objects.values_list("purpose", "member_id")) == [("mall_order", member.pk)]


@pytest.mark.django_db
def test_payment_is_used_asks_one_table(payers, now, django_assert_num_queries):
    payers["top_up"](MemberFactory(), now)

    with django_assert_num_queries(1):
        used = payment_is_used(provider=PROVIDER, transaction_id=PAYMENT)

    assert used is True
    assert payment_is_used(provider=PROVIDER, transaction_id="WX-other") is False


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_threads_using_one_payment_for_different_things_pay_for_one(payers, now):
    # given 8 members, each about to use the same WeChat Pay order for a plan, a top-up or a mall order
    uses = (["plan", "top_up", "mall_order"] * 3)[:8]
    members = [MemberFactory() for _use in uses]
    calls = [lambda use=use, member=member: payers[use](member, now) for use, member in zip(uses, members, strict=True)]

    # when they all do at once
    results = run_in_threads(calls, workers=8)

    # then exactly one succeeds, the others are told the payment is used, and one thing is paid for
    refused = [result for result in results if isinstance(result, PaymentAlreadyUsed)]
    unexpected = [result for result in results if isinstance(result, Exception) and result not in refused]
    assert (len(results) - len(refused), len(refused), unexpected) == (1, 7, [])
    assert PaymentUse.objects.count() == 1
    assert sum(things_paid_for()) == 1


# -- the migrations' backfill --------------------------------------------------------------------------------------
def _migration(name):
    return importlib.import_module(name)


@pytest.mark.django_db
def test_the_migrations_record_the_uses_of_payments_recorded_before_them(payers, now):
    # given one payment of each kind recorded, as if before PaymentUse existed
    for index, use in enumerate(USES):
        payers[use](MemberFactory(), now, transaction_id=f"WX-{index}")
    PaymentUse.objects.all().delete()
    assert not payment_is_used(provider=PROVIDER, transaction_id="WX-0")

    # when the migrations' data steps run
    members_0011 = _migration("members.migrations.0011_payment_use")
    points_0007 = _migration("points.migrations.0007_mall_payment_uses")
    members_0011.payment_uses_backfill(apps, schema_editor=None)  # neither step uses the schema editor
    points_0007.mall_payment_uses_backfill(apps, schema_editor=None)

    # then each payment is seen as used, for what it paid for
    assert sorted(PaymentUse.objects.values_list("transaction_id", "purpose")) == [
        ("WX-0", "plan"), ("WX-1", "top_up"), ("WX-2", "purchase"), ("WX-3", "mall_order"),
    ]  # fmt: skip
    with pytest.raises(PaymentAlreadyUsed):
        payers["top_up"](MemberFactory(), now, transaction_id="WX-0")
