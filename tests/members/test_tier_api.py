"""GET /api/v1/me/tier: tier, benefits, score, the next tier and what is missing, the next review date."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone, translation

from members.models import Member, TierPolicy
from members.selectors.tiers import tier_benefits
from points.models import TierMonthlyGift
from tests.factories import MemberFactory, PurchaseFactory, TierFactory

URL = "/api/v1/me/tier"
pytestmark = pytest.mark.django_db


@pytest.fixture
def tiers():
    return [
        TierFactory(code="V1", name="Silver", rank=1, discount_percent=Decimal("5.00"), monthly_gift_description="Tea"),
        TierFactory(
            code="V2",
            name="Gold",
            rank=2,
            min_score_to_reach=1000,
            min_score_to_keep=800,
            birthday_multiplier=Decimal("3.00"),
        ),  # fmt: skip
    ]


def test_me_tier_shows_benefits_score_and_what_is_missing_for_the_next_tier(member_client, tiers):
    # given a Silver member with HK$760 in the window, and a review 72 h after the last one
    now = timezone.now()
    policy = TierPolicy.load()
    policy.last_evaluated_at = now - timedelta(hours=10)
    policy.save()
    member = MemberFactory(tier=tiers[0])
    TierMonthlyGift.objects.create(tier=tiers[0], points=10)  # the "Tea" Silver's description tells of
    PurchaseFactory(member=member, gross_amount=Decimal("760.00"), purchased_at=now - timedelta(days=3))
    review_on = timezone.localdate(now + timedelta(hours=62)).isoformat()

    # when
    response = member_client(member).get(URL)

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["tier"] == {"code": "V1", "name": "Silver", "rank": 1, "min_score_to_reach": "0.00",
                            "min_score_to_keep": "0.00"}  # fmt: skip
    assert body["benefits"] == {
        "earn_multiplier": "1.00", "discount_percent": "5.00", "discount_applies": "before_coupons",
        "discount_max_amount": None, "discount_excluded_categories": [], "birthday_multiplier": "1.00",
        "monthly_gift": "Tea",
        "summary": [{"benefit": "discount", "text": "5% off every purchase, before coupons."},
                    {"benefit": "monthly_gift", "text": "Every month: Tea"}],
    }  # fmt: skip
    assert (body["score"], body["next_tier"]["code"], body["missing_score"]) == ("760.00", "V2", "240.00")
    assert (body["reached_tier"], body["progress_percent"]) == (None, 76)
    assert body["indicators"] == {"spend": "760.00", "purchases": 1, "points": 0, "active_days": 1, "stores": 1}
    assert body["missing"] == [
        {"indicator": "spend", "amount": "240.00", "by": review_on,
         "message": f"Spend HK$240 more by {review_on} to reach Gold."},
    ]  # fmt: skip
    assert body["message"] == f"Spend HK$240 more by {review_on} to reach Gold."
    assert (body["review_on"], body["grace_until"], body["override_until"]) == (review_on, None, None)


def test_me_tier_before_the_first_review_shows_the_progress_to_the_tier_after_the_one_reached(member_client, tiers):
    # given an imported member with no tier yet (no review has run since) and HK$250 in the window: Silver asks
    # nothing, so the score reaches it already
    now = timezone.now()
    member = MemberFactory(tier=None, join_source=Member.JoinSource.IMPORT)
    PurchaseFactory(member=member, gross_amount=Decimal("250.00"), purchased_at=now - timedelta(days=1))
    review_on = timezone.localdate(now + timedelta(hours=72)).isoformat()

    # when
    body = member_client(member).get(URL).json()

    # then the tier is still none, Silver is reached, and the goal is Gold, a quarter of the way
    assert (body["tier"], body["reached_tier"]["code"], body["next_tier"]["code"]) == (None, "V1", "V2")
    assert (body["score"], body["missing_score"], body["progress_percent"]) == ("250.00", "750.00", 25)
    assert body["message"] == f"Spend HK$750 more by {review_on} to reach Gold."


def test_me_tier_of_a_new_member_with_no_purchase_starts_at_zero_progress(member_client, tiers):
    member = MemberFactory(tier=None)

    body = member_client(member).get(URL).json()

    assert (body["next_tier"]["code"], body["missing_score"], body["progress_percent"]) == ("V2", "1000.00", 0)
    assert body["missing"][0]["indicator"] == "spend"


def test_me_tier_of_a_member_not_reviewed_who_reaches_the_highest_tier_says_so(member_client, tiers):
    now = timezone.now()
    member = MemberFactory(tier=None)
    PurchaseFactory(member=member, gross_amount=Decimal("1200.00"), purchased_at=now - timedelta(days=1))

    body = member_client(member).get(URL).json()

    assert (body["tier"], body["reached_tier"]["code"], body["next_tier"]) == (None, "V2", None)
    assert (body["missing"], body["progress_percent"], body["message"]) == ([], None, "You have reached Gold.")


def test_me_tier_in_the_highest_tier_has_nothing_missing(member_client, tiers):
    member = MemberFactory(tier=tiers[1])

    body = member_client(member).get(URL).json()

    assert (body["next_tier"], body["missing"], body["message"]) == (None, [], "You are in our highest tier.")
    assert body["benefits"]["summary"] == [
        {"benefit": "birthday_multiplier", "text": "Points ×3 in your birthday month."}
    ]


def test_me_tier_lists_only_the_benefits_that_apply_with_the_discounts_terms_in_the_members_language(
    member_client, tiers
):
    # given a tier policy that applies the tier discount after coupons, caps it and leaves gift cards out
    policy = TierPolicy.load()
    policy.discount_applies = TierPolicy.DiscountApplies.AFTER_COUPONS
    policy.discount_max_amount = Decimal("200.00")
    policy.discount_excluded_categories = ["gift card"]
    policy.save()
    tier = TierFactory(code="V3", name="Black", rank=3, min_score_to_reach=5000, min_score_to_keep=4000,
                       discount_percent=Decimal("10.00"), earn_multiplier=Decimal("1.50"))  # fmt: skip
    member = MemberFactory(tier=tier)

    # when the member asks in English, then in Traditional Chinese
    english = member_client(member).get(URL).json()["benefits"]
    chinese = member_client(member).get(URL, HTTP_ACCEPT_LANGUAGE="zh-hant").json()["benefits"]

    # then the discount comes with its order, cap and exclusions; x1 birthday and no gift are not listed
    assert (english["discount_applies"], english["discount_max_amount"], english["discount_excluded_categories"]) == (
        "after_coupons", "200.00", ["gift card"],
    )  # fmt: skip
    assert english["summary"] == [
        {"benefit": "discount",
         "text": "10% off every purchase, after coupons. At most HK$200 off one purchase. Not on: gift card."},
        {"benefit": "earn_multiplier", "text": "Points ×1.5 on every purchase."},
    ]  # fmt: skip
    with translation.override("zh-hant"):
        in_chinese = tier_benefits(tier=tier, policy=TierPolicy.load()).summary
    assert chinese["summary"] == in_chinese


def test_me_tier_shows_when_the_grace_period_ends(member_client, tiers):
    since = timezone.now() - timedelta(days=10)
    member = MemberFactory(tier=tiers[1], tier_below_keep_since=since)

    body = member_client(member).get(URL).json()

    assert body["grace_until"] == timezone.localdate(since + timedelta(days=30)).isoformat()


def test_me_tier_of_a_program_without_tiers_says_there_are_none_yet(member_client):
    member = MemberFactory()

    body = member_client(member).get(URL).json()

    assert (body["tier"], body["next_tier"], body["progress_percent"]) == (None, None, None)
    assert body["message"] == "The program has no tiers yet."


def test_me_tier_needs_an_active_member(member_client, tiers):
    visitor = MemberFactory(status=Member.Status.VISITOR, phone=None)

    response = member_client(visitor).get(URL)

    assert (response.status_code, response.json()["error"]["code"]) == (409, "member_not_active")


def test_me_tier_needs_a_member_token(api_client):
    response = api_client.get(URL)

    assert (response.status_code, response.json()["error"]["code"]) == (401, "not_authenticated")
