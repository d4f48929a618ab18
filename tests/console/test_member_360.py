"""Member 360: one console page per member, scoped to the staff member's role and store, and its actions, each behind
its own permission, audited, and refused for staff without it or of another store."""

import csv
import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from campaigns.models import ConsentRecord
from console.selectors.member_360 import PAGE_SIZE
from coupons.models import Coupon
from members.errors import ActionReasonRequired, MemberAlreadyAnonymised, MemberStatusConflict
from members.models import (
    Member,
    MemberAnonymisation,
    MemberImportJob,
    MemberToken,
    PointsEntry,
    Role,
    TierHistory,
)
from members.services.ledger import points_credit
from members.services.member_actions import member_anonymise, member_freeze, member_tags_set, member_unfreeze
from members.services.tokens import member_token_issue
from points.models import Auction
from points.services.auctions import auction_bid_place
from points.services.draws import draw_spin
from tests.console_helpers import header_trail, make_staff
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import (
    AuctionFactory,
    DrawPrizeFactory,
    MemberFactory,
    PurchaseFactory,
    TagFactory,
    TierFactory,
    UserFactory,
    checkout_sale,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(now):
    """Staff of the brand, of store A (manager, clerk) and of store B; Alice of store A with points, a purchase and
    a coupon; Bob of store B."""
    staff = make_staff()
    store_a = staff["manager_a"].store
    alice = MemberFactory(
        home_store=store_a, phone="+85291234567", name="Alice Chan", email="alice@example.com",
        birthday="1990-05-04", wechat_openid="openid-alice", wechat_unionid="union-alice",
    )  # fmt: skip
    bob = MemberFactory(home_store=staff["manager_b"].store, phone="+85291234568")
    points_credit(member_id=alice.pk, points=500, idempotency_key="m360:welcome", now=now, source="test")
    checkout_sale(store=store_a, member=alice, now=now, external_id="m360-1", gross_amount=Decimal("120.00"))
    template = CouponTemplateFactory()
    return {**staff, "alice": alice, "bob": bob, "template": template}


def page(member):
    return reverse("admin:console_member_360", args=[member.pk])


def action(member, key):
    return reverse("admin:console_member_360_action", args=[member.pk, key])


# -- the page ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("role", "sections", "actions"),
    [
        (
            "merchant_admin",
            {"member-points", "member-stored-value-entries", "member-tier-history", "member-coupons",
             "member-purchases", "member-reward-orders", "member-messages"},
            {"points", "stored-value", "coupon", "tags", "tier", "freeze", "anonymise"},
        ),
        (
            "manager_a",
            {"member-points", "member-coupons", "member-purchases", "member-reward-orders", "member-messages"},
            {"coupon", "tags", "freeze"},
        ),
        ("clerk_a", {"member-points", "member-coupons", "member-purchases", "member-reward-orders"}, set()),
    ],
)  # fmt: skip
def test_each_role_sees_the_sections_and_actions_it_may_use(client, world, role, sections, actions):
    client.force_login(world[role])

    response = client.get(page(world["alice"]))

    assert response.status_code == 200
    html = response.content.decode()
    every_section = {"member-points", "member-stored-value-entries", "member-tier-history", "member-coupons",
                     "member-purchases", "member-reward-orders", "member-messages"}  # fmt: skip
    assert {section for section in every_section if f'id="{section}"' in html} == sections
    every_action = {"points", "stored-value", "coupon", "tags", "tier", "freeze", "unfreeze", "anonymise"}
    assert {key for key in every_action if f'id="member-action-{key}"' in html} == actions
    assert ('id="member-export-json"' in html) is (role != "clerk_a")
    audit_link = f'href="{reverse("admin:console_audit_log")}?member={world["alice"].pk}"'
    assert (audit_link in html) is (role != "clerk_a")
    assert "Alice Chan" in html


def test_the_page_shows_the_running_balance_and_pages_the_ledger(client, world, now):
    alice = world["alice"]
    for number in range(PAGE_SIZE + 5):
        points_credit(member_id=alice.pk, points=10, idempotency_key=f"m360:page:{number}", now=now, source="test")
    client.force_login(world["merchant_admin"])

    first = client.get(page(alice))
    second = client.get(page(alice), {"points_page": 2})

    newest = PointsEntry.objects.filter(member=alice).order_by("-created_at", "-pk").first()
    assert len(first.context["entries"].rows) == PAGE_SIZE
    assert first.context["entries"].rows[0].balance_after == newest.balance_after
    assert first.context["entries"].has_next is True
    assert second.context["entries"].has_next is False
    assert len(second.context["entries"].rows) == PointsEntry.objects.filter(member=alice).count() - PAGE_SIZE


@pytest.mark.parametrize("role", ["manager_b"])
def test_staff_of_another_store_cannot_open_the_member_page(client, world, role):
    client.force_login(world[role])

    assert client.get(page(world["alice"])).status_code == 403
    assert client.get(page(world["bob"])).status_code == 200


def test_the_clerk_cannot_open_a_member_of_another_store(client, world):
    client.force_login(world["clerk_a"])

    assert client.get(page(world["bob"])).status_code == 403


def test_staff_without_the_member_permission_are_refused(client, world):
    client.force_login(UserFactory())  # staff with no role

    assert client.get(page(world["alice"])).status_code == 403


def test_the_header_search_opens_the_member_page_in_scope_and_the_member_form_outside_it(client, world):
    client.force_login(world["clerk_a"])

    own = client.get(reverse("admin:console_find"), {"q": world["alice"].phone})
    other = client.get(reverse("admin:console_find"), {"q": world["bob"].phone})

    assert own["Location"] == page(world["alice"])
    assert other["Location"] == reverse("admin:members_member_change", args=[world["bob"].pk])


def test_the_page_costs_a_fixed_number_of_queries(client, world, now):
    alice = world["alice"]
    client.force_login(world["merchant_admin"])
    client.get(page(alice))
    with CaptureQueriesContext(connection) as few:
        client.get(page(alice))
    for number in range(30):
        checkout_sale(store=world["manager_a"].store, member=alice, now=now + timedelta(seconds=number),
                      external_id=f"m360-more-{number}", gross_amount=Decimal("10.00"))  # fmt: skip

    with CaptureQueriesContext(connection) as many:
        response = client.get(page(alice))

    assert response.status_code == 200
    assert len(many) == len(few)


def test_the_header_names_the_member_in_the_member_lists_trail(client, world):
    alice = world["alice"]
    client.force_login(world["merchant_admin"])

    html = client.get(page(alice), {"_changelist_filters": "status__exact=active"}).content.decode()

    assert header_trail(html) == [
        (reverse("admin:app_list", args=["members"]), "Members"),
        (reverse("admin:members_member_changelist"), "Members"),
        (reverse("admin:members_member_change", args=[alice.pk]), escape(str(alice))),
    ]


def test_the_page_leads_back_to_the_member_list_with_the_filters_it_was_opened_from(client, world):
    alice = world["alice"]
    client.force_login(world["merchant_admin"])
    member_list = reverse("admin:members_member_changelist")

    response = client.get(page(alice), {"_changelist_filters": "status__exact=active&q=Alice"})

    carried = "?_changelist_filters=status__exact%3Dactive%26q%3DAlice"
    html = response.content.decode()
    assert f'<a id="back-to-list" href="{member_list}?status__exact=active&amp;q=Alice"' in html
    assert f'href="{action(alice, "points")}{carried}"' in html
    assert f'href="{reverse("admin:members_member_change", args=[alice.pk])}{carried}"' in html


def test_the_page_opened_without_filters_leads_back_to_the_whole_member_list(client, world):
    client.force_login(world["clerk_a"])

    html = client.get(page(world["alice"])).content.decode()

    assert f'<a id="back-to-list" href="{reverse("admin:members_member_changelist")}"' in html


def test_an_action_page_leads_back_to_the_member_page_and_the_list_with_the_filters(client, world):
    alice = world["alice"]
    client.force_login(world["merchant_admin"])
    filters = {"_changelist_filters": "status__exact=active"}

    form = client.get(action(alice, "points"), filters)
    done = client.post(
        action(alice, "points") + "?_changelist_filters=status__exact%3Dactive",
        {"points": "10", "reason": "Goodwill", "idempotency_key": "m360-crumbs"},
    )

    back = page(alice) + "?_changelist_filters=status__exact%3Dactive"
    html = form.content.decode()
    assert [text for _link, text in header_trail(html)] == ["Members", "Members", escape(str(alice))]
    assert f'<a id="back-to-list" href="{reverse("admin:members_member_changelist")}?status__exact=active"' in html
    assert f'href="{back}"' in html  # Cancel: the member page, the filters kept
    assert done["Location"] == back


def test_the_member_form_opens_member_360_keeping_the_list_filters(client, world):
    client.force_login(world["manager_a"])
    change = reverse("admin:members_member_change", args=[world["alice"].pk])

    html = client.get(change, {"_changelist_filters": "status__exact=active"}).content.decode()

    assert f'href="{page(world["alice"])}?_changelist_filters=status__exact%3Dactive"' in html


def test_the_tier_card_shows_the_progress_to_the_next_tier_before_the_first_review(client, world, now):
    # given Silver (asks nothing) and Gold (1,000), and a member imported without a tier, never reviewed, with
    # HK$250 spent in the window
    TierFactory(code="V1", name="Silver", rank=1)
    TierFactory(code="V2", name="Gold", rank=2, min_score_to_reach=1000, min_score_to_keep=800)
    member = MemberFactory(home_store=world["manager_a"].store, tier=None, join_source=Member.JoinSource.IMPORT)
    PurchaseFactory(member=member, store=world["manager_a"].store, gross_amount=Decimal("250.00"),
                    purchased_at=now - timedelta(days=1))  # fmt: skip
    client.force_login(world["manager_a"])

    # when
    response = client.get(page(member))

    # then the card shows no tier yet, Silver reached, and a quarter of the way to Gold
    assert (response.context["tier_progress"], response.context["tier_progress_label"]) == (25, "250.00 / 1000.00")
    html = response.content.decode()
    assert "Progress to Gold" in html
    assert "The score reaches Silver: given at the next purchase or at the review on" in html
    assert "Spend HK$750 more by" in html


def test_the_tier_card_of_a_new_member_without_purchases_shows_a_sliver_of_progress(client, world):
    TierFactory(code="V1", name="Silver", rank=1)
    TierFactory(code="V2", name="Gold", rank=2, min_score_to_reach=1000, min_score_to_keep=800)
    member = MemberFactory(home_store=world["manager_a"].store, tier=None)
    client.force_login(world["manager_a"])

    response = client.get(page(member))

    assert (response.context["tier_progress"], response.context["tier_progress_label"]) == (1, "0.00 / 1000.00")
    assert "Progress to Gold" in response.content.decode()


def test_the_tier_card_of_a_visitor_promises_no_tier_the_review_would_not_give(client, world):
    # given a visitor (no phone bound yet: never reviewed, cannot buy) and tiers whose entry tier asks nothing
    TierFactory(code="V1", name="Silver", rank=1)
    TierFactory(code="V2", name="Gold", rank=2, min_score_to_reach=1000, min_score_to_keep=800)
    visitor = MemberFactory(home_store=world["manager_a"].store, tier=None, status=Member.Status.VISITOR, phone=None)
    client.force_login(world["manager_a"])

    html = client.get(page(visitor)).content.decode()

    assert "Progress to Gold" in html
    assert "The score reaches" not in html


def test_the_tier_card_of_a_program_without_tiers_says_so_not_highest_tier(client, world):
    client.force_login(world["manager_a"])

    html = client.get(page(world["alice"])).content.decode()

    assert "The program has no tiers yet." in html
    assert "Highest tier." not in html


# -- actions: the happy paths ----------------------------------------------------------------------------------------
def test_an_admin_adjusts_points_with_a_reason_on_the_ledger(client, world):
    alice, admin_user = world["alice"], world["merchant_admin"]
    client.force_login(admin_user)

    response = client.post(action(alice, "points"), {"points": "-200", "reason": "Goodwill correction",
                                                     "idempotency_key": "k1"})  # fmt: skip

    assert response.status_code == 302
    assert response["Location"] == page(alice)
    entry = PointsEntry.objects.filter(member=alice).order_by("-pk").first()
    assert (entry.kind, entry.delta, entry.reason, entry.created_by) == ("removal", -200, "Goodwill correction",
                                                                          admin_user)  # fmt: skip
    alice.refresh_from_db()
    assert alice.points_balance == entry.balance_after


def test_points_without_a_reason_are_refused(client, world):
    client.force_login(world["merchant_admin"])

    response = client.post(action(world["alice"], "points"), {"points": "10", "reason": "", "idempotency_key": "k"})

    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    assert not PointsEntry.objects.filter(member=world["alice"], kind="addition").exists()


def test_an_admin_adjusts_stored_value_with_a_reason(client, world):
    alice = world["alice"]
    client.force_login(world["merchant_admin"])

    client.post(action(alice, "stored-value"), {"amount": "25.50", "reason": "Top-up by hand", "idempotency_key": "s"})

    alice.refresh_from_db()
    assert alice.stored_value_balance == Decimal("25.50")
    entry = alice.stored_value_entries.get()
    assert (entry.reason, entry.created_by) == ("Top-up by hand", world["merchant_admin"])


def test_a_manager_issues_a_coupon_to_their_member(client, world):
    alice = world["alice"]
    client.force_login(world["manager_a"])

    response = client.post(action(alice, "coupon"), {"template": world["template"].pk, "idempotency_key": "c1"})
    client.post(action(alice, "coupon"), {"template": world["template"].pk, "idempotency_key": "c1"})  # a double click

    assert response.status_code == 302
    coupon = Coupon.objects.get(member=alice)
    assert (coupon.source, coupon.issued_by) == (Coupon.Source.MANUAL, world["manager_a"])


def test_a_manager_changes_tags_and_the_history_says_who(client, world):
    alice, vip, new = world["alice"], TagFactory(name="VIP"), TagFactory(name="New")
    alice.tags.add(new)
    client.force_login(world["manager_a"])

    client.post(action(alice, "tags"), {"tags": [vip.pk]})

    assert list(alice.tags.values_list("name", flat=True)) == ["VIP"]
    last = alice.history.order_by("-history_id").first()
    assert (last.history_user, last.history_change_reason) == (world["manager_a"], "Tags: +VIP −New")


def test_an_admin_sets_the_tier_by_hand_recorded_in_tier_history(client, world, now):
    alice, gold = world["alice"], TierFactory(code="GOLD", name="Gold", rank=5)
    client.force_login(world["merchant_admin"])
    until = (now + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")

    client.post(action(alice, "tier"), {"tier": gold.pk, "until": until, "reason": "VIP guest"})

    alice.refresh_from_db()
    assert alice.tier == gold
    history = TierHistory.objects.get(member=alice, reason=TierHistory.Reason.OVERRIDE)
    assert (history.note, history.created_by) == ("VIP guest", world["merchant_admin"])


def test_a_manager_freezes_and_unfreezes_with_a_reason(client, world):
    alice = world["alice"]
    client.force_login(world["manager_a"])

    client.post(action(alice, "freeze"), {"reason": "Card reported stolen"})
    alice.refresh_from_db()
    frozen_status = alice.status
    client.post(action(alice, "unfreeze"), {"reason": "Member came in with ID"})
    alice.refresh_from_db()

    assert (frozen_status, alice.status) == (Member.Status.FROZEN, Member.Status.ACTIVE)
    reasons = list(alice.history.order_by("-history_id").values_list("history_change_reason", flat=True)[:2])
    assert reasons == ["Unfrozen: Member came in with ID", "Frozen: Card reported stolen"]


# -- actions: the denials --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("role", "key", "data"),
    [
        ("manager_a", "points", {"points": "10", "reason": "x", "idempotency_key": "d1"}),
        ("manager_a", "stored-value", {"amount": "10", "reason": "x", "idempotency_key": "d2"}),
        ("manager_a", "tier", {"tier": "1", "until": "2099-01-01T00:00", "reason": "x"}),
        ("manager_a", "anonymise", {"member_number": "x", "reason": "x"}),
        ("clerk_a", "coupon", {"template": "1", "idempotency_key": "d3"}),
        ("clerk_a", "tags", {"tags": []}),
        ("clerk_a", "freeze", {"reason": "x"}),
        ("manager_b", "coupon", {"template": "1", "idempotency_key": "d4"}),
        ("manager_b", "tags", {"tags": []}),
        ("manager_b", "freeze", {"reason": "x"}),
    ],
)
def test_an_action_is_refused_without_its_permission_or_for_another_stores_member(client, world, role, key, data):
    alice = world["alice"]
    alice.refresh_from_db()
    client.force_login(world[role])
    balance = alice.points_balance

    got, posted = client.get(action(alice, key)), client.post(action(alice, key), data)

    assert (got.status_code, posted.status_code) == (403, 403)
    alice.refresh_from_db()
    assert (alice.points_balance, alice.status, alice.tags.count(), alice.coupons.count()) == (
        balance, Member.Status.ACTIVE, 0, 0,
    )  # fmt: skip


def test_the_merchant_admin_of_the_brand_may_act_on_any_store(client, world):
    client.force_login(world["merchant_admin"])

    assert client.get(action(world["bob"], "freeze")).status_code == 200


# -- the data export (PDPO data access request) -----------------------------------------------------------------------
def test_the_json_export_holds_the_members_data_and_is_logged(client, world):
    alice = world["alice"]
    client.force_login(world["manager_a"])

    response = client.get(reverse("admin:console_member_360_export", args=[alice.pk, "json"]))

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="member-{alice.member_number}.json"'
    data = json.loads(response.content)
    assert data["profile"][0]["name"] == "Alice Chan"
    assert data["profile"][0]["email"] == "alice@example.com"
    assert [entry["delta"] for entry in data["points_entries"]] == list(
        PointsEntry.objects.filter(member=alice).order_by("created_at", "pk").values_list("delta", flat=True)
    )
    assert [purchase["external_id"] for purchase in data["purchases"]] == ["m360-1"]
    log = LogEntry.objects.get(object_id=str(alice.pk))
    assert (log.user, log.change_message) == (world["manager_a"], "Exported the member's data (JSON)")


def test_the_export_is_logged_in_the_staff_members_language(client, world):
    client.force_login(world["manager_a"])

    client.get(
        reverse("admin:console_member_360_export", args=[world["alice"].pk, "csv"]), HTTP_ACCEPT_LANGUAGE="zh-hant"
    )

    assert LogEntry.objects.get(object_id=str(world["alice"].pk)).change_message == "已匯出會員資料（CSV）"


def test_the_csv_export_lists_every_field_by_section(client, world):
    alice = world["alice"]
    client.force_login(world["merchant_admin"])

    response = client.get(reverse("admin:console_member_360_export", args=[alice.pk, "csv"]))

    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["section", "row", "field", "value"]
    assert ["profile", "1", "phone", alice.phone] in rows
    assert ["purchases", "1", "external_id", "m360-1"] in rows


def test_the_csv_export_opens_in_excel_as_text_never_as_a_formula(client, world):
    alice = world["alice"]
    alice.name = "=cmd|' /C calc'!A0"
    alice.save()
    client.force_login(world["merchant_admin"])

    response = client.get(reverse("admin:console_member_360_export", args=[alice.pk, "csv"]))

    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert ["profile", "1", "name", "'=cmd|' /C calc'!A0"] in rows
    assert ["profile", "1", "phone", alice.phone] in rows  # a phone is a number, not a formula: as it is


def test_the_export_holds_every_table_kept_about_the_member(client, world, now):
    alice = world["alice"]
    points_credit(member_id=alice.pk, points=2000, idempotency_key="m360:more", now=now, source="test")
    prize = DrawPrizeFactory(stock_total=10)
    draw_spin(member_id=alice.pk, draw_id=prize.draw_id, idempotency_key="m360:spin", now=now)
    auction_bid_place(member_id=alice.pk, auction_id=AuctionFactory().pk, points=1000, idempotency_key="m360", now=now)
    ConsentRecord.objects.create(member=alice, member_number=alice.member_number, channel="sms", consented=False,
                                 source="link", address=alice.phone, recorded_at=now)  # fmt: skip
    client.force_login(world["merchant_admin"])

    data = json.loads(client.get(reverse("admin:console_member_360_export", args=[alice.pk, "json"])).content)

    profile = data["profile"][0]
    assert (profile["wechat_openid"], profile["wechat_unionid"]) == ("openid-alice", "union-alice")
    assert {"plan_subscriptions", "checkout_orders", "wechat_subscriptions", "campaign_messages"} <= set(data)
    assert [spin["points_spent"] for spin in data["draw_spins"]] == [100]
    assert [(bid["auction__item_name"], bid["points"]) for bid in data["auction_bids"]] == [
        (Auction.objects.get().item_name, 1000),
    ]  # fmt: skip
    assert [(record["channel"], record["address"]) for record in data["consent_records"]] == [("sms", alice.phone)]


@pytest.mark.parametrize(("role", "member"), [("clerk_a", "alice"), ("manager_b", "alice")])
def test_the_export_is_refused_without_the_permission_or_out_of_store(client, world, role, member):
    client.force_login(world[role])

    for fmt in ("json", "csv"):
        assert client.get(reverse("admin:console_member_360_export", args=[world[member].pk, fmt])).status_code == 403
    assert not LogEntry.objects.exists()


# -- anonymisation (PDPO) ---------------------------------------------------------------------------------------------
def test_anonymise_scrubs_personal_data_keeps_the_ledgers_and_records_who(client, world, now):
    alice, admin_user = world["alice"], world["merchant_admin"]
    alice.tags.add(TagFactory(name="VIP"))
    member_token_issue(member_id=alice.pk, now=now)
    entries_before = list(PointsEntry.objects.filter(member=alice).values_list("pk", "delta", "balance_after"))
    alice.refresh_from_db()
    balance, spend = alice.points_balance, alice.total_spend
    client.force_login(admin_user)

    response = client.post(action(alice, "anonymise"), {"member_number": alice.member_number,
                                                        "reason": "Request by e-mail 2026-12-01"})  # fmt: skip

    assert response.status_code == 302
    alice.refresh_from_db()
    record = MemberAnonymisation.objects.get(member=alice)
    assert (record.requested_by, record.reason) == (admin_user, "Request by e-mail 2026-12-01")
    assert alice.name == record.pseudonym
    assert (alice.phone, alice.email, alice.birthday, alice.gender, alice.wechat_openid, alice.wechat_unionid) == (
        None, "", None, "", None, "",
    )  # fmt: skip
    assert (alice.consent_marketing, alice.consent_sms, alice.status) == (False, False, Member.Status.CLOSED)
    assert alice.tags.count() == 0
    assert not MemberToken.objects.filter(member=alice, revoked_at__isnull=True).exists()
    assert list(PointsEntry.objects.filter(member=alice).values_list("pk", "delta", "balance_after")) == entries_before
    assert (alice.points_balance, alice.total_spend, alice.purchases.count()) == (balance, spend, 1)


def test_anonymise_scrubs_every_past_version_in_the_history(world, now):
    alice = world["alice"]
    alice.name = "Alice C."
    alice.save()

    member_anonymise(member_id=alice.pk, reason="Request", requested_by=world["merchant_admin"], now=now)

    versions = list(alice.history.values_list("name", "phone", "email", "birthday", "wechat_openid"))
    assert len(versions) >= 2
    pseudonym = MemberAnonymisation.objects.get(member=alice).pseudonym
    assert set(versions) == {(pseudonym, None, "", None, None)}


def test_anonymise_replaces_the_members_phone_in_the_imports_rows_with_errors(world, now):
    alice, bob = world["alice"], world["bob"]
    repeated = {"row": 3, "column": "phone", "message": f"The phone {alice.phone} also appears in row 7 of this file."}
    other = {"row": 9, "column": "email", "message": "“x@y” is not a valid e-mail address."}
    naming_alice = MemberImportJob.objects.create(status="done", error_count=2, errors=[repeated, other])
    bobs = [{**repeated, "message": f"The phone {bob.phone} also appears in row 7 of this file."}]
    naming_bob = MemberImportJob.objects.create(status="done", error_count=1, errors=bobs)

    member_anonymise(member_id=alice.pk, reason="Request", requested_by=world["merchant_admin"], now=now)

    pseudonym = MemberAnonymisation.objects.get(member=alice).pseudonym
    naming_alice.refresh_from_db()
    naming_bob.refresh_from_db()
    assert naming_alice.errors == [
        {**repeated, "message": f"The phone {pseudonym} also appears in row 7 of this file."}, other,
    ]  # fmt: skip
    assert naming_bob.errors == bobs


def test_anonymise_is_refused_the_second_time(world, now):
    alice = world["alice"]
    member_anonymise(member_id=alice.pk, reason="Request", requested_by=world["merchant_admin"], now=now)

    with pytest.raises(MemberAlreadyAnonymised):
        member_anonymise(member_id=alice.pk, reason="Again", requested_by=world["merchant_admin"], now=now)
    assert MemberAnonymisation.objects.filter(member=alice).count() == 1


def test_anonymise_needs_a_reason_and_the_typed_member_number(client, world, now):
    alice = world["alice"]
    with pytest.raises(ActionReasonRequired):
        member_anonymise(member_id=alice.pk, reason=" ", requested_by=world["merchant_admin"], now=now)
    client.force_login(world["merchant_admin"])

    response = client.post(action(alice, "anonymise"), {"member_number": "0000000000", "reason": "Request"})

    assert response.status_code == 200
    assert not MemberAnonymisation.objects.exists()


def test_the_anonymise_page_is_refused_once_done(client, world, now):
    alice = world["alice"]
    member_anonymise(member_id=alice.pk, reason="Request", requested_by=world["merchant_admin"], now=now)
    client.force_login(world["merchant_admin"])

    response = client.get(page(alice))

    assert 'id="member-anonymised"' in response.content.decode()
    assert 'id="member-action-anonymise"' not in response.content.decode()


# -- services ---------------------------------------------------------------------------------------------------------
def test_freezing_a_frozen_member_or_unfreezing_an_active_one_is_refused(world, now):
    alice, by = world["alice"], world["merchant_admin"]
    member_freeze(member_id=alice.pk, reason="Stolen card", frozen_by=by, now=now)

    with pytest.raises(MemberStatusConflict):
        member_freeze(member_id=alice.pk, reason="Again", frozen_by=by, now=now)
    member_unfreeze(member_id=alice.pk, reason="Found", unfrozen_by=by, now=now)
    with pytest.raises(MemberStatusConflict):
        member_unfreeze(member_id=alice.pk, reason="Again", unfrozen_by=by, now=now)


def test_setting_the_same_tags_writes_no_history(world, now):
    alice, vip = world["alice"], TagFactory(name="VIP")
    member_tags_set(member_id=alice.pk, tag_ids=[vip.pk], changed_by=world["merchant_admin"], now=now)
    versions = alice.history.count()

    assert member_tags_set(member_id=alice.pk, tag_ids=[vip.pk], changed_by=world["merchant_admin"], now=now) == (
        [], [],
    )  # fmt: skip
    assert alice.history.count() == versions


def test_the_roles_hold_the_member_page_permissions():
    staff = {"admin": UserFactory(role=Role.MERCHANT_ADMIN), "clerk": UserFactory(role=Role.CLERK)}

    assert staff["admin"].has_perm("members.anonymise_member")
    assert not staff["clerk"].has_perm("members.freeze_member")


def test_the_member_form_links_to_member_360_for_members_in_scope(client, world):
    client.force_login(world["manager_b"])

    own = client.get(reverse("admin:members_member_change", args=[world["bob"].pk])).content.decode()
    other = client.get(reverse("admin:members_member_change", args=[world["alice"].pk])).content.decode()

    assert f'href="{page(world["bob"])}"' in own
    assert 'id="member-360-link"' not in other
