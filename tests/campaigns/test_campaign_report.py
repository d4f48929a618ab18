"""The campaign report: counts, deliveries, rewards, the two groups' purchases in their windows, and the lift.

A constructed campaign: 40 members reached and 10 held out (20 % planned) on 1 December; half the reached members
buy HK$100 within the 14 days, two of the held-out ones do. Purchases outside a member's window (before the
delivery, after the 14 days, after `now`) and fully refunded ones do not count.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission

from campaigns.errors import CampaignPermissionDenied
from campaigns.lift import stats
from campaigns.models import Campaign, CampaignRecipient, CampaignRun
from campaigns.selectors.campaign_report import INBOX, DeliveryCount, campaign_report
from campaigns.services.campaigns import campaign_deliver
from coupons.models import Coupon
from coupons.services import coupon_template_issue_to_member
from infra.errors import NotFound
from members.models import OutboxMessage, Purchase, Role, User
from tests.campaigns.campaign_factories import CampaignFactory
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory, NotificationFactory, PurchaseFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivered_at(now):
    return now - timedelta(days=20)


@pytest.fixture
def store():
    return StoreFactory(code="central")


@pytest.fixture
def campaign(store):
    return Campaign.objects.create(
        name="December offer", store=store, kind=Campaign.Kind.BROADCAST, holdout_percent=20, lift_days=14
    )


def _recipients(campaign, members, *, held_out, at, run=None, status=None):
    status = status or (CampaignRecipient.Status.HELD_OUT if held_out else CampaignRecipient.Status.DELIVERED)
    return CampaignRecipient.objects.bulk_create(
        CampaignRecipient(
            campaign=campaign,
            member=member,
            occasion=f"run:{run.pk}" if run else "broadcast",
            run=run,
            held_out=held_out,
            status=status,
            created_at=at,
        )
        for member in members
    )


def _buy(member, store, at, amount="100.00", stored_value="0.00", **fields):
    amount, stored_value = Decimal(amount), Decimal(stored_value)
    return PurchaseFactory(
        member=member,
        store=store,
        purchased_at=at,
        gross_amount=amount,
        paid_amount=amount - stored_value,
        stored_value_amount=stored_value,
        **fields,
    )


@pytest.fixture
def constructed(campaign, store, delivered_at, now):
    """40 reached (20 buy HK$100 in the window), 10 held out (2 buy HK$100), and purchases that must not count."""
    reached = MemberFactory.create_batch(40, home_store=store)
    held = MemberFactory.create_batch(10, home_store=store)
    _recipients(campaign, reached, held_out=False, at=delivered_at)
    _recipients(campaign, held, held_out=True, at=delivered_at)
    for member in reached[:20]:
        _buy(member, store, delivered_at + timedelta(days=3))
    for member in held[:2]:
        _buy(member, store, delivered_at + timedelta(days=13, hours=23))
    # not counted: before the delivery, after the 14 days, fully refunded
    _buy(reached[30], store, delivered_at - timedelta(minutes=1))
    _buy(held[5], store, delivered_at + timedelta(days=14, minutes=1))
    _buy(reached[31], store, delivered_at + timedelta(days=1), status=Purchase.Status.REFUNDED)
    # counted: a second purchase of a buyer, paid partly with stored value (spend = paid + stored value)
    _buy(reached[0], store, delivered_at + timedelta(days=5), amount="50.00", stored_value="25.00")
    return reached, held


def _expected_conversion():
    return stats.proportion_lift(treated_n=40, treated_successes=20, control_n=10, control_successes=2)


@pytest.mark.parametrize("on_postgres", [pytest.param(True, marks=pytest.mark.postgres), False])
def test_report_compares_the_groups_in_their_windows(campaign, constructed, now, vendor, on_postgres):
    if not on_postgres and vendor == "postgresql":
        pytest.skip("the SQLite variant")

    report = campaign_report(campaign=campaign, now=now)

    assert (report.audience, report.held_out, report.treated) == (50, 10, 40)
    assert report.by_status == {"delivered": 40, "held_out": 10}
    treated, control = report.treated_outcome, report.control_outcome
    assert (treated.members, treated.buyers, treated.purchases) == (40, 20, 21)
    # 20 x 100 + (25 paid + 25 stored value)
    assert treated.sales == Decimal("2050.00")
    assert treated.sales_of_squares == pytest.approx(19 * 100**2 + 150**2)
    assert (control.members, control.buyers, control.purchases, control.sales) == (10, 2, 2, Decimal("200.00"))
    assert treated.sales_per_member == Decimal("51.25")
    assert control.sales_per_member == Decimal("20.00")

    assert report.conversion == _expected_conversion()
    assert report.conversion.difference == pytest.approx(0.3)
    assert report.sales == stats.mean_lift(
        treated_n=40,
        treated_total=2050.0,
        treated_total_of_squares=19 * 100**2 + 150**2,
        control_n=10,
        control_total=200.0,
        control_total_of_squares=2 * 100**2,
    )
    assert report.sales.difference == pytest.approx(51.25 - 20)
    # 10 of 50 held out, 20 % planned: exactly the plan
    assert report.sample_ratio.chi_square == pytest.approx(0)
    assert not report.sample_ratio.is_mismatch
    assert not report.is_measuring


def test_purchases_after_now_do_not_count_and_the_window_is_still_open(campaign, store, now):
    member = MemberFactory(home_store=store)
    _recipients(campaign, [member], held_out=False, at=now - timedelta(days=2))
    _buy(member, store, now + timedelta(hours=1))

    report = campaign_report(campaign=campaign, now=now)

    assert report.treated_outcome.buyers == 0
    assert report.is_measuring


def test_treated_is_everyone_not_held_out_whatever_was_delivered(campaign, store, delivered_at, now):
    reached = MemberFactory.create_batch(3, home_store=store)
    capped = MemberFactory.create_batch(2, home_store=store)
    _recipients(campaign, reached, held_out=False, at=delivered_at)
    _recipients(campaign, capped, held_out=False, at=delivered_at, status=CampaignRecipient.Status.CAPPED)
    _buy(capped[0], store, delivered_at + timedelta(days=1))

    report = campaign_report(campaign=campaign, now=now)

    assert report.by_status == {"delivered": 3, "capped": 2}
    assert (report.treated_outcome.members, report.treated_outcome.buyers) == (5, 1)


def test_report_counts_deliveries_by_channel_and_status(campaign, store, delivered_at, now):
    members = MemberFactory.create_batch(3, home_store=store)
    rows = _recipients(campaign, members, held_out=False, at=delivered_at)
    outcomes = [
        {OutboxMessage.Channel.SMS: OutboxMessage.Status.SENT, OutboxMessage.Channel.EMAIL: OutboxMessage.Status.SENT},
        {OutboxMessage.Channel.SMS: OutboxMessage.Status.FAILED},
        {},
    ]
    for row, channels in zip(rows, outcomes, strict=True):
        notification = NotificationFactory(member=row.member, body="HK$50 off", created_at=delivered_at)
        for channel, status in channels.items():
            OutboxMessage.objects.create(
                notification=notification,
                channel=channel,
                status=status,
                next_attempt_at=delivered_at,
                created_at=delivered_at,
            )
        CampaignRecipient.objects.filter(pk=row.pk).update(notification=notification)
    # another campaign's message is not this campaign's delivery
    other = NotificationFactory(member=members[0], created_at=now)
    OutboxMessage.objects.create(notification=other, channel="sms", status="sent", next_attempt_at=now, created_at=now)

    report = campaign_report(campaign=campaign, now=now)

    assert report.deliveries == [
        DeliveryCount(INBOX, "delivered", 3),
        DeliveryCount("email", "sent", 1),
        DeliveryCount("sms", "failed", 1),
        DeliveryCount("sms", "sent", 1),
    ]


def test_report_counts_coupons_issued_and_redeemed_and_points(campaign, store, delivered_at, now):
    template = CouponTemplateFactory()
    members = MemberFactory.create_batch(3, home_store=store)
    rows = _recipients(campaign, members, held_out=False, at=delivered_at)
    for row in rows[:2]:
        coupon = coupon_template_issue_to_member(
            template_id=template.pk, member_id=row.member_id, source="bulk", now=delivered_at
        )
        CampaignRecipient.objects.filter(pk=row.pk).update(coupon=coupon, points_granted=50)
    # arranging a redemption's outcome (the redemption itself is tested in tests/coupons)
    Coupon.objects.filter(pk=CampaignRecipient.objects.get(pk=rows[0].pk).coupon_id).update(
        status=Coupon.Status.REDEEMED, redeemed_at=now
    )

    report = campaign_report(campaign=campaign, now=now)

    assert (report.coupons_issued, report.coupons_redeemed, report.points_granted) == (2, 1, 100)


def test_report_of_one_run_holds_only_its_recipients(campaign, store, delivered_at, now):
    first = CampaignRun.objects.create(campaign=campaign, key=f"campaign:{campaign.pk}:1")
    second = CampaignRun.objects.create(campaign=campaign, key=f"campaign:{campaign.pk}:2")
    members = MemberFactory.create_batch(5, home_store=store)
    _recipients(campaign, members[:2], held_out=False, at=delivered_at, run=first)
    _recipients(campaign, members[2:], held_out=False, at=delivered_at, run=second)

    report = campaign_report(campaign=campaign, now=now, run_id=first.pk)

    assert report.run == first
    assert report.audience == 2
    assert report.runs == [second, first]


def test_a_run_of_another_campaign_is_refused(campaign, store, now):
    other = Campaign.objects.create(name="Other", store=store, kind=Campaign.Kind.BROADCAST)
    run = CampaignRun.objects.create(campaign=other, key="other:1")

    with pytest.raises(NotFound):
        campaign_report(campaign=campaign, now=now, run_id=run.pk)


def test_a_split_far_from_the_plan_is_flagged(campaign, store, delivered_at, now):
    reached = MemberFactory.create_batch(60, home_store=store)
    held = MemberFactory.create_batch(40, home_store=store)
    _recipients(campaign, reached, held_out=False, at=delivered_at)
    _recipients(campaign, held, held_out=True, at=delivered_at)

    report = campaign_report(campaign=campaign, now=now)

    # 40 of 100 held out, 20 planned: chi-square 20^2/20 + 20^2/80 = 25, p = 5.7e-7
    assert report.sample_ratio.chi_square == pytest.approx(25)
    assert report.sample_ratio.is_mismatch


def with_view_permission(user):
    """The roles get campaigns.view_campaign with the campaign admin; these tests grant it themselves."""
    user.user_permissions.add(Permission.objects.get(content_type__app_label="campaigns", codename="view_campaign"))
    return User.objects.get(pk=user.pk)  # a fresh instance: permissions are cached per instance


def test_a_manager_of_another_store_is_refused(campaign, now):
    manager = with_view_permission(UserFactory(role=Role.STORE_MANAGER, store=StoreFactory(code="kowloon")))

    with pytest.raises(CampaignPermissionDenied):
        campaign_report(campaign=campaign, now=now, user=manager)


def test_a_clerk_without_the_permission_is_refused(campaign, store, now):
    clerk = UserFactory(role=Role.CLERK, store=store)

    with pytest.raises(CampaignPermissionDenied):
        campaign_report(campaign=campaign, now=now, user=clerk)


def test_a_manager_of_the_campaigns_store_and_head_office_may_read_it(campaign, store, now):
    manager = with_view_permission(UserFactory(role=Role.STORE_MANAGER, store=store))
    head_office = UserFactory(role=Role.MERCHANT_ADMIN)

    assert campaign_report(campaign=campaign, now=now, user=manager).audience == 0
    assert campaign_report(campaign=campaign, now=now, user=head_office).audience == 0


def test_a_campaign_delivered_by_the_engine_is_reported(store, now):
    # given a 30 % hold-out delivered by campaign_deliver, then reached members buying more than held-out ones
    campaign = CampaignFactory(store=store, holdout_percent=30, lift_days=7, points_bonus=10)
    members = MemberFactory.create_batch(60, home_store=store)
    delivered_at = now - timedelta(days=10)
    campaign_deliver(campaign_id=campaign.pk, member_ids=[m.pk for m in members], occasion="run:1", now=delivered_at)
    rows = list(CampaignRecipient.objects.filter(campaign=campaign).order_by("member_id"))
    held = [row for row in rows if row.held_out]
    reached = [row for row in rows if not row.held_out]
    assert held
    assert reached
    buyers = reached[: len(reached) // 2] + held[:1]
    for row in buyers:
        _buy(row.member, store, delivered_at + timedelta(days=2))

    # when
    report = campaign_report(campaign=campaign, now=now)

    # then
    assert (report.audience, report.held_out) == (60, len(held))
    assert report.by_status == {"delivered": len(reached), "held_out": len(held)}
    assert report.points_granted == 10 * len(reached)
    assert report.deliveries[0] == DeliveryCount(INBOX, "delivered", len(reached))
    assert (report.treated_outcome.buyers, report.control_outcome.buyers) == (len(reached) // 2, 1)
    assert report.conversion.difference > 0
