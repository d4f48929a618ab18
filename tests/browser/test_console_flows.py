"""Console flows in a real browser: log in, find a member by phone, read the ledger, adjust points, switch
the language."""

import pytest
from playwright.sync_api import expect

from members.models import PointsEntry, Role
from members.services.ledger import points_credit
from tests.browser.helpers import log_in, search
from tests.factories import MemberFactory, StoreFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def staff(now):
    """A merchant admin of store A, a member of store A with some points, and one of store B."""
    store_a = StoreFactory(code="a", name="Store A")
    store_b = StoreFactory(code="b", name="Store B")
    user = UserFactory(username="manager.a", role=Role.MERCHANT_ADMIN, store=store_a)
    member = MemberFactory(name="Alice Chan 陳嘉欣", phone="+85291234567", home_store=store_a)
    points_credit(member_id=member.pk, points=80, idempotency_key="welcome", now=now, reason="Welcome bonus")
    visitor = MemberFactory(name="Bella Wong", phone="+85261234567", home_store=store_b)
    return user, member, visitor


def test_find_a_member_by_phone_read_the_ledger_and_adjust_points(page, staff):
    user, member, _visitor = staff
    log_in(page, user.username)

    search(page, "9123 4567")
    page.click(f"#result_list a:has-text('{member.member_number}')")

    expect(page.locator("#id_name")).to_have_value("Alice Chan 陳嘉欣")
    expect(page.locator("#points_entries-group")).to_contain_text("Welcome bonus")
    page.click("#adjust-points-link")
    page.fill("#id_points", "120")
    page.fill("#id_reason", "Goodwill for a late delivery")
    page.click("input[name=_adjust]")

    expect(page.locator(".messagelist .success")).to_contain_text("Points adjusted by +120")
    expect(page.locator("#points_entries-group")).to_contain_text("Goodwill for a late delivery")
    entry = PointsEntry.objects.get(kind="addition")
    assert (entry.delta, entry.created_by_id, entry.balance_after) == (120, user.pk, 200)


def test_an_adjustment_without_a_reason_is_refused(page, staff):
    user, member, _visitor = staff
    log_in(page, user.username)

    page.goto(f"/console/members/member/{member.pk}/adjust-points/")
    page.fill("#id_points", "50")
    page.click("input[name=_adjust]")

    expect(page.locator(".field-reason .errorlist")).to_be_visible()
    assert not PointsEntry.objects.filter(kind="addition").exists()


def test_a_member_of_another_store_is_found_by_exact_phone_only(page, staff):
    user, _member, visitor = staff
    log_in(page, user.username)

    search(page, "Bella")
    expect(page.locator("#changelist")).not_to_contain_text("Bella Wong")
    search(page, "+852 6123 4567")

    expect(page.locator("#result_list")).to_contain_text("Bella Wong")
    expect(page.locator("#result_list")).to_contain_text(visitor.member_number)


def test_the_member_page_leads_back_to_the_member_list_with_its_filters(page, staff):
    user, member, _visitor = staff
    log_in(page, user.username)

    # from the member list filtered to Store A's members, through Alice's form to her member page
    page.goto(f"/console/members/member/?home_store__id__exact={member.home_store_id}")
    page.click(f"#result_list a:has-text('{member.member_number}')")
    page.click("a:has-text('Member 360')")
    expect(page.locator("#member-profile")).to_contain_text("Alice Chan 陳嘉欣")
    trail = page.locator("#header-inner h1")
    expect(trail).to_contain_text("Members")
    expect(trail).to_contain_text(str(member))

    # in Chinese too, the trail names the member list and the member, and one click leads back to the filtered list
    page.select_option("#console-language", "zh-hant")
    page.click("#console-language-submit")
    expect(trail.locator("a").nth(1)).to_have_text("會員")
    expect(trail).to_contain_text(str(member))
    expect(page.locator("#back-to-list")).to_contain_text("會員")
    page.click("#back-to-list")
    expect(page).to_have_url(f"{page.url.split('/console/')[0]}/console/members/member/"
                             f"?home_store__id__exact={member.home_store_id}")  # fmt: skip
    expect(page.locator("#result_list")).to_contain_text("Alice Chan")
    expect(page.locator("#result_list")).not_to_contain_text("Bella Wong")


def test_switching_to_traditional_chinese_translates_the_console(page, staff):
    user, _member, _visitor = staff
    log_in(page, user.username)
    page.goto("/console/members/member/")
    expect(page.locator("#header-inner h1")).to_contain_text("Members")

    page.select_option("#console-language", "zh-hant")
    page.click("#console-language-submit")

    expect(page.locator("html")).to_have_attribute("lang", "zh-hant")
    expect(page.locator("#header-inner h1")).to_contain_text("會員")
    expect(page.locator("#console-language-submit")).to_have_text("更改語言")
    expect(page.locator("#console-language")).to_have_value("zh-hant")


def test_a_clerk_hands_over_a_mall_pickup_and_a_lucky_draw_prize_at_the_counter(page, now):
    from points.services.draws import draw_spin
    from points.services.mall import reward_redeem
    from tests.factories import DrawPrizeFactory, LuckyDrawFactory, RewardFactory

    store = StoreFactory(code="cwb", name="Causeway Bay")
    clerk = UserFactory(username="clerk.cwb", role=Role.CLERK, store=store)
    member = MemberFactory(name="Carol Lee", home_store=store)
    points_credit(member_id=member.pk, points=1000, idempotency_key="seed", now=now)
    order = reward_redeem(
        member_id=member.pk, reward_id=RewardFactory(name="Tote bag").pk, idempotency_key="r1", now=now,
        pickup_store_id=store.pk,
    ).order  # fmt: skip
    draw = LuckyDrawFactory()
    DrawPrizeFactory(draw=draw, name="Lipstick", kind="gift", points=None, stock_total=1, weight=1)
    spin = draw_spin(member_id=member.pk, draw_id=draw.pk, idempotency_key="s1", now=now).spin
    log_in(page, clerk.username)

    page.goto("/console/points/rewardorder/")
    page.click("text=Hand over a pickup")
    page.fill("#id_pickup_code", order.pickup_code.lower())
    page.click("input[type=submit]")
    expect(page.locator(".messagelist .success")).to_contain_text("Tote bag")

    page.click("text=Hand over a prize")
    page.fill("#id_claim_code", spin.claim_code)
    page.click("input[type=submit]")
    expect(page.locator(".messagelist .success")).to_contain_text("Lipstick")

    order.refresh_from_db()
    spin.refresh_from_db()
    assert (order.status, order.fulfilled_by, spin.collected_store) == ("fulfilled", clerk, store)
