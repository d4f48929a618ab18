"""A POS purchase refuses an absurd purchased_at (a wrong till clock), but a replay still gets its first answer."""

from datetime import timedelta

import pytest

pytestmark = pytest.mark.django_db


def sale(member, purchased_at, external_id="T-1"):
    return {
        "external_id": external_id, "payment_method": "card", "gross_amount": "100.00",
        "member_number": member.member_number, "purchased_at": purchased_at.isoformat(),
    }  # fmt: skip


@pytest.mark.parametrize("offset", [timedelta(days=-8), timedelta(minutes=10), timedelta(days=400)])
def test_a_purchase_time_far_from_now_is_refused_and_nothing_is_written(offset, store, member, base_rule,
                                                                        pos_client_for, now):  # fmt: skip
    from members.models import Purchase

    response = pos_client_for(store).post("/api/v1/pos/purchases", sale(member, now + offset), format="json")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "purchased_at_out_of_range"
    assert "purchased_at" in response.json()["error"]["fields"]
    assert not Purchase.objects.exists()


@pytest.mark.parametrize("offset", [timedelta(days=-6), timedelta(minutes=-1), timedelta(minutes=2)])
def test_a_purchase_time_within_the_window_is_accepted(offset, store, member, base_rule, pos_client_for, now):
    response = pos_client_for(store).post("/api/v1/pos/purchases", sale(member, now + offset), format="json")

    assert response.status_code == 201


def test_the_service_accepts_any_time_without_a_window(store, member, base_rule, now):
    from decimal import Decimal

    from points.cart import Cart, CheckoutContext
    from points.services.checkout import purchase_checkout

    result = purchase_checkout(
        cart=Cart(external_id="old", gross_amount=Decimal("10.00"), payment_method="card",
                  purchased_at=now - timedelta(days=30)),
        context=CheckoutContext(channel="pos", store_id=store.pk, member_id=member.pk, now=now),
    )  # fmt: skip

    assert result.is_replay is False
