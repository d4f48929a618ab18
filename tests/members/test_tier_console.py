"""The console of issue 4: policy preview before saving, threshold errors naming the tier, overrides with the
right permission and a reason, the member page ledgers, the outstanding stored value."""

import html
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from members.models import Role, TierHistory, TierPolicy
from members.services.stored_value import stored_value_top_up
from tests.console_helpers import header_trail
from tests.factories import (
    MemberFactory,
    PurchaseFactory,
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
def tiers():
    return [
        TierFactory(code="V1", name="Silver", rank=1),
        TierFactory(code="V2", name="Gold", rank=2, min_score_to_reach=1000, min_score_to_keep=800),
    ]


def tier_post(tier, **changes):
    data = {"code": tier.code, "name_en": tier.name, "rank": tier.rank, "min_score_to_reach": tier.min_score_to_reach,
            "min_score_to_keep": tier.min_score_to_keep, "earn_multiplier": "1.00", "discount_percent": "0",
            "birthday_multiplier": "1.00", "monthly_gift_description_en": ""}  # fmt: skip
    return {**data, **changes}


def test_preview_of_a_tier_change_counts_moves_and_saves_nothing(admin_client, tiers):
    now = timezone.now()
    for spend in (600, 700, 1200):
        PurchaseFactory(member=MemberFactory(tier=tiers[0]), gross_amount=Decimal(spend), purchased_at=now)

    response = admin_client.post(
        f"/console/members/tier/{tiers[1].pk}/preview/",
        tier_post(tiers[1], min_score_to_reach="650", min_score_to_keep="600"),
    )

    assert response.status_code == 200
    assert header_trail(response.content.decode())[-1][0] == f"/console/members/tier/{tiers[1].pk}/change/"
    silver = response.context["rows"][0]
    assert (silver.tier, silver.members, silver.up, silver.stay) == (tiers[0], 3, 2, 1)
    tiers[1].refresh_from_db()
    assert tiers[1].min_score_to_reach == Decimal("1000.00")


def test_tier_thresholds_that_overlap_are_refused_with_the_tier_named(admin_client, tiers):
    response = admin_client.post(
        f"/console/members/tier/{tiers[1].pk}/change/", tier_post(tiers[1], min_score_to_keep="1200")
    )

    assert response.status_code == 200
    assert "V2: the score to keep (1200.00) must not exceed the score to reach (1000.00)." in response.content.decode()


def test_policy_change_page_offers_a_preview(admin_client):
    response = admin_client.get(f"/console/members/tierpolicy/{TierPolicy.load().pk}/change/")

    assert response.status_code == 200
    assert b"Preview the effect on members" in response.content


def test_override_in_the_console_is_audited_with_the_staff_user(client, tiers):
    staff = UserFactory(role=Role.MERCHANT_ADMIN)
    client.force_login(staff)
    member = MemberFactory(tier=tiers[0])
    until = timezone.localtime(timezone.now() + timedelta(days=30))

    response = client.post(
        "/console/members/tierhistory/add/",
        {"member": member.pk, "new_tier": tiers[1].pk, "override_until_0": until.date().isoformat(),
         "override_until_1": "12:00:00", "note": "Celebrity guest"},
    )  # fmt: skip

    assert response.status_code == 302
    entry = TierHistory.objects.get()
    assert (entry.member, entry.new_tier, entry.reason, entry.note, entry.created_by) == (
        member, tiers[1], "override", "Celebrity guest", staff,
    )  # fmt: skip
    member.refresh_from_db()
    assert member.tier == tiers[1]


def test_a_merchant_admin_of_one_store_cannot_set_another_stores_members_tier(client, tiers):
    # given a merchant admin limited to store A, and a member of store B
    store_a, store_b = StoreFactory(), StoreFactory()
    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN, store=store_a))
    member = MemberFactory(tier=tiers[0], home_store=store_b)
    until = timezone.localtime(timezone.now() + timedelta(days=30))

    # when they set that member's tier by hand, typing the member's id into the raw id field
    response = client.post(
        "/console/members/tierhistory/add/",
        {"member": member.pk, "new_tier": tiers[1].pk, "override_until_0": until.date().isoformat(),
         "override_until_1": "12:00:00", "note": "Friend of the owner"},
    )  # fmt: skip

    # then the form refuses the member and nothing changes
    assert response.status_code == 200
    assert "member" in response.context["adminform"].form.errors
    assert TierHistory.objects.count() == 0
    member.refresh_from_db()
    assert member.tier == tiers[0]


def test_override_needs_a_reason(admin_client, tiers):
    member = MemberFactory(tier=tiers[0])
    until = timezone.localtime(timezone.now() + timedelta(days=30))

    response = admin_client.post(
        "/console/members/tierhistory/add/",
        {"member": member.pk, "new_tier": tiers[1].pk, "override_until_0": until.date().isoformat(),
         "override_until_1": "12:00:00", "note": ""},
    )  # fmt: skip

    assert response.status_code == 200
    assert TierHistory.objects.count() == 0


def test_a_clerk_cannot_set_tiers_by_hand(client, tiers):
    client.force_login(UserFactory(role=Role.CLERK))

    response = client.get("/console/members/tierhistory/add/")

    assert response.status_code == 403


def test_member_page_lists_stored_value_and_the_ledger_shows_the_outstanding_balance(admin_client):
    member = MemberFactory()
    offer = TopUpOfferFactory()
    stored_value_top_up(member_id=member.pk, offer_id=offer.pk, provider="fps", transaction_id="1", now=timezone.now())

    page = admin_client.get(f"/console/members/member/{member.pk}/change/").content.decode()
    ledger = admin_client.get("/console/members/storedvalueentry/").content.decode()

    assert "Stored value (latest entries" in page
    assert "outstanding balance HK$1,100.00 held by 1 members" in ledger


# -- tier benefits that apply (issue 13.1) --------------------------------------------------------------------------
def test_the_tier_policy_page_sets_how_the_tier_discount_applies_with_help_that_explains_it(admin_client):
    # given the tier policy page
    policy = TierPolicy.load()
    url = f"/console/members/tierpolicy/{policy.pk}/change/"
    page = admin_client.get(url).content.decode()

    # when the merchant applies the discount after coupons, caps it and leaves two categories out
    response = admin_client.post(url, {
        "window_days": 365, "weight_spend": "1", "weight_purchases": "0", "weight_points": "0",
        "weight_active_days": "0", "weight_stores": "0", "evaluation_interval_hours": 72, "grace_period_days": 30,
        "discount_applies": "after_coupons", "discount_max_amount": "200.00",
        "discount_excluded_categories": "gift card,  sale ,",
    })  # fmt: skip

    # then the page explained the order and the exclusions, and the policy keeps a clean list
    assert "The till's own discount always comes off first." in html.unescape(page)
    assert "Item categories the tier discount leaves out" in page
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    policy.refresh_from_db()
    assert (policy.discount_applies, policy.discount_max_amount, policy.discount_excluded_categories) == (
        "after_coupons", Decimal("200.00"), ["gift card", "sale"],
    )  # fmt: skip


def test_the_tier_page_shows_its_benefits_and_no_free_shipping(admin_client, tiers):
    page = admin_client.get(f"/console/members/tier/{tiers[0].pk}/change/").content.decode()

    assert 'name="discount_percent"' in page
    assert 'name="birthday_multiplier"' in page
    assert "In the member's birthday month, purchases earn the base points times this" in html.unescape(page)
    assert "free_shipping" not in page
