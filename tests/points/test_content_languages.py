"""Rewards, draws and their prizes, auctions and earning rules in English, Traditional and Simplified Chinese: the
API answers in the request's language with the merchant's default language as the fallback, even for the earning
rules each process keeps in memory; the console edits the languages side by side."""

from decimal import Decimal

import pytest

from points.models import EarningRule, Reward
from tests.console_helpers import form_data
from tests.factories import AuctionFactory, DrawPrizeFactory, LuckyDrawFactory, RewardFactory, UserFactory

pytestmark = pytest.mark.django_db

EMPTY_INLINE = {"TOTAL_FORMS": "0", "INITIAL_FORMS": "0", "MIN_NUM_FORMS": "0", "MAX_NUM_FORMS": "1000"}


@pytest.fixture
def member_api(member, member_client):
    return member_client(member)


@pytest.fixture
def console(client):
    client.force_login(UserFactory(is_superuser=True))
    return client


@pytest.mark.parametrize(
    ("language", "name", "description"),
    [
        ("en", "Tote bag", "Canvas tote."),
        ("zh-hant", "帆布袋", "帆布手提袋。"),
        ("zh-hans", "帆布袋", "Canvas tote."),  # no Simplified Chinese description: the default language's
    ],
)
def test_the_mall_answers_in_the_request_language(member_api, policy, language, name, description):
    RewardFactory(
        name_en="Tote bag", name_zh_hant="帆布袋", name_zh_hans="帆布袋", description_en="Canvas tote.",
        description_zh_hant="帆布手提袋。",
    )  # fmt: skip

    (reward,) = member_api.get("/api/v1/mall/rewards", HTTP_ACCEPT_LANGUAGE=language).json()

    assert (reward["name"], reward["description"]) == (name, description)


def test_draws_and_their_prizes_answer_in_the_request_language(member_api):
    draw = LuckyDrawFactory(name_en="Weekly draw", name_zh_hans="每周抽奖", description_en="Spin weekly.")
    DrawPrizeFactory(draw=draw, name_en="500 points", name_zh_hans="500积分")

    (listed,) = member_api.get("/api/v1/draws", HTTP_ACCEPT_LANGUAGE="zh-hans").json()

    assert (listed["name"], listed["description"]) == ("每周抽奖", "Spin weekly.")
    assert [prize["name"] for prize in listed["prizes"]] == ["500积分"]


def test_auctions_answer_in_the_request_language(member_api):
    AuctionFactory(item_name_en="Gift box", item_name_zh_hant="禮盒", description_en="Numbered.")

    (auction,) = member_api.get("/api/v1/auctions", HTTP_ACCEPT_LANGUAGE="zh-hant").json()

    assert (auction["item_name"], auction["description"]) == ("禮盒", "Numbered.")


def test_the_points_breakdown_names_each_rule_in_the_request_language(store, member, policy, pos_client_for):
    rule = EarningRule.objects.create(
        name_en="HK$100 = 10 points", name_zh_hant="每HK$100賺10分", kind=EarningRule.Kind.BASE_RATE, priority=10,
        amount_per_unit=Decimal(100), points_per_unit=10,
    )  # fmt: skip
    till = pos_client_for(store)
    body = {"gross_amount": "1000.00", "member_number": member.member_number}

    # the rules are kept per process after the first read: each answer still names them in its own language
    names = [
        till.post("/api/v1/pos/purchases/preview", body, format="json", HTTP_ACCEPT_LANGUAGE=language).json()[
            "breakdown"
        ]["rules"][0]["name"]
        for language in ("zh-hant", "en", "zh-hans")
    ]

    assert names == ["每HK$100賺10分", "HK$100 = 10 points", "HK$100 = 10 points"]
    assert EarningRule.objects.get(pk=rule.pk).name_zh_hans is None  # nothing typed: the default language is read


def test_the_reward_page_edits_the_languages_side_by_side(console):
    reward = RewardFactory(name_en="Tote bag")
    url = f"/console/points/reward/{reward.pk}/change/"
    page = console.get(url)
    data = form_data(page.context["adminform"].form)
    data.update(name_zh_hant="帆布袋", name_zh_hans="帆布袋", description_zh_hans="帆布手提袋。")
    data.update({f"early_access-{key}": value for key, value in EMPTY_INLINE.items()})

    response = console.post(url, data)

    rows = [tuple(line.fields) for fieldset in page.context["adminform"] for line in fieldset]
    assert ("name_en", "name_zh_hant", "name_zh_hans") in rows
    assert ("description_en", "description_zh_hant", "description_zh_hans") in rows
    assert response.status_code == 302, response.context["adminform"].form.errors
    reward = Reward.objects.get(pk=reward.pk)
    assert (reward.name_en, reward.name_zh_hant, reward.description_zh_hans) == ("Tote bag", "帆布袋", "帆布手提袋。")


def test_the_ledger_names_the_rules_of_a_past_purchase_in_the_readers_language(
    store, member, member_api, policy, pos_client_for
):
    EarningRule.objects.create(
        name_en="HK$100 = 10 points", name_zh_hant="每HK$100賺10分", kind=EarningRule.Kind.BASE_RATE, priority=10,
        amount_per_unit=Decimal(100), points_per_unit=10,
    )  # fmt: skip
    sale = {"external_id": "S-1", "gross_amount": "1000.00", "payment_method": "card"}
    recorded = pos_client_for(store).post(
        "/api/v1/pos/purchases", {**sale, "member_number": member.member_number}, format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )  # fmt: skip

    (entry,) = member_api.get("/api/v1/me/points/entries", HTTP_ACCEPT_LANGUAGE="zh-hant").json()["results"]

    assert recorded.json()["breakdown"]["rules"][0]["name"] == "HK$100 = 10 points"  # the till read English
    assert [step["name"] for step in entry["breakdown"]["rules"]] == ["每HK$100賺10分"]
