"""A ledger entry's reason in every language: merchant content (a reward's, draw's, prize's, auction item's or
campaign's name) is kept in every language as it was when the entry was written, the system's own texts are kept as
their msgid, and every reader (the member's API, the console) sees the reason in their own language; a reason
typed by staff comes back as typed."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from campaigns.services.campaigns import campaign_deliver
from members.models import PointsEntry, StoredValueEntry
from members.services.ledger import points_adjust, points_credit
from points.models import TierMonthlyGift
from points.services.auctions import auction_bid_place
from points.services.draws import draw_spin
from points.services.grants import points_grant_job_create
from points.services.mall import reward_order_cancel, reward_redeem
from points.services.tier_gifts import tier_monthly_gifts_grant
from tests.campaigns.campaign_factories import CampaignFactory
from tests.factories import (
    AuctionFactory,
    DrawPrizeFactory,
    LuckyDrawFactory,
    MemberFactory,
    RewardFactory,
    StoreFactory,
    TierFactory,
    UserFactory,
)
from tests.members.import_helpers import csv_bytes, run_import

pytestmark = pytest.mark.django_db

ENTRIES = "/api/v1/me/points/entries"


@pytest.fixture
def member(now):
    member = MemberFactory()
    points_credit(member_id=member.pk, points=5000, idempotency_key=f"seed:{member.pk}", now=now)
    return member


@pytest.fixture
def read_by_member(member_client):
    """The reasons of the member's entries, newest first, as the mini program in `language` reads them."""

    def read(member, language):
        body = member_client(member).get(ENTRIES, HTTP_ACCEPT_LANGUAGE=language).json()
        return [entry["reason"] for entry in body["results"]]

    return read


@pytest.fixture
def staff_page(client):
    """The console's member page as staff whose console is in `language`."""
    client.force_login(UserFactory(is_superuser=True))

    def page(member, language):
        url = reverse("admin:console_member_360", args=[member.pk])
        return client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()

    return page


def eco_bag(**fields):
    return RewardFactory(name="Eco bag", name_zh_hant="環保袋", name_zh_hans="环保袋", **fields)


def redeem_in_english(member, reward, now, **fields):
    with translation.override("en"):  # the language of the request that redeems does not matter
        return reward_redeem(member_id=member.pk, reward_id=reward.pk, idempotency_key="k1", now=now, **fields)


# -- the points mall ----------------------------------------------------------------------------------------------
def test_a_reward_redeemed_in_english_is_read_in_the_members_and_the_staffs_language(
    member, now, read_by_member, staff_page
):
    redeem_in_english(member, eco_bag(), now, pickup_store_id=StoreFactory().pk)

    assert read_by_member(member, "zh-hant")[0] == "環保袋"
    assert read_by_member(member, "en")[0] == "Eco bag"
    assert "环保袋" in staff_page(member, "zh-hans")
    entry = PointsEntry.objects.get(kind="redemption")
    assert (entry.reason, entry.reason_texts) == (
        "Eco bag",
        {"en": "Eco bag", "zh-hant": "環保袋", "zh-hans": "环保袋"},
    )


def test_renaming_the_reward_afterwards_leaves_the_history_as_it_was(member, now, read_by_member):
    reward = eco_bag()
    redeem_in_english(member, reward, now, pickup_store_id=StoreFactory().pk)

    reward.name_en, reward.name_zh_hant = "Canvas bag", "帆布袋"
    reward.save()

    assert read_by_member(member, "zh-hant")[0] == "環保袋"
    assert read_by_member(member, "en")[0] == "Eco bag"


def test_a_language_the_merchant_left_empty_falls_back_to_the_default_language(member, now, read_by_member):
    redeem_in_english(
        member, RewardFactory(name="Eco bag", name_zh_hant="環保袋"), now, pickup_store_id=StoreFactory().pk
    )

    assert read_by_member(member, "zh-hans")[0] == "Eco bag"


def test_an_order_cancelled_without_a_reason_refunds_under_the_rewards_name_as_redeemed(member, now, read_by_member):
    reward = eco_bag()
    order = redeem_in_english(member, reward, now, pickup_store_id=StoreFactory().pk).order
    reward.name_zh_hant = "帆布袋"
    reward.save()

    reward_order_cancel(order_id=order.pk, member_id=member.pk, now=now)

    assert read_by_member(member, "zh-hant")[:2] == ["環保袋", "環保袋"]  # the refund, then the redemption


def test_a_cancellation_reason_typed_by_staff_comes_back_as_typed(member, now, read_by_member):
    store = StoreFactory()
    order = redeem_in_english(member, eco_bag(), now, pickup_store_id=store.pk).order

    reward_order_cancel(order_id=order.pk, cancelled_by=UserFactory(), reason="Damaged in store", now=now)

    assert read_by_member(member, "zh-hant")[0] == "Damaged in store"


def test_a_stored_value_reward_keeps_its_name_in_every_language_too(member, now):
    reward = eco_bag(kind="stored_value", stored_value_amount=Decimal("50.00"))

    redeem_in_english(member, reward, now)

    entry = StoredValueEntry.objects.get()
    with translation.override("zh-hans"):
        assert (entry.reason, entry.reason_shown) == ("Eco bag", "环保袋")


# -- lucky draws, auctions, campaigns, monthly tier gifts ------------------------------------------------------------
def test_a_draws_spin_and_its_prize_are_read_in_the_members_language(member, now, read_by_member):
    draw = LuckyDrawFactory(name="Weekly draw", name_zh_hant="每週抽獎", name_zh_hans="每周抽奖")
    DrawPrizeFactory(draw=draw, name="50 points", name_zh_hant="50 積分", name_zh_hans="50 积分", points=50)

    with translation.override("en"):
        draw_spin(member_id=member.pk, draw_id=draw.pk, idempotency_key="k1", now=now, random_below=lambda total: 0)
    draw.name_zh_hant = "每月抽獎"
    draw.save()

    assert read_by_member(member, "zh-hant")[:2] == ["50 積分", "每週抽獎"]  # the prize, then the spin
    assert read_by_member(member, "zh-hans")[:2] == ["50 积分", "每周抽奖"]


def test_an_auctions_hold_and_release_are_read_in_the_members_language(member, now, read_by_member):
    auction = AuctionFactory(item_name="Gift box", item_name_zh_hant="禮盒", item_name_zh_hans="礼盒")
    rival = MemberFactory()
    points_credit(member_id=rival.pk, points=5000, idempotency_key="seed:rival", now=now)

    with translation.override("en"):
        auction_bid_place(member_id=member.pk, auction_id=auction.pk, points=1000, idempotency_key="a", now=now)
        auction_bid_place(member_id=rival.pk, auction_id=auction.pk, points=1100, idempotency_key="b", now=now)

    assert read_by_member(member, "zh-hant")[:2] == ["禮盒", "禮盒"]  # released when outbid, then held
    assert read_by_member(rival, "zh-hans")[0] == "礼盒"


def test_a_campaigns_bonus_is_read_in_the_members_language(member, now, read_by_member):
    campaign = CampaignFactory(name="Spring treat", name_zh_hant="春日禮遇", name_zh_hans="春日礼遇", points_bonus=10)

    with translation.override("en"):
        campaign_deliver(campaign_id=campaign.pk, member_ids=[member.pk], occasion="run:1", now=now)
    campaign.name_zh_hant = "夏日禮遇"
    campaign.save()

    assert read_by_member(member, "zh-hant")[0] == "春日禮遇"


def test_a_monthly_tier_gift_names_the_tier_in_the_members_language(
    now, read_by_member, django_capture_on_commit_callbacks
):
    gold = TierFactory(code="V3", name="Gold", name_zh_hant="金卡", name_zh_hans="金卡", rank=3)
    member = MemberFactory(tier=gold)
    TierMonthlyGift.objects.create(tier=gold, points=200)

    with django_capture_on_commit_callbacks(execute=True):
        tier_monthly_gifts_grant(now=now)

    month = f"{timezone.localdate(now):%Y-%m}"
    assert read_by_member(member, "en") == [f"Monthly gift {month}: Gold"]
    assert read_by_member(member, "zh-hant") == [f"{month} 每月禮遇：金卡"]


# -- texts typed by staff and the system's own ----------------------------------------------------------------------
def test_a_reason_typed_by_staff_comes_back_as_typed_in_every_language(member, now, read_by_member, staff_page):
    points_adjust(
        member_id=member.pk, points=20, reason="Goodwill after a late delivery", created_by=UserFactory(),
        idempotency_key="goodwill", now=now,
    )  # fmt: skip

    assert read_by_member(member, "zh-hant")[0] == "Goodwill after a late delivery"
    assert "Goodwill after a late delivery" in staff_page(member, "zh-hans")
    assert PointsEntry.objects.get(kind="addition").reason_texts is None


def test_a_bulk_grants_reason_comes_back_as_typed(read_by_member, django_capture_on_commit_callbacks, now):
    member = MemberFactory()
    admin = UserFactory(is_superuser=True)

    with django_capture_on_commit_callbacks(execute=True):
        points_grant_job_create(
            created_by=admin, points=30, reason="Typhoon apology", member_list=member.phone, now=now
        )

    assert read_by_member(member, "zh-hans") == ["Typhoon apology"]


def test_an_imports_opening_balance_is_read_in_each_readers_language(read_by_member, staff_page, now):
    job = run_import(csv_bytes("phone,name,opening_points", "91234567,Ann,300"), now=now)
    entry = PointsEntry.objects.get(kind="opening")

    assert (entry.reason, entry.source, entry.reason_texts) == ("CSV import", f"import:{job.pk}", None)
    assert read_by_member(entry.member, "zh-hant") == ["CSV 匯入"]
    assert "CSV 导入" in staff_page(entry.member, "zh-hans")
