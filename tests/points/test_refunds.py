"""purchase_refund: pro rata, cumulative, bounded by the purchase, following the refund policy, idempotent."""

from datetime import timedelta
from decimal import Decimal

import pytest

from infra.errors import InvalidInput, NotFound
from members.errors import IdempotencyKeyReused
from members.models import Member, PointsEntry, PointsLot, Purchase
from members.services.ledger import points_debit, points_ledger_drift
from points.errors import RefundExceedsPurchase
from points.models import PointsPolicy, PurchaseRefund
from points.services.checkout import purchase_refund
from points.services.expiry import points_release_pending
from tests.factories import checkout_sale

pytestmark = pytest.mark.django_db


@pytest.fixture
def sell(store, member, policy, base_rule, now):
    """Check out sale S-1 (or `external_id`) of `gross` by the member, at HK$100 = 10 points, paid by card;
    keywords change the cart (points_to_spend=...). Returns the purchase."""

    def run(gross, external_id="S-1", **cart):
        return checkout_sale(
            store=store, member=member, now=now, external_id=external_id, gross_amount=Decimal(gross), **cart
        ).purchase

    return run


@pytest.fixture
def sale(sell, member, give_points):
    """A HK$1000 sale by a member who paid 5000 points (HK$50) and earned 95 points; balance 95."""
    give_points(member, 5000)
    return sell("1000.00", points_to_spend=5000)


@pytest.fixture
def refund(store, now):
    """Refund R-1 (or `refund_id`) of `amount` of sale S-1 at the store."""

    def run(refund_id="R-1", amount="500.00", external_id="S-1", **overrides):
        return purchase_refund(
            store_id=overrides.pop("store_id", store.pk),
            channel="pos",
            purchase_external_id=external_id,
            refund_external_id=refund_id,
            amount=Decimal(amount),
            now=now,
            **overrides,
        )

    return run


def balances(member):
    member.refresh_from_db()
    return member.points_balance, member.points_debt, member.points_pending


def test_a_half_refund_returns_half_the_spent_points_and_takes_back_half_the_earned(sale, refund, member):
    result = refund(amount="500.00")

    record = result.refund
    assert (record.points_returned, record.points_reversed, record.points_value_returned) == (
        2500,
        48,  # 95 / 2 = 47.5, rounded half up
        Decimal("25.00"),
    )
    assert balances(member) == (95 + 2500 - 48, 0, 0)
    sale.refresh_from_db()
    assert sale.status == Purchase.Status.PARTIALLY_REFUNDED
    assert points_ledger_drift() == []


def test_partial_refunds_that_add_up_to_the_whole_undo_exactly_what_the_checkout_did(sale, refund, member):
    refund("R-1", "333.33")
    refund("R-2", "333.33")
    refund("R-3", "333.34")

    totals = [
        sum(PurchaseRefund.objects.values_list(name, flat=True))
        for name in ("points_returned", "points_reversed", "points_value_returned")
    ]
    assert totals == [5000, 95, Decimal("50.00")]
    assert balances(member) == (5000, 0, 0)
    sale.refresh_from_db()
    assert sale.status == Purchase.Status.REFUNDED


def test_a_refund_larger_than_what_is_left_is_refused_without_a_write(sale, refund, member):
    refund("R-1", "600.00")
    before = (PurchaseRefund.objects.count(), PointsEntry.objects.count(), balances(member))

    with pytest.raises(RefundExceedsPurchase) as info:
        refund("R-2", "400.01")

    assert info.value.fields == {"amount": ["At most 400.00 is left to refund."]}
    assert (PurchaseRefund.objects.count(), PointsEntry.objects.count(), balances(member)) == before


def test_a_refund_larger_than_the_purchase_is_refused(sale, refund):
    with pytest.raises(RefundExceedsPurchase):
        refund(amount="1000.01")


@pytest.mark.parametrize("amount", ["0", "-5"])
def test_a_zero_or_negative_refund_is_refused(sale, refund, amount):
    with pytest.raises(InvalidInput):
        refund(amount=amount)


def test_a_refund_of_an_unknown_purchase_is_not_found(sale, refund):
    with pytest.raises(NotFound):
        refund(external_id="S-404")


def test_the_same_refund_again_returns_the_first_result_without_writing(sale, refund, member):
    first = refund()
    before = (PointsEntry.objects.count(), balances(member))

    again = refund()

    assert (again.is_replay, again.refund.pk) == (True, first.refund.pk)
    assert (PointsEntry.objects.count(), balances(member)) == before


def test_the_same_refund_id_with_another_amount_is_refused(sale, refund):
    refund()

    with pytest.raises(IdempotencyKeyReused):
        refund(amount="100.00")


def _spend_everything(member, now):
    member.refresh_from_db()
    points_debit(member_id=member.pk, points=member.points_balance, idempotency_key="spent-all", now=now)


@pytest.mark.parametrize(
    ("policy_name", "expected"),
    [
        # (reversed, forgiven, debt recorded), (balance, debt)
        ("record_debt", ((95, 0, 95), (0, 95))),
        ("reverse_within_balance", ((0, 95, 0), (0, 0))),
        ("reverse_pending_only", ((0, 95, 0), (0, 0))),
    ],
)
def test_earned_points_already_spent_follow_the_refund_policy(sell, refund, member, now, policy_name, expected):
    PointsPolicy.objects.update_or_create(pk=1, defaults={"refund_policy": policy_name})
    sell("950")
    _spend_everything(member, now)

    record = refund(amount="950").refund

    assert (record.points_reversed, record.points_forgiven, record.points_debt_recorded) == expected[0]
    assert balances(member)[:2] == expected[1]
    assert points_ledger_drift() == []


def test_reverse_within_balance_takes_what_the_balance_covers(sell, refund, member, now):
    PointsPolicy.objects.update_or_create(pk=1, defaults={"refund_policy": "reverse_within_balance"})
    sell("1000")
    points_debit(member_id=member.pk, points=70, idempotency_key="spend-70", now=now)

    record = refund(amount="1000").refund

    assert (record.points_reversed, record.points_forgiven) == (30, 70)
    assert balances(member) == (0, 0, 0)


def test_a_debt_is_repaid_first_by_later_earnings(sell, refund, member, now):
    sell("1000")
    _spend_everything(member, now)
    refund(amount="1000")
    assert balances(member) == (0, 100, 0)

    sell("1500", external_id="S-2")

    assert balances(member) == (50, 0, 0)
    assert points_ledger_drift() == []


def test_refunding_a_sale_whose_points_are_still_pending_cancels_them(sell, refund, member, policy, now):
    policy.pending_days = 14
    policy.save()
    sell("1000")

    record = refund(amount="400").refund

    assert (record.points_pending_cancelled, record.points_reversed) == (40, 0)
    assert balances(member) == (0, 0, 60)
    assert points_release_pending(now=now + timedelta(days=14)) == 1
    assert balances(member) == (60, 0, 0)
    assert points_ledger_drift() == []


def test_a_fully_cancelled_pending_lot_never_activates(sell, refund, member, policy, now):
    policy.pending_days = 14
    policy.save()
    sell("1000")
    refund(amount="1000")

    released = points_release_pending(now=now + timedelta(days=14))

    assert released == 0
    assert balances(member) == (0, 0, 0)
    assert PointsLot.objects.get().remaining == 0


def test_returned_points_keep_the_expiry_of_the_lots_they_came_from(sell, refund, member, now):
    from members.services.ledger import points_credit

    expires = now + timedelta(days=10)
    points_credit(member_id=member.pk, points=1000, idempotency_key="old", now=now, expires_at=expires)
    sell("100", points_to_spend=1000)

    refund(amount="100")

    returned = PointsLot.objects.get(entry__kind="refund", entry__delta__gt=0)
    assert (returned.points, returned.expires_at) == (1000, expires)


def test_a_refund_takes_the_refunded_paid_amount_off_the_members_total_spend(sale, refund, member):
    refund(amount="500.00")

    member.refresh_from_db()
    assert member.total_spend == Decimal("475.00")
    assert Member.objects.get(pk=member.pk).purchase_count == 1
