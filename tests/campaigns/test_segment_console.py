"""The segment editor in the console: refusals naming the condition, the live count and sample (scoped to the
staff member's store, permission-checked), and segments as audiences of coupon issues."""

import json

import pytest
from django.urls import reverse

from campaigns.models import Segment
from coupons.models import CouponIssueJob
from tests.console_helpers import make_staff
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, TierFactory, UserFactory

pytestmark = pytest.mark.django_db

PREVIEW = "admin:campaigns_segment_preview"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff():
    return make_staff()


def tier_rule(tier):
    return {"match": "all", "conditions": [{"field": "tier", "op": "in", "value": [tier.pk]}]}


def preview(client, rule, store=None):
    return client.post(reverse(PREVIEW), json.dumps({"rule": rule, "store": store}), content_type="application/json")


def test_the_count_and_sample_hold_only_the_staff_members_store(client, staff):
    # given gold members in stores A and B
    tier = TierFactory()
    store_a, store_b = staff["manager_a"].store, staff["manager_b"].store
    in_a = MemberFactory.create_batch(2, tier=tier, home_store=store_a)
    MemberFactory.create_batch(3, tier=tier, home_store=store_b)

    # when the brand's admin and store A's manager (asking for store B) count the same rule
    client.force_login(staff["merchant_admin"])
    brand = preview(client, tier_rule(tier)).json()
    client.force_login(staff["manager_a"])
    answer = preview(client, tier_rule(tier), store=store_b.pk).json()

    # then the manager sees store A's members only
    assert brand["count"] == 5
    assert answer["count"] == 2
    assert sorted(row["member_number"] for row in answer["sample"]) == sorted(m.member_number for m in in_a)
    assert set(answer["sample"][0]) == {"id", "member_number", "name", "tier", "home_store", "last_purchase_at"}


def test_the_count_names_each_problem_of_the_rule(client, staff):
    client.force_login(staff["merchant_admin"])

    response = preview(client, {"match": "all", "conditions": [{"field": "tier", "op": "like", "value": [1]}]})

    assert response.status_code == 422
    assert response.json() == {
        "error": {
            "code": "segment_rule_invalid",
            "message": "The segment's rule is not valid.",
            "fields": {"rule": ['Condition 1 (tier, Tier): unknown operator "like"; use one of: in, not_in.']},
        }
    }


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"rule": {}, "store": "a"}'])
def test_a_malformed_count_request_gets_the_error_shape(client, staff, body):
    client.force_login(staff["merchant_admin"])

    response = client.post(reverse(PREVIEW), body, content_type="application/json")

    assert response.status_code == 400
    assert set(response.json()["error"]) == {"code", "message", "fields"}


def test_staff_without_the_segment_permission_get_no_count(client, staff):
    client.force_login(staff["clerk_a"])

    response = preview(client, tier_rule(TierFactory()))

    assert response.status_code == 403
    assert client.get(reverse(PREVIEW)).status_code == 405


def test_saving_a_bad_rule_in_the_console_names_the_condition_and_saves_nothing(client, staff):
    client.force_login(staff["merchant_admin"])
    rule = {
        "match": "all",
        "conditions": [{"field": "age", "op": "gte", "value": 18}, {"match": "any", "conditions": []}],
    }

    response = client.post(
        reverse("admin:campaigns_segment_add"),
        {"name": "Adults", "description": "", "store": "", "rule": json.dumps(rule)},
    )

    assert response.status_code == 200
    assert "Group 2: the group is empty: add a condition or remove the group." in response.content.decode()
    assert not Segment.objects.exists()


def test_a_manager_saves_a_segment_of_their_store_and_sees_the_editor(client, staff):
    tier = TierFactory()
    client.force_login(staff["manager_a"])

    response = client.post(
        reverse("admin:campaigns_segment_add"),
        {
            "name": "Gold A",
            "description": "",
            "store": staff["manager_a"].store_id,
            "rule": json.dumps(tier_rule(tier)),
        },
    )
    segment = Segment.objects.get()
    page = client.get(reverse("admin:campaigns_segment_change", args=[segment.pk])).content.decode()

    assert response.status_code == 302
    assert (segment.store_id, segment.rule, segment.created_by) == (
        staff["manager_a"].store_id, tier_rule(tier), staff["manager_a"]
    )  # fmt: skip
    assert 'id="segment-schema"' in page
    assert "campaigns/segment_editor.js" in page
    assert reverse("admin:campaigns_segment_issue_coupons", args=[segment.pk]) in page
    assert reverse("admin:campaigns_segment_grant_points", args=[segment.pk]) not in page  # managers grant no points


def test_issuing_coupons_to_a_segment_from_the_console(client, staff):
    tier = TierFactory()
    MemberFactory.create_batch(2, tier=tier, home_store=staff["manager_a"].store)
    segment = Segment.objects.create(name="Gold", store=staff["manager_a"].store, rule=tier_rule(tier))
    template = CouponTemplateFactory()
    client.force_login(staff["manager_a"])
    url = reverse("admin:campaigns_segment_issue_coupons", args=[segment.pk])

    form = client.get(url)
    key = form.context["form"].initial["key"]
    first = client.post(url, {"template": template.pk, "key": key})
    second = client.post(url, {"template": template.pk, "key": key})

    assert (first.status_code, second.status_code) == (302, 302)
    job = CouponIssueJob.objects.get()
    assert (job.total, job.store_id, job.created_by) == (2, staff["manager_a"].store_id, staff["manager_a"])


def test_the_editor_script_is_served_from_our_static_files():
    from django.contrib.staticfiles import finders

    assert finders.find("campaigns/segment_editor.js")


def test_a_superuser_without_store_counts_any_store(client):
    tier = TierFactory()
    MemberFactory(tier=tier)
    client.force_login(UserFactory(is_superuser=True))

    assert preview(client, tier_rule(tier)).json()["count"] == 1


@pytest.mark.parametrize("url_name", ["admin:campaigns_segment_changelist", "admin:campaigns_campaign_changelist"])
def test_the_store_filter_of_segments_and_campaigns_offers_a_managers_own_store_only(client, staff, url_name):
    client.force_login(staff["manager_a"])

    response = client.get(reverse(url_name))

    store_filter = next(spec for spec in response.context["cl"].filter_specs if spec.field_path == "store")
    assert [pk for pk, _name in store_filter.lookup_choices] == [staff["manager_a"].store_id]
