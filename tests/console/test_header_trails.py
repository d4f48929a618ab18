"""A console page about one object (an upload, an issue, an action) names that object in the header's trail, as
Unfold names it on the object's own form: the app, the list, the object (views pass `opts` and `original`)."""

import pytest
from django.urls import reverse

from tests.console_helpers import header_trail
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import RewardFactory

pytestmark = pytest.mark.django_db


def test_a_rewards_partner_codes_page_names_the_reward(admin_client):
    reward = RewardFactory(name="Cinema pass", kind="partner_voucher")

    html = admin_client.get(reverse("admin:points_reward_partner_codes", args=[reward.pk])).content.decode()

    assert header_trail(html)[-2:] == [
        (reverse("admin:points_reward_changelist"), "Rewards"),
        (reverse("admin:points_reward_change", args=[reward.pk]), "Cinema pass"),
    ]


@pytest.mark.parametrize("page", ["coupons_coupontemplate_issue", "coupons_coupontemplate_partner_codes"])
def test_a_coupon_templates_issue_and_partner_codes_pages_name_the_template(admin_client, page):
    template = CouponTemplateFactory(name="Spring HK$20")

    html = admin_client.get(reverse(f"admin:{page}", args=[template.pk])).content.decode()

    change = reverse("admin:coupons_coupontemplate_change", args=[template.pk])
    assert header_trail(html)[-1] == (change, "Spring HK$20")
