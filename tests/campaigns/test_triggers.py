"""The event-driven kinds end to end: the domain signal (after commit), the receiver, the Celery task (eager here),
the trigger and campaign_deliver. Welcome on join, after a purchase above a minimum, on a tier upgrade only, and near
a store within its radius during a window, at most once per window."""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings

from campaigns.models import Campaign, CampaignRecipient, Segment
from campaigns.services.campaign_runs import campaign_launch, campaign_pause
from campaigns.services.triggers import (
    campaigns_trigger_after_purchase,
    campaigns_trigger_near_store,
    campaigns_trigger_welcome,
    distance_m,
)
from members.models import Member, Notification, OutboxMessage
from members.services.membership import member_join
from members.services.tiers import tier_override_set
from points.models import EarningRule, MultiplierWindow
from tests.campaigns.campaign_factories import CampaignFactory
from tests.factories import MemberFactory, StoreFactory, TierFactory, checkout_sale

pytestmark = pytest.mark.django_db
Kind = Campaign.Kind
Status = CampaignRecipient.Status
HK = ZoneInfo(settings.TIME_ZONE)
# A Wednesday morning in Hong Kong, and a Saturday one.
WEDNESDAY_0830 = datetime.datetime(2026, 12, 9, 8, 30, tzinfo=HK)
SATURDAY_0830 = datetime.datetime(2026, 12, 12, 8, 30, tzinfo=HK)
# Central, and a point about 200 m east of it, and one about 2 km away.
CENTRAL = (Decimal("22.281900"), Decimal("114.158100"))
NEAR = (22.2819, 114.16005)
FAR = (22.2819, 114.1775)


def consenting(**fields):
    return MemberFactory(consent_marketing=True, consent_sms=True, locale="en", **fields)


def recipients(campaign):
    return list(CampaignRecipient.objects.filter(campaign=campaign).values_list("member_id", "occasion", "status"))


# -- welcome ------------------------------------------------------------------------------------------------------
def test_a_member_who_joins_is_welcomed_once_after_commit(now, django_capture_on_commit_callbacks):
    campaign = CampaignFactory(kind=Kind.WELCOME, points_bonus=100)
    visitor = MemberFactory(status=Member.Status.VISITOR, joined_at=None, join_source="")

    with django_capture_on_commit_callbacks(execute=True):
        member_join(member_id=visitor.pk, source=Member.JoinSource.HOME_POPUP, now=now)
    campaigns_trigger_welcome(member_id=visitor.pk, now=now)  # a retried task

    assert recipients(campaign) == [(visitor.pk, "welcome", Status.DELIVERED)]
    assert Member.objects.get(pk=visitor.pk).points_balance == 100
    assert Notification.objects.filter(member=visitor, kind=Notification.Kind.CAMPAIGN).count() == 1


def test_a_paused_or_draft_welcome_campaign_welcomes_nobody(now, django_capture_on_commit_callbacks):
    CampaignFactory(kind=Kind.WELCOME, status=Campaign.Status.PAUSED)
    CampaignFactory(kind=Kind.WELCOME, status=Campaign.Status.DRAFT)
    visitor = MemberFactory(status=Member.Status.VISITOR, joined_at=None, join_source="")

    with django_capture_on_commit_callbacks(execute=True):
        member_join(member_id=visitor.pk, source=Member.JoinSource.HOME_POPUP, now=now)

    assert not CampaignRecipient.objects.exists()


def test_a_welcome_campaign_outside_its_dates_welcomes_nobody(now):
    today = now.astimezone(HK).date()
    CampaignFactory(kind=Kind.WELCOME, ends_on=today - datetime.timedelta(days=1))
    CampaignFactory(kind=Kind.WELCOME, starts_on=today + datetime.timedelta(days=1))

    assert campaigns_trigger_welcome(member_id=MemberFactory().pk, now=now) == {}


def test_a_welcome_reward_can_be_a_multiplier_window(now):
    campaign = CampaignFactory(kind=Kind.WELCOME, multiplier=Decimal(2), multiplier_days=7)
    member = MemberFactory()

    campaigns_trigger_welcome(member_id=member.pk, now=now)

    window = MultiplierWindow.objects.get(member=member)
    recipient = CampaignRecipient.objects.get(campaign=campaign)
    assert (window.multiplier, window.key) == (Decimal("2.00"), f"campaign:{recipient.pk}")
    assert window.ends_at - window.starts_at == datetime.timedelta(days=7)


def test_a_campaign_with_a_segment_welcomes_only_the_members_it_selects(now):
    gold = TierFactory(code="GOLD", rank=5)
    segment = Segment.objects.create(
        name="Gold", rule={"match": "all", "conditions": [{"field": "tier", "op": "in", "value": [gold.pk]}]}
    )
    campaign = CampaignFactory(kind=Kind.WELCOME, segment=segment)
    inside, outside = MemberFactory(tier=gold), MemberFactory()

    campaigns_trigger_welcome(member_id=inside.pk, now=now)
    campaigns_trigger_welcome(member_id=outside.pk, now=now)

    assert recipients(campaign) == [(inside.pk, "welcome", Status.DELIVERED)]


def test_a_store_campaign_welcomes_only_members_of_its_store(now):
    store = StoreFactory()
    campaign = CampaignFactory(kind=Kind.WELCOME, store=store)
    inside, outside = MemberFactory(home_store=store), MemberFactory()

    campaigns_trigger_welcome(member_id=inside.pk, now=now)
    campaigns_trigger_welcome(member_id=outside.pk, now=now)

    assert recipients(campaign) == [(inside.pk, "welcome", Status.DELIVERED)]


# -- after a purchase ---------------------------------------------------------------------------------------------
@pytest.fixture
def base_rule(db):
    return EarningRule.objects.create(
        name="HK$100 = 10 points", kind="base_rate", priority=10, amount_per_unit=Decimal(100), points_per_unit=10
    )


def test_a_purchase_at_or_above_the_minimum_triggers_the_campaign_once_per_purchase(
    now, base_rule, django_capture_on_commit_callbacks
):
    campaign = CampaignFactory(kind=Kind.AFTER_PURCHASE, params={"min_amount": "300.00"}, channels=["sms"])
    member, store = consenting(), StoreFactory()

    with django_capture_on_commit_callbacks(execute=True):
        big = checkout_sale(store=store, member=member, now=now, external_id="S-1", gross_amount=Decimal("300.00"))
    with django_capture_on_commit_callbacks(execute=True):
        checkout_sale(store=store, member=member, now=now, external_id="S-2", gross_amount=Decimal("299.99"))
    campaigns_trigger_after_purchase(purchase_id=big.purchase.pk, now=now)  # a retried task

    assert recipients(campaign) == [(member.pk, f"purchase:{big.purchase.pk}", Status.DELIVERED)]
    assert OutboxMessage.objects.filter(notification__member=member, channel=OutboxMessage.Channel.SMS).count() == 1


def test_the_minimum_counts_what_was_spent_after_discounts(now, base_rule):
    campaign = CampaignFactory(kind=Kind.AFTER_PURCHASE, params={"min_amount": "300.00"})
    member, store = consenting(), StoreFactory()
    sale = checkout_sale(
        store=store, member=member, now=now, external_id="S-1", gross_amount=Decimal(350), discount_amount=Decimal(60)
    )

    assert campaigns_trigger_after_purchase(purchase_id=sale.purchase.pk, now=now) == {}
    assert recipients(campaign) == []


def test_an_anonymous_sale_triggers_nothing(now, base_rule):
    CampaignFactory(kind=Kind.AFTER_PURCHASE)
    sale = checkout_sale(store=StoreFactory(), now=now, external_id="S-1", gross_amount=Decimal(500))

    assert campaigns_trigger_after_purchase(purchase_id=sale.purchase.pk, now=now) == {}


def test_a_member_without_marketing_consent_gets_the_inbox_message_only(now, base_rule):
    campaign = CampaignFactory(kind=Kind.AFTER_PURCHASE, channels=["sms"])
    member = MemberFactory(consent_marketing=False, consent_sms=True)
    sale = checkout_sale(store=StoreFactory(), member=member, now=now, external_id="S-1", gross_amount=Decimal(500))

    campaigns_trigger_after_purchase(purchase_id=sale.purchase.pk, now=now)

    assert recipients(campaign) == [(member.pk, f"purchase:{sale.purchase.pk}", Status.DELIVERED)]
    assert Notification.objects.filter(member=member, kind=Notification.Kind.CAMPAIGN).count() == 1
    assert not OutboxMessage.objects.filter(notification__member=member).exists()


@pytest.fixture
def purchase_watched(monkeypatch, django_capture_on_commit_callbacks, django_assert_max_num_queries):
    """Record a purchase: return how many after-purchase trigger tasks it enqueued and the SQL it ran."""
    from campaigns.tasks import trigger_after_purchase

    enqueued = []
    monkeypatch.setattr(trigger_after_purchase, "delay", lambda **kwargs: enqueued.append(kwargs))

    def purchase(*, member, store, now, external_id):
        enqueued.clear()
        with django_capture_on_commit_callbacks(execute=True), django_assert_max_num_queries(100) as queries:
            checkout_sale(store=store, member=member, now=now, external_id=external_id, gross_amount=Decimal(500))
        return len(enqueued), [query["sql"] for query in queries.captured_queries]

    return purchase


def test_with_no_campaign_running_a_purchase_reads_no_campaign_and_enqueues_nothing(now, base_rule, purchase_watched):
    CampaignFactory(kind=Kind.AFTER_PURCHASE, status=Campaign.Status.PAUSED)
    member, store = consenting(), StoreFactory()
    purchase_watched(member=member, store=store, now=now, external_id="S-0")  # the first asks the database

    enqueued, queries = purchase_watched(member=member, store=store, now=now, external_id="S-1")

    assert enqueued == 0
    assert not [sql for sql in queries if "campaigns_campaign" in sql]


def test_launching_pausing_adding_and_deleting_campaigns_are_seen_by_the_next_purchase(
    now, base_rule, admin_user, purchase_watched
):
    member, store = consenting(), StoreFactory()
    campaign = CampaignFactory(kind=Kind.AFTER_PURCHASE, status=Campaign.Status.DRAFT)
    steps = [
        lambda: None,
        lambda: campaign_launch(campaign_id=campaign.pk, user=admin_user, now=now),
        lambda: campaign_pause(campaign_id=campaign.pk, user=admin_user, now=now),
        lambda: CampaignFactory(kind=Kind.AFTER_PURCHASE),
        lambda: Campaign.objects.filter(kind=Kind.AFTER_PURCHASE).delete(),
    ]
    enqueued = []
    for number, step in enumerate(steps):
        step()
        enqueued.append(purchase_watched(member=member, store=store, now=now, external_id=f"S-{number}")[0])

    assert enqueued == [0, 1, 0, 1, 0]


# -- tier upgrade -------------------------------------------------------------------------------------------------
@pytest.fixture
def tiers(db):
    return TierFactory(code="T1", rank=1), TierFactory(code="T2", rank=2), TierFactory(code="T3", rank=3)


def move(member, tier, now, capture):
    with capture(execute=True):
        return tier_override_set(
            member_id=member.pk, tier_id=tier.pk, until=now + datetime.timedelta(days=30), reason="test",
            created_by=None, now=now,
        )  # fmt: skip


def test_an_upgrade_triggers_the_campaign_and_a_downgrade_does_not(now, tiers, django_capture_on_commit_callbacks):
    low, middle, _high = tiers
    campaign = CampaignFactory(kind=Kind.TIER_UPGRADE, points_bonus=20)
    member = MemberFactory(tier=low)

    up = move(member, middle, now, django_capture_on_commit_callbacks)
    move(member, low, now, django_capture_on_commit_callbacks)

    assert recipients(campaign) == [(member.pk, f"tier:{up.pk}", Status.DELIVERED)]
    assert Member.objects.get(pk=member.pk).points_balance == 20


def test_each_upgrade_is_its_own_occasion_and_params_tiers_limit_which(now, tiers, django_capture_on_commit_callbacks):
    low, middle, high = tiers
    any_upgrade = CampaignFactory(kind=Kind.TIER_UPGRADE)
    to_top = CampaignFactory(kind=Kind.TIER_UPGRADE, params={"tiers": [high.pk]})
    member = MemberFactory(tier=low)

    first = move(member, middle, now, django_capture_on_commit_callbacks)
    second = move(member, high, now, django_capture_on_commit_callbacks)

    assert sorted(occasion for _m, occasion, _s in recipients(any_upgrade)) == [f"tier:{first.pk}", f"tier:{second.pk}"]
    assert recipients(to_top) == [(member.pk, f"tier:{second.pk}", Status.DELIVERED)]


# -- near a store -------------------------------------------------------------------------------------------------
@pytest.fixture
def central(db):
    return StoreFactory(code="central", latitude=CENTRAL[0], longitude=CENTRAL[1])


def near_store_campaign(store, **params):
    return CampaignFactory(
        kind=Kind.NEAR_STORE,
        store=store,
        params={"radius_m": 300, "windows": [["08:00", "09:00"], ["18:00", "19:00"]], "weekdays_only": True, **params},
        points_bonus=10,
    )


def test_distance_is_measured_on_the_earth():
    assert 190 < distance_m(*map(float, CENTRAL), *NEAR) < 210
    assert 1900 < distance_m(*map(float, CENTRAL), *FAR) < 2100


def test_a_member_near_the_store_in_a_window_gets_its_offer_once_per_window(central):
    campaign = near_store_campaign(central)
    member = MemberFactory(home_store=central)

    first = campaigns_trigger_near_store(member_id=member.pk, latitude=NEAR[0], longitude=NEAR[1], now=WEDNESDAY_0830)
    again = campaigns_trigger_near_store(
        member_id=member.pk, latitude=NEAR[0], longitude=NEAR[1], now=WEDNESDAY_0830 + datetime.timedelta(minutes=20)
    )
    evening = campaigns_trigger_near_store(
        member_id=member.pk, latitude=NEAR[0], longitude=NEAR[1], now=WEDNESDAY_0830 + datetime.timedelta(hours=10)
    )

    assert [offer.result.delivered for offer in (*first, *again, *evening)] == [1, 0, 1]
    assert sorted(occasion for _m, occasion, _s in recipients(campaign)) == [
        f"near:{central.pk}:2026-12-09:08:00",
        f"near:{central.pk}:2026-12-09:18:00",
    ]
    assert Member.objects.get(pk=member.pk).points_balance == 20


@pytest.mark.parametrize(
    ("where", "when"),
    [
        (FAR, WEDNESDAY_0830),  # beyond the radius
        (NEAR, WEDNESDAY_0830 + datetime.timedelta(hours=1)),  # 09:30: between the windows
        (NEAR, SATURDAY_0830),  # weekdays only
    ],
)
def test_no_offer_beyond_the_radius_outside_the_windows_or_on_a_weekend(central, where, when):
    campaign = near_store_campaign(central)
    member = MemberFactory(home_store=central)

    assert campaigns_trigger_near_store(member_id=member.pk, latitude=where[0], longitude=where[1], now=when) == []
    assert recipients(campaign) == []


def test_a_brand_wide_campaign_reaches_a_member_once_per_window_near_any_store(central):
    east = StoreFactory(code="east", latitude=Decimal("22.281900"), longitude=Decimal("114.162000"))
    campaign = near_store_campaign(None)
    member = MemberFactory()

    campaigns_trigger_near_store(member_id=member.pk, latitude=NEAR[0], longitude=NEAR[1], now=WEDNESDAY_0830)
    campaigns_trigger_near_store(
        member_id=member.pk, latitude=22.2819, longitude=114.1625, now=WEDNESDAY_0830 + datetime.timedelta(minutes=5)
    )

    assert recipients(campaign) == [(member.pk, f"near:{central.pk}:2026-12-09:08:00", Status.DELIVERED)]
    assert east.pk != central.pk


def test_a_stores_near_store_offer_is_for_its_own_members_only(central):
    # A store's campaign is that store's offer to the members whose home store it is (the campaign's store means
    # this for every kind, and it is the scope its staff see): a member of another store standing at its door in the
    # window gets nothing from it, while the brand-wide campaign reaches them.
    other = StoreFactory(code="other")
    stores_offer = near_store_campaign(central)
    brand_offer = near_store_campaign(None)
    visitor = MemberFactory(home_store=other)

    offers = campaigns_trigger_near_store(member_id=visitor.pk, latitude=NEAR[0], longitude=NEAR[1], now=WEDNESDAY_0830)

    assert [offer.campaign.pk for offer in offers] == [brand_offer.pk]
    assert recipients(stores_offer) == []
    assert recipients(brand_offer) == [(visitor.pk, f"near:{central.pk}:2026-12-09:08:00", Status.DELIVERED)]


def test_a_stores_member_near_another_store_gets_nothing_from_their_own_stores_campaign(central):
    StoreFactory(code="east", latitude=Decimal("22.281900"), longitude=Decimal("114.162000"))
    campaign = near_store_campaign(central)
    member = MemberFactory(home_store=central)

    near_east = campaigns_trigger_near_store(
        member_id=member.pk, latitude=22.2819, longitude=114.1625, now=WEDNESDAY_0830
    )

    assert near_east == []
    assert recipients(campaign) == []


def test_the_location_api_gives_no_offer_of_another_store(member_client, central):
    local = datetime.datetime.now(HK)
    start = local.replace(minute=0, second=0, microsecond=0)
    end = "23:59" if start.hour == 23 else f"{start.hour + 1:02d}:00"
    campaign = near_store_campaign(central, windows=[[f"{start.hour:02d}:00", end]], weekdays_only=False)
    visitor = MemberFactory(home_store=StoreFactory(code="other"))

    response = member_client(visitor).post(URL, {"latitude": NEAR[0], "longitude": NEAR[1]}, format="json")

    assert (response.status_code, response.json()) == (200, {"offers": []})
    assert not CampaignRecipient.objects.filter(campaign=campaign).exists()


# -- the API ------------------------------------------------------------------------------------------------------
URL = "/api/v1/me/location"


def test_the_location_api_refuses_an_unauthenticated_report(api_client):
    response = api_client.post(URL, {"latitude": NEAR[0], "longitude": NEAR[1]}, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"not_authenticated", "authentication_failed"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"latitude": 91, "longitude": 114.16}, "latitude"),
        ({"latitude": 22.28, "longitude": -181}, "longitude"),
        ({"latitude": "north", "longitude": 114.16}, "latitude"),
        ({"longitude": 114.16}, "latitude"),
        ({"latitude": 22.28, "longitude": 114.16, "accuracy": 5}, "accuracy"),
    ],
)
def test_the_location_api_refuses_bad_coordinates_naming_the_field(member_client, body, field):
    response = member_client(MemberFactory()).post(URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    assert field in response.json()["error"]["fields"]


def test_the_location_api_answers_the_offers_it_delivered(member_client, central):
    local = datetime.datetime.now(HK)
    start = local.replace(minute=0, second=0, microsecond=0)
    end = "23:59" if start.hour == 23 else f"{start.hour + 1:02d}:00"
    campaign = near_store_campaign(central, windows=[[f"{start.hour:02d}:00", end]], weekdays_only=False)
    member = MemberFactory(home_store=central)
    client = member_client(member)

    first = client.post(URL, {"latitude": NEAR[0], "longitude": NEAR[1]}, format="json")
    again = client.post(URL, {"latitude": NEAR[0], "longitude": NEAR[1]}, format="json")

    assert first.status_code == 200, first.json()
    [offer] = first.json()["offers"]
    assert (offer["campaign_id"], offer["store_code"]) == (campaign.pk, "central")
    assert 190 < offer["distance_m"] < 210
    assert again.json() == {"offers": []}
    assert CampaignRecipient.objects.filter(campaign=campaign, member=member).count() == 1


def test_the_location_api_is_throttled_per_member(member_client, settings):
    settings.MEMBER_LOCATION_THROTTLE = "2/min"
    client = member_client(MemberFactory())

    answers = [client.post(URL, {"latitude": 22.0, "longitude": 114.0}, format="json").status_code for _ in range(3)]

    assert answers == [200, 200, 429]
