"""The points mall in the console: rewards with image, stock and early access; partner codes by CSV; reward orders
scoped to the staff member's pickup store, handed over with the pickup code and cancelled through the services."""

import io
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from members.models import Role
from members.services.ledger import points_credit
from points.models import Reward, RewardOrder
from points.services.mall import reward_redeem
from tests.factories import MemberFactory, RewardFactory, StoreFactory, TierFactory, UserFactory

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:points_reward_add")
ORDERS_URL = reverse("admin:points_rewardorder_changelist")
FULFIL_URL = reverse("admin:points_rewardorder_fulfil")


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def png(size=(900, 600)) -> bytes:
    data = io.BytesIO()
    Image.new("RGB", size, "green").save(data, format="PNG")
    return data.getvalue()


def reward_form(**overrides):
    data = {
        "name_en": "Tote bag",
        "description_en": "",
        "kind": "physical",
        "is_active": "on",
        "sort_order": "0",
        "points_price": "300",
        "cash_price": "0",
        "stock_total": "20",
        "per_member_limit": "1",
        "early_access-TOTAL_FORMS": "0",
        "early_access-INITIAL_FORMS": "0",
        "early_access-MIN_NUM_FORMS": "0",
        "early_access-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


@pytest.fixture
def merchant_admin(client):
    user = UserFactory(role=Role.MERCHANT_ADMIN)
    client.force_login(user)
    return user


# -- rewards --------------------------------------------------------------------------------------------------------
def test_a_merchant_admin_creates_a_reward_with_an_image_and_gets_a_thumbnail(client, merchant_admin):
    response = client.post(ADD_URL, reward_form(image=SimpleUploadedFile("tote.png", png())))

    assert response.status_code == 302
    reward = Reward.objects.get()
    assert (reward.stock_total, reward.stock_remaining) == (20, 20)
    assert reward.thumbnail.name == f"rewards/thumbnails/reward-{reward.pk}.webp"
    with Image.open(reward.thumbnail.path) as thumbnail:
        assert thumbnail.size == (400, 267)
    assert client.get(reverse("admin:points_reward_changelist")).status_code == 200


def test_a_file_that_is_not_an_image_is_shown_on_the_form_and_nothing_is_saved(client, merchant_admin):
    response = client.post(ADD_URL, reward_form(image=SimpleUploadedFile("tote.png", b"not an image")))

    assert response.status_code == 200
    assert "image" in response.context["adminform"].form.errors
    assert Reward.objects.count() == 0


def test_a_coupon_reward_without_its_offer_is_shown_on_the_form(client, merchant_admin):
    response = client.post(ADD_URL, reward_form(kind="coupon"))

    assert response.context["adminform"].form.errors == {
        "coupon_template": ["Choose the coupon offer this reward gives."]
    }


def test_a_partner_voucher_gets_its_stock_from_codes_not_from_the_form(client, merchant_admin):
    response = client.post(ADD_URL, reward_form(kind="partner_voucher", stock_total="5"))

    assert "stock_total" in response.context["adminform"].form.errors
    assert Reward.objects.count() == 0


def test_stock_is_added_on_the_change_form_through_the_service(client, merchant_admin):
    reward = RewardFactory(name="Tote bag", points_price=300, stock_total=20)

    response = client.post(reverse("admin:points_reward_change", args=[reward.pk]), reward_form(add_stock="5"))

    assert response.status_code == 302
    reward.refresh_from_db()
    assert (reward.stock_total, reward.stock_remaining) == (25, 25)


def test_early_access_must_open_before_the_reward_opens(client, merchant_admin, now):
    tier = TierFactory(code="gold", rank=3)
    starts = now + timedelta(days=2)
    data = reward_form(
        **{
            "starts_at_0": starts.strftime("%Y-%m-%d"),
            "starts_at_1": starts.strftime("%H:%M:%S"),
            "early_access-TOTAL_FORMS": "1",
            "early_access-0-tier": str(tier.pk),
            "early_access-0-starts_at_0": (starts + timedelta(days=1)).strftime("%Y-%m-%d"),
            "early_access-0-starts_at_1": "10:00:00",
        }
    )

    response = client.post(ADD_URL, data)

    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.errors[0] == {
        "starts_at": ["Early access must open before the reward opens to everyone."]
    }
    assert Reward.objects.count() == 0


def test_partner_codes_are_uploaded_and_bad_rows_listed_by_row_and_column(client, merchant_admin):
    reward = RewardFactory(kind="partner_voucher", stock_total=0)
    url = reverse("admin:points_reward_partner_codes", args=[reward.pk])
    upload = SimpleUploadedFile("codes.csv", b"code,valid_until\nAAA-1,\nBBB-2,tomorrow\n")

    response = client.post(url, {"file": upload, "encoding": "auto"})

    assert response.status_code == 200
    assert [(error["row"], error["column"]) for error in response.context["row_errors"]] == [(3, "valid_until")]
    assert messages_of(response) == ["1 code added to the pool and to the stock."]
    reward.refresh_from_db()
    assert reward.stock_remaining == 1


# -- orders -----------------------------------------------------------------------------------------------------------
@pytest.fixture
def central():
    return StoreFactory(code="central")


@pytest.fixture
def order(central, now):
    member = MemberFactory()
    points_credit(member_id=member.pk, points=500, idempotency_key="seed", now=now)
    reward = RewardFactory(points_price=200)
    return reward_redeem(
        member_id=member.pk, reward_id=reward.pk, idempotency_key="k", pickup_store_id=central.pk, now=now
    ).order


@pytest.fixture
def clerk(client, central):
    user = UserFactory(role=Role.CLERK, store=central)
    client.force_login(user)
    return user


def test_a_clerk_sees_the_orders_of_their_store_only(client, clerk, order, now):
    elsewhere = StoreFactory(code="tst")
    member = MemberFactory()
    points_credit(member_id=member.pk, points=500, idempotency_key="seed2", now=now)
    reward_redeem(member_id=member.pk, reward_id=RewardFactory().pk, idempotency_key="k", pickup_store_id=elsewhere.pk,
                  now=now)  # fmt: skip

    response = client.get(ORDERS_URL)

    assert [row.pk for row in response.context["cl"].result_list] == [order.pk]


def test_an_order_is_found_by_its_pickup_code_typed_loosely(client, clerk, order):
    typed = f"{order.pickup_code[:4].lower()}-{order.pickup_code[4:]}"

    response = client.get(ORDERS_URL, {"q": typed})

    assert [row.pk for row in response.context["cl"].result_list] == [order.pk]


def test_the_pickup_code_is_never_shown_to_staff(client, clerk, order):
    listing = client.get(ORDERS_URL)
    detail = client.get(reverse("admin:points_rewardorder_change", args=[order.pk]))

    assert listing.status_code == detail.status_code == 200
    assert order.pickup_code not in listing.content.decode()
    assert order.pickup_code not in detail.content.decode()


def test_a_clerk_hands_over_a_pickup_with_its_code(client, clerk, order):
    response = client.post(FULFIL_URL, {"pickup_code": order.pickup_code})

    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.fulfilled_by) == ("fulfilled", clerk)


def test_the_mark_picked_up_action_asks_for_the_chosen_orders_code(client, clerk, order):
    response = client.post(ORDERS_URL, {"action": "mark_fulfilled", "_selected_action": [order.pk]})
    url = reverse("admin:points_rewardorder_fulfil_order", args=[order.pk])
    assert response.headers["Location"] == url

    wrong = client.post(url, {"pickup_code": "ZZZZ2222"})

    assert wrong.context["form"].errors == {"pickup_code": ["No order awaiting pickup has this pickup code."]}
    order.refresh_from_db()
    assert order.status == "awaiting_pickup"


def test_a_clerk_of_another_store_cannot_hand_over_the_pickup(client, order):
    client.force_login(UserFactory(role=Role.CLERK, store=StoreFactory(code="tst")))

    response = client.post(FULFIL_URL, {"pickup_code": order.pickup_code})

    assert response.context["form"].errors == {"pickup_code": ["This order is picked up at another store."]}
    assert client.get(reverse("admin:points_rewardorder_fulfil_order", args=[order.pk])).status_code == 404


def test_a_clerk_may_not_cancel_orders(client, clerk, order):
    assert client.get(reverse("admin:points_rewardorder_cancel", args=[order.pk])).status_code == 403


def test_a_store_manager_cancels_with_a_reason_and_the_points_come_back(client, central, order):
    client.force_login(UserFactory(role=Role.STORE_MANAGER, store=central))
    url = reverse("admin:points_rewardorder_cancel", args=[order.pk])

    response = client.post(url, {"reason": "out of colour"})

    assert response.status_code == 302
    order.refresh_from_db()
    order.member.refresh_from_db()
    assert (order.status, order.cancel_reason, order.member.points_balance) == ("cancelled", "out of colour", 500)
    again = client.post(url, {"reason": "again"})
    assert again.context["form"].non_field_errors() == ["This order can no longer be cancelled."]


def test_orders_are_read_only_in_the_console(client, merchant_admin, order):
    change = client.get(reverse("admin:points_rewardorder_change", args=[order.pk]))

    assert change.status_code == 200
    assert not change.context["has_change_permission"]
    assert client.get(reverse("admin:points_rewardorder_add")).status_code == 403
    assert client.post(reverse("admin:points_rewardorder_delete", args=[order.pk]), {"post": "yes"}).status_code == 403
    assert RewardOrder.objects.count() == 1


def test_a_clerk_sees_the_hand_over_link_but_may_not_upload_partner_codes(client, clerk):
    reward = RewardFactory(kind="partner_voucher", stock_total=0)

    assert FULFIL_URL in client.get(ORDERS_URL).content.decode()
    assert client.get(reverse("admin:points_reward_partner_codes", args=[reward.pk])).status_code == 403


def test_the_change_page_shows_the_stock_and_the_partner_pool(client, merchant_admin, now):
    reward = RewardFactory(kind="partner_voucher", stock_total=0)
    client.post(
        reverse("admin:points_reward_partner_codes", args=[reward.pk]),
        {"file": SimpleUploadedFile("codes.csv", b"AAA-1\nBBB-2\n"), "encoding": "auto"},
    )

    page = client.get(reverse("admin:points_reward_change", args=[reward.pk])).content.decode()

    assert "2 codes, 2 not given out." in page
    assert reverse("admin:points_reward_partner_codes", args=[reward.pk]) in page
