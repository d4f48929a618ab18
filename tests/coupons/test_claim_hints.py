"""A flash sale's refusals come from the shared cache's hints, the database alone issues, and stock that comes
back (quota or limit raised in the console, partner codes uploaded) is claimable again at once."""

import time

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from coupons.errors import LimitReached, SoldOut
from coupons.models import Coupon, CouponTemplate
from coupons.services import claim_hints, coupon_claim
from coupons.services.claim_hints import claim_hint_sold_out, claim_hints_clear, claim_hints_read
from coupons.services.partner_codes import partner_codes_import
from members.models import Role
from tests.coupons.factories import CouponTemplateFactory
from tests.coupons.test_admin import template_form
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def claim(now, django_capture_on_commit_callbacks):
    """Claim as the API does: in a transaction of its own, whose commit runs the on-commit work."""

    def make(template, member):
        with django_capture_on_commit_callbacks(execute=True):
            return coupon_claim(member_id=member.pk, template_id=template.pk, now=now)

    return make


@pytest.fixture
def sold_out_offer(claim):
    """An offer of one coupon, claimed, then refused once by the database as sold out."""
    template = CouponTemplateFactory(quota=1, per_member_limit=1)
    claim(template, MemberFactory())
    with pytest.raises(SoldOut):
        claim(template, MemberFactory())
    return template


def test_once_sold_out_a_claim_is_refused_without_a_query(claim, sold_out_offer, django_assert_num_queries):
    member = MemberFactory()

    with django_assert_num_queries(0), pytest.raises(SoldOut):
        claim(sold_out_offer, member)


def test_a_member_who_claimed_their_limit_is_refused_without_a_query(claim, django_assert_num_queries):
    template = CouponTemplateFactory(quota=100, per_member_limit=1)
    member = MemberFactory()
    claim(template, member)

    with django_assert_num_queries(0), pytest.raises(LimitReached):
        claim(template, member)


def test_a_member_refused_at_their_limit_is_refused_next_time_without_a_query(claim, issue, django_assert_num_queries):
    template = CouponTemplateFactory(quota=100, per_member_limit=1)
    member = MemberFactory()
    issue(template, member)  # by staff: no claim left a hint
    with pytest.raises(LimitReached):
        claim(template, member)

    with django_assert_num_queries(0), pytest.raises(LimitReached):
        claim(template, member)


def test_a_member_at_their_limit_of_a_sold_out_offer_still_hears_limit_reached(claim):
    template = CouponTemplateFactory(quota=1, per_member_limit=1)
    member = MemberFactory()
    claim(template, member)
    with pytest.raises(SoldOut):
        claim(template, MemberFactory())

    with pytest.raises(LimitReached):
        claim(template, member)


def test_the_sold_out_answer_over_http_costs_only_the_token_look_up(
    member_client, sold_out_offer, django_assert_num_queries
):
    client = member_client(MemberFactory())

    with django_assert_num_queries(1):
        response = client.post("/api/v1/coupons/claim", {"template_id": sold_out_offer.pk}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (409, "sold_out")


def test_a_claim_that_issues_holds_the_templates_row_only_to_its_end(claim):
    template = CouponTemplateFactory(quota=10)

    with CaptureQueriesContext(connection) as queries:
        claim(template, MemberFactory())

    statements = [query["sql"] for query in queries.captured_queries]
    quota_taken = next(n for n, sql in enumerate(statements) if sql.startswith('UPDATE "coupons_coupontemplate"'))
    # The claim's transaction is a savepoint of the test's: its end (COMMIT when served) comes right after. What
    # runs after the commit (the domain signals' receivers: campaigns' webhook events) holds no row of it.
    assert statements[quota_taken + 1].split('"')[0].strip() == "RELEASE SAVEPOINT"


def test_a_claim_rolled_back_leaves_the_member_free_to_claim(claim, now, django_capture_on_commit_callbacks):
    template = CouponTemplateFactory(quota=100, per_member_limit=1)
    member = MemberFactory()

    def checkout_that_fails():
        with transaction.atomic():
            coupon_claim(member_id=member.pk, template_id=template.pk, now=now)
            raise RuntimeError("the work around the claim failed")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        checkout_that_fails()

    coupon = claim(template, member)

    assert (coupon.member_id, coupon.member_sequence) == (member.pk, 1)


# -- stock that comes back -------------------------------------------------------------------------------------
@pytest.fixture
def console(client):
    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN))
    return client


def change_in_console(console, template, django_capture_on_commit_callbacks, **fields):
    form = template_form(
        kind="amount_off", amount="20", percent="", valid_days="30", code_prefix="", per_member_limit="1"
    )
    form.update(fields)
    with django_capture_on_commit_callbacks(execute=True):
        response = console.post(reverse("admin:coupons_coupontemplate_change", args=[template.pk]), form)
    assert response.status_code == 302, response.context["adminform"].form.errors


def test_raising_the_quota_in_the_console_makes_a_sold_out_offer_claimable_at_once(
    claim, sold_out_offer, console, django_capture_on_commit_callbacks
):
    change_in_console(console, sold_out_offer, django_capture_on_commit_callbacks, quota="2")

    coupon = claim(sold_out_offer, MemberFactory())

    assert coupon.template_id == sold_out_offer.pk
    sold_out_offer.refresh_from_db()
    assert (sold_out_offer.quota, sold_out_offer.issued_count) == (2, 2)


def test_raising_the_limit_in_the_console_lets_a_member_at_the_limit_claim_again(
    claim, console, django_capture_on_commit_callbacks
):
    template = CouponTemplateFactory(quota=100, per_member_limit=1)
    member = MemberFactory()
    claim(template, member)
    with pytest.raises(LimitReached):
        claim(template, member)

    change_in_console(console, template, django_capture_on_commit_callbacks, quota="100", per_member_limit="2")

    assert claim(template, member).member_sequence == 2


def test_uploading_partner_codes_makes_a_sold_out_pool_claimable_at_once(
    claim, now, django_capture_on_commit_callbacks
):
    template = CouponTemplateFactory(code_source=CouponTemplate.CodeSource.PARTNER_POOL)
    partner_codes_import(template_id=template.pk, data=b"PARTNER0001\n", now=now)
    claim(template, MemberFactory())
    with pytest.raises(SoldOut):
        claim(template, MemberFactory())

    with django_capture_on_commit_callbacks(execute=True):
        partner_codes_import(template_id=template.pk, data=b"PARTNER0002\n", now=now)

    assert claim(template, MemberFactory()).code == "PARTNER0002"


def test_stock_that_came_back_without_a_clear_is_claimable_once_the_sold_out_hint_expires(claim, monkeypatch):
    monkeypatch.setattr(claim_hints, "SOLD_OUT_SECONDS", 1)
    template = CouponTemplateFactory(quota=1)
    claim(template, MemberFactory())
    with pytest.raises(SoldOut):
        claim(template, MemberFactory())
    CouponTemplate.objects.filter(pk=template.pk).update(quota=2)  # e.g. from a shell: nothing clears the hints
    with pytest.raises(SoldOut):
        claim(template, MemberFactory())

    time.sleep(1.1)

    assert claim(template, MemberFactory()).template_id == template.pk


def test_a_sold_out_hint_written_after_a_restock_by_a_claim_that_read_before_it_refuses_nothing(claim, sold_out_offer):
    member = MemberFactory()
    claim_hints_clear(template_id=sold_out_offer.pk)
    hints = claim_hints_read(template_id=sold_out_offer.pk, member_id=member.pk)  # a claim reads the cache,
    CouponTemplate.objects.filter(pk=sold_out_offer.pk).update(quota=2)  # the offer is restocked and
    claim_hints_clear(template_id=sold_out_offer.pk)  # its hints cleared, then the claim writes what it saw

    claim_hint_sold_out(hints=hints)

    assert claim(sold_out_offer, member).template_id == sold_out_offer.pk
    assert Coupon.objects.filter(template=sold_out_offer).count() == 2
