"""The console: template refusals on the form, read-only coupons scoped by store, the void action."""

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from coupons.models import Coupon, CouponTemplate
from members.models import Role
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db

TEMPLATE_ADD_URL = reverse("admin:coupons_coupontemplate_add")
COUPONS_URL = reverse("admin:coupons_coupon_changelist")


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def template_form(**overrides):
    data = {
        "name_en": "Spring",
        "description_en": "",
        "is_active": "on",
        "kind": "percent_off",
        "percent": "15",
        "min_spend": "0",
        "channels": ["pos", "online"],
        "categories": "shoes, bags",
        "skus": "",
        "stacks_with_points": "on",
        "valid_days": "14",
        "reminder_days": "3",
        "is_claimable": "on",
        "per_member_limit": "1",
        "audience": "members",
        "code_prefix": "SP",
        "code_length": "10",
        "code_source": "generated",
        "refund_policy": "restore_if_valid",
    }
    data.update(overrides)
    return data


@pytest.fixture
def merchant_admin(client):
    user = UserFactory(role=Role.MERCHANT_ADMIN)
    client.force_login(user)
    return user


def test_a_merchant_admin_creates_a_template_from_the_form(client, merchant_admin):
    response = client.post(TEMPLATE_ADD_URL, template_form())

    assert response.status_code == 302
    template = CouponTemplate.objects.get()
    assert (template.kind, template.percent, template.channels, template.categories, template.code_prefix) == (
        "percent_off",
        Decimal("15.00"),
        ["pos", "online"],
        ["shoes", "bags"],
        "SP",
    )


def test_a_percent_above_100_is_shown_on_the_form_and_nothing_is_saved(client, merchant_admin):
    response = client.post(TEMPLATE_ADD_URL, template_form(percent="150"))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"percent": ["A percentage cannot be above 100."]}
    assert CouponTemplate.objects.count() == 0


def test_lowering_the_quota_below_the_issued_count_is_shown_on_the_form(client, merchant_admin, issue):
    template = CouponTemplateFactory(quota=10, per_member_limit=None, kind="percent_off", amount=None, percent=15)
    member = MemberFactory()
    for _ in range(3):
        issue(template, member)

    response = client.post(reverse("admin:coupons_coupontemplate_change", args=[template.pk]), template_form(quota="2"))

    assert response.context["adminform"].form.errors == {
        "quota": ["3 coupons were already issued: the quota cannot be lower."]
    }
    template.refresh_from_db()
    assert (template.quota, template.issued_count) == (10, 3)


def test_the_void_action_voids_usable_coupons_and_reports_the_rest(client, merchant_admin, issue, now):
    template = CouponTemplateFactory(per_member_limit=None)
    member = MemberFactory()
    usable, void = issue(template, member), issue(template, member)
    Coupon.objects.filter(pk=void.pk).update(status=Coupon.Status.VOID)

    response = client.post(
        COUPONS_URL, {"action": "void_selected", "_selected_action": [usable.pk, void.pk]}, follow=True
    )

    usable.refresh_from_db()
    assert (usable.status, usable.voided_by_id) == ("void", merchant_admin.pk)
    assert messages_of(response) == [
        "1 coupon voided.",
        "1 coupon was already used, expired or void and was left as it was.",
    ]


def test_a_clerk_cannot_void_coupons(client, issue):
    store = StoreFactory(code="a")
    client.force_login(UserFactory(role=Role.CLERK, store=store))
    coupon = issue(CouponTemplateFactory(), MemberFactory(home_store=store))

    listing = client.get(COUPONS_URL)
    client.post(COUPONS_URL, {"action": "void_selected", "_selected_action": [coupon.pk]})

    coupon.refresh_from_db()
    assert listing.status_code == 200  # clerks may look coupons up at the till
    assert b"void_selected" not in listing.content
    assert coupon.status == "available"


def test_staff_of_a_store_list_their_members_coupons_and_find_any_by_exact_code(client, issue):
    store_a, store_b = StoreFactory(code="a"), StoreFactory(code="b")
    user = UserFactory(role=Role.MERCHANT_ADMIN, store=store_a)
    client.force_login(user)
    template = CouponTemplateFactory()
    ours = issue(template, MemberFactory(home_store=store_a))
    theirs = issue(template, MemberFactory(home_store=store_b))

    listed = client.get(COUPONS_URL)
    searched = client.get(COUPONS_URL, {"q": theirs.code.lower()})

    assert [coupon.pk for coupon in listed.context["cl"].result_list] == [ours.pk]
    assert [coupon.pk for coupon in searched.context["cl"].result_list] == [theirs.pk]


def test_a_store_manager_finds_a_visitors_coupon_by_its_code_but_may_not_void_it(client, issue):
    store_a, store_b = StoreFactory(code="a"), StoreFactory(code="b")
    client.force_login(UserFactory(role=Role.STORE_MANAGER, store=store_a))
    template = CouponTemplateFactory(per_member_limit=None)
    visitors = issue(template, MemberFactory(home_store=store_b))
    ours = issue(template, MemberFactory(home_store=store_a))

    found = client.get(COUPONS_URL, {"q": visitors.code})
    response = client.post(
        f"{COUPONS_URL}?q={visitors.code}",
        {"action": "void_selected", "_selected_action": [visitors.pk, ours.pk]},
        follow=True,
    )

    assert [coupon.pk for coupon in found.context["cl"].result_list] == [visitors.pk]  # served at the till
    visitors.refresh_from_db()
    assert visitors.status == "available"
    assert messages_of(response) == [
        "1 coupon of another store's member was left as it was: their store may void it.",
        "0 coupons voided.",
    ]
