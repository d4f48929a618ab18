"""Merchant content in English, Traditional and Simplified Chinese: the API answers in the request's language and
falls back to the merchant's default language; the console edits the languages side by side; a past version keeps
them all; a member is told a tier's name in their own language."""

import pytest
from django.utils import translation

from members.models import Member, Notification, Tier
from members.services.tiers import tier_changes_announce
from points.models import TierMonthlyGift
from tests.console_helpers import form_data
from tests.factories import (
    MemberFactory,
    MembershipPlanFactory,
    StoreFactory,
    TierFactory,
    TopUpOfferFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_superuser=True))
    return client


@pytest.fixture
def gold():
    tier = TierFactory(
        code="V2",
        rank=2,
        name_en="Gold",
        name_zh_hant="金卡",
        name_zh_hans="",  # not typed: Simplified Chinese readers get the default language
        monthly_gift_description_en="A sheet mask every month",
        monthly_gift_description_zh_hant="每月一片面膜",
        monthly_gift_description_zh_hans="每月一片面膜",
    )
    TierMonthlyGift.objects.create(tier=tier, points=100)  # the gift the description tells of
    return tier


# -- the API --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("language", "name", "address"),
    [
        ("en", "Central", "30 Queen's Road Central"),
        ("zh-hant", "中環", "皇后大道中30號"),
        ("zh-hans", "Central", "30 Queen's Road Central"),  # nothing typed in Simplified Chinese: the default
        ("fr", "Central", "30 Queen's Road Central"),  # a language the program does not keep: the default
    ],
)
def test_the_store_list_answers_in_the_request_language_or_the_default(api_client, language, name, address):
    StoreFactory(
        code="central", name_en="Central", name_zh_hant="中環", address_en="30 Queen's Road Central",
        address_zh_hant="皇后大道中30號",
    )  # fmt: skip

    stores = api_client.get("/api/v1/stores", HTTP_ACCEPT_LANGUAGE=language).json()

    assert [(store["name"], store["address"]) for store in stores] == [(name, address)]


def test_the_member_tier_names_the_tier_and_its_gift_in_the_request_language(member_client, gold):
    client = member_client(MemberFactory(tier=gold))

    hant = client.get("/api/v1/me/tier", HTTP_ACCEPT_LANGUAGE="zh-hant").json()
    hans = client.get("/api/v1/me/tier", HTTP_ACCEPT_LANGUAGE="zh-hans").json()

    assert (hant["tier"]["name"], hant["benefits"]["monthly_gift"]) == ("金卡", "每月一片面膜")
    assert (hans["tier"]["name"], hans["benefits"]["monthly_gift"]) == ("Gold", "每月一片面膜")


def test_plans_and_top_up_offers_answer_in_the_request_language(member_client, gold):
    MembershipPlanFactory(tier=gold, name_en="Gold Pass", name_zh_hans="金卡通行证", description_en="A year of Gold.")
    TopUpOfferFactory(name_en="Top up HK$500", name_zh_hans="充值HK$500")

    client = member_client(MemberFactory())

    plans = client.get("/api/v1/plans", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    offers = client.get("/api/v1/stored-value/offers", HTTP_ACCEPT_LANGUAGE="zh-hans").json()

    plan, offer = plans[0], offers[0]
    assert (plan["name"], plan["description"], plan["tier"]["name"]) == ("金卡通行证", "A year of Gold.", "Gold")
    assert offer["name"] == "充值HK$500"


# -- notifications --------------------------------------------------------------------------------------------------
def test_a_tier_change_is_told_in_each_members_language(gold, now):
    english = MemberFactory(locale=Member.Locale.EN)
    chinese = MemberFactory(locale=Member.Locale.ZH_HANT)

    with translation.override("zh-hans"):  # whatever language the review runs in
        tier_changes_announce(changes=[(english.pk, None, gold.pk, "review"), (chinese.pk, None, gold.pk, "review")],
                              now=now)  # fmt: skip

    notes = {note.member_id: note for note in Notification.objects.all()}
    assert (notes[english.pk].params, notes[english.pk].body) == ({"tier": "Gold"}, "You are now a Gold member.")
    assert notes[chinese.pk].params == {"tier": "金卡"}
    assert "金卡" in notes[chinese.pk].body


# -- the console ----------------------------------------------------------------------------------------------------
def test_the_tier_page_edits_the_three_languages_side_by_side(admin_client, gold):
    url = f"/console/members/tier/{gold.pk}/change/"

    page = admin_client.get(url)
    data = form_data(page.context["adminform"].form)
    data.update(name_en="Gold", name_zh_hant="黃金", name_zh_hans="黄金", monthly_gift_description_zh_hans="面膜")
    response = admin_client.post(url, data)

    rows = [tuple(line.fields) for fieldset in page.context["adminform"] for line in fieldset]
    assert ("name_en", "name_zh_hant", "name_zh_hans") in rows
    assert response.status_code == 302
    gold.refresh_from_db()
    assert (gold.name_en, gold.name_zh_hant, gold.name_zh_hans) == ("Gold", "黃金", "黄金")
    assert gold.monthly_gift_description_zh_hans == "面膜"


def test_the_default_language_is_required_and_the_others_are_not(admin_client, gold):
    url = f"/console/members/tier/{gold.pk}/change/"
    data = form_data(admin_client.get(url).context["adminform"].form)
    data.update(name_en="", name_zh_hant="金卡", name_zh_hans="")

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["name_en"]
    assert Tier.objects.get(pk=gold.pk).name_en == "Gold"


def test_reverting_a_tier_brings_back_every_language(admin_client, gold):
    url = f"/console/members/tier/{gold.pk}/change/"
    data = form_data(admin_client.get(url).context["adminform"].form)
    admin_client.post(url, {**data, "name_en": "Golden", "name_zh_hant": "黃金", "name_zh_hans": "黄金"})
    first = gold.history.order_by("history_id").first()
    revert_url = f"/console/members/tier/{gold.pk}/history/{first.history_id}/"

    past = form_data(admin_client.get(revert_url).context["adminform"].form)
    response = admin_client.post(revert_url, past)

    assert response.status_code == 302
    gold.refresh_from_db()
    assert (gold.name_en, gold.name_zh_hant, gold.name_zh_hans or "") == ("Gold", "金卡", "")
