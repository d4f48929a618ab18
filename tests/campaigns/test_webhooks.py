"""Outbound webhooks: events from the domain signals, signed (the fake receiver checks the HMAC), retried with
back-off until sent or dead, once per endpoint and event, scoped to the endpoint's store."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from campaigns.channels.webhooks import WebhookEventDraft, webhook_due_ids, webhook_events_record, webhook_send
from campaigns.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from members import signals
from members.services.membership import member_join
from tests.factories import MemberFactory, StoreFactory, TierFactory

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 6, 1, 12, 0, tzinfo=ZoneInfo("Asia/Hong_Kong"))
Status = WebhookDelivery.Status


def endpoint_for(receiver, *, events, store=None, secret=None):
    return WebhookEndpoint.objects.create(
        name="CRM", url=receiver.base_url + "/hooks", secret=secret or receiver.secret, events=events, store=store
    )


def deliver_until_done(now, *, rounds=60):
    for _ in range(rounds):
        for delivery_id in webhook_due_ids(now=now, limit=1000):
            webhook_send(delivery_id=delivery_id, now=now)
        if not WebhookDelivery.objects.filter(status=Status.PENDING).exists():
            return
        now += timedelta(days=1)
    raise AssertionError("the webhooks did not drain")


def test_a_member_joining_is_posted_signed_and_the_receiver_verifies_the_signature(
    fake_webhook_receiver, django_capture_on_commit_callbacks
):
    # given an endpoint for joins, and a visitor with a phone
    endpoint_for(fake_webhook_receiver, events=[WebhookEvent.MEMBER_JOINED])
    store = StoreFactory(code="central")
    visitor = MemberFactory(status="visitor", home_store=store)

    # when the member joins (the signal goes after commit)
    with django_capture_on_commit_callbacks(execute=True):
        member_join(member_id=visitor.pk, source="console", now=NOON)

    # then the receiver got it once, with a valid signature
    assert fake_webhook_receiver.bad_signatures == 0
    [(delivery_id, body)] = fake_webhook_receiver.received.items()
    assert body["event"] == "member.joined"
    assert body["data"]["member_number"] == visitor.member_number
    assert body["data"]["home_store"] == "central"
    delivery = WebhookDelivery.objects.get()
    assert (str(delivery.pk), delivery.status, delivery.store_id) == (delivery_id, Status.SENT, store.pk)


def test_a_tier_change_is_posted_with_the_tiers_codes(fake_webhook_receiver, django_capture_on_commit_callbacks):
    endpoint_for(fake_webhook_receiver, events=[WebhookEvent.TIER_CHANGED])
    member, silver, gold = MemberFactory(), TierFactory(code="silver"), TierFactory(code="gold")

    with django_capture_on_commit_callbacks(execute=True):
        signals.tier_changed.send(
            sender=None,
            changes=[{"member_id": member.pk, "old_tier_id": silver.pk, "new_tier_id": gold.pk, "reason": "upgrade"}],
        )

    [body] = fake_webhook_receiver.received.values()
    assert body["data"] | {"changed_at": None} == {
        "member_number": member.member_number, "old_tier": "silver", "new_tier": "gold", "reason": "upgrade",
        "changed_at": None,
    }  # fmt: skip


def test_a_tier_change_of_a_member_deleted_before_the_signal_is_skipped_and_the_others_are_posted(
    fake_webhook_receiver, django_capture_on_commit_callbacks
):
    endpoint_for(fake_webhook_receiver, events=[WebhookEvent.TIER_CHANGED])
    kept, deleted, gold = MemberFactory(), MemberFactory(), TierFactory(code="gold")
    changes = [
        {"member_id": member.pk, "old_tier_id": None, "new_tier_id": gold.pk, "reason": "upgrade"}
        for member in (deleted, kept)
    ]
    deleted.delete()  # between the commit of the moves and their signal

    with django_capture_on_commit_callbacks(execute=True):
        signals.tier_changed.send(sender=None, changes=changes)

    [body] = fake_webhook_receiver.received.values()
    assert body["data"]["member_number"] == kept.member_number


def test_a_receiver_failing_30_percent_gets_every_event_exactly_once(fake_webhook_receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 30
    fake_webhook_receiver.fail_ratio = 0.3
    endpoint_for(fake_webhook_receiver, events=[WebhookEvent.PURCHASE_RECORDED])
    drafts = [WebhookEventDraft(key=f"purchase.recorded:{n}", payload={"n": n}) for n in range(20)]
    webhook_events_record(event=WebhookEvent.PURCHASE_RECORDED, drafts=drafts, now=NOON)

    deliver_until_done(NOON)

    assert sorted(body["data"]["n"] for body in fake_webhook_receiver.received.values()) == list(range(20))
    assert set(fake_webhook_receiver.received_count.values()) == {1}
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {Status.SENT}
    assert WebhookDelivery.objects.filter(attempts__gt=1).exists()  # the failures were real


def test_a_bad_signature_is_refused_by_the_receiver_and_retried_with_back_off_until_dead(
    fake_webhook_receiver, settings
):
    settings.WEBHOOK_MAX_ATTEMPTS, settings.WEBHOOK_RETRY_SECONDS = 3, 60
    endpoint_for(fake_webhook_receiver, events=[WebhookEvent.COUPON_ISSUED], secret="not-the-receivers")
    webhook_events_record(event=WebhookEvent.COUPON_ISSUED, drafts=[WebhookEventDraft(key="c1", payload={})], now=NOON)

    webhook_send(delivery_id=WebhookDelivery.objects.get().pk, now=NOON)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.attempts, delivery.next_attempt_at, delivery.last_status_code) == (
        1, NOON + timedelta(seconds=60), 401,
    )  # fmt: skip
    deliver_until_done(NOON)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Status.FAILED, 3)
    assert fake_webhook_receiver.bad_signatures == 3
    assert fake_webhook_receiver.received == {}


def test_an_endpoint_of_a_store_gets_only_that_stores_events(fake_webhook_receiver):
    store_a, store_b = StoreFactory(), StoreFactory()
    of_a = endpoint_for(fake_webhook_receiver, events=[WebhookEvent.PURCHASE_RECORDED], store=store_a)
    endpoint_for(fake_webhook_receiver, events=[WebhookEvent.PURCHASE_RECORDED], store=store_b)
    brand = endpoint_for(fake_webhook_receiver, events=[WebhookEvent.PURCHASE_RECORDED])

    webhook_events_record(
        event=WebhookEvent.PURCHASE_RECORDED,
        drafts=[WebhookEventDraft(key="p1", payload={}, store_id=store_a.pk)],
        now=NOON,
    )

    assert set(WebhookDelivery.objects.values_list("endpoint_id", flat=True)) == {of_a.pk, brand.pk}


def test_an_event_recorded_twice_is_delivered_once(fake_webhook_receiver):
    endpoint_for(fake_webhook_receiver, events=[WebhookEvent.COUPON_REDEEMED])
    draft = WebhookEventDraft(key="coupon.redeemed:7", payload={"coupon": 7})

    webhook_events_record(event=WebhookEvent.COUPON_REDEEMED, drafts=[draft], now=NOON)
    webhook_events_record(event=WebhookEvent.COUPON_REDEEMED, drafts=[draft], now=NOON)
    deliver_until_done(NOON)

    assert WebhookDelivery.objects.count() == 1
    assert len(fake_webhook_receiver.received) == 1


def test_an_endpoint_that_does_not_ask_for_an_event_gets_nothing(fake_webhook_receiver):
    endpoint_for(fake_webhook_receiver, events=[WebhookEvent.MEMBER_JOINED])

    webhook_events_record(event=WebhookEvent.COUPON_ISSUED, drafts=[WebhookEventDraft(key="c", payload={})], now=NOON)

    assert not WebhookDelivery.objects.exists()


def test_endpoints_added_changed_or_deleted_in_bulk_are_seen_by_the_next_event(fake_webhook_receiver):
    def recorded(key):
        draft = WebhookEventDraft(key=key, payload={})
        return webhook_events_record(event=WebhookEvent.MEMBER_JOINED, drafts=[draft], now=NOON)

    assert recorded("a") == 0  # caches "no endpoint"
    endpoint = endpoint_for(fake_webhook_receiver, events=[WebhookEvent.MEMBER_JOINED])
    assert recorded("b") == 1
    endpoint.is_active = False
    endpoint.save()
    assert recorded("c") == 0
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=True)
    WebhookEndpoint.objects.get(pk=endpoint.pk).save()
    assert recorded("d") == 1
    WebhookEndpoint.objects.all().delete()  # a queryset's delete, as the console's bulk action
    assert recorded("e") == 0


def test_a_coupon_issued_by_the_coupon_service_is_posted(fake_webhook_receiver, django_capture_on_commit_callbacks):
    from coupons.services import coupon_template_issue_to_member
    from tests.coupons.factories import CouponTemplateFactory

    endpoint_for(fake_webhook_receiver, events=[WebhookEvent.COUPON_ISSUED])
    member = MemberFactory()

    with django_capture_on_commit_callbacks(execute=True):
        coupon = coupon_template_issue_to_member(
            template_id=CouponTemplateFactory().pk, member_id=member.pk, source="manual", now=NOON
        )

    [body] = fake_webhook_receiver.received.values()
    assert body["event"] == "coupon.issued"
    assert (body["data"]["code"], body["data"]["member_number"]) == (coupon.code, member.member_number)


def test_points_expiring_reminders_are_posted_once_per_reminder(
    fake_webhook_receiver, django_capture_on_commit_callbacks
):
    endpoint_for(fake_webhook_receiver, events=[WebhookEvent.POINTS_EXPIRING])
    member = MemberFactory()
    reminder = {"member_id": member.pk, "points": 120, "days": 30, "expires_on": "2026-07-01", "key": "pe:1"}

    with django_capture_on_commit_callbacks(execute=True):
        signals.points_expiring.send(sender=None, reminders=[reminder])
        signals.points_expiring.send(sender=None, reminders=[reminder])  # the job ran twice

    [body] = fake_webhook_receiver.received.values()
    assert body["data"] == {
        "member_number": member.member_number,
        "points": 120,
        "days": 30,
        "expires_on": "2026-07-01",
    }


def test_an_inactive_endpoints_deliveries_wait_without_blocking_the_others(fake_webhook_receiver):
    paused = endpoint_for(fake_webhook_receiver, events=[WebhookEvent.COUPON_ISSUED])
    active = endpoint_for(fake_webhook_receiver, events=[WebhookEvent.COUPON_ISSUED])
    webhook_events_record(event=WebhookEvent.COUPON_ISSUED, drafts=[WebhookEventDraft(key="c", payload={})], now=NOON)
    WebhookEndpoint.objects.filter(pk=paused.pk).update(is_active=False)

    due = webhook_due_ids(now=NOON, limit=1)

    assert due == [WebhookDelivery.objects.get(endpoint=active).pk]


def test_a_delivery_keeps_its_members_number_beside_the_payload_for_an_erasure_to_find(fake_webhook_receiver):
    endpoint_for(fake_webhook_receiver, events=[WebhookEvent.PURCHASE_RECORDED])
    drafts = [
        WebhookEventDraft(key="p1", payload={"member_number": "1000042", "total": "88.00"}),
        WebhookEventDraft(key="p2", payload={"total": "12.00"}),
    ]

    webhook_events_record(event=WebhookEvent.PURCHASE_RECORDED, drafts=drafts, now=NOON)

    numbers = dict(WebhookDelivery.objects.values_list("event_key", "member_number"))
    assert numbers == {"p1": "1000042", "p2": ""}


def test_a_merchant_admin_of_one_store_makes_endpoints_of_their_store_only(client):
    # given a merchant admin limited to store A, and a brand-wide endpoint (every store's members' events)
    from members.models import Role
    from tests.factories import UserFactory

    store_a, store_b = StoreFactory(), StoreFactory()
    brand = WebhookEndpoint.objects.create(name="Brand CRM", url="https://crm.example.com/h", events=["member.joined"])
    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN, store=store_a))
    form = {"name": "Mine", "url": "https://mine.example.com/h", "events": ["member.joined"], "is_active": "on"}

    # when they list the endpoints, and add one without a store, then one for store B
    listed = client.get("/console/campaigns/webhookendpoint/")
    without_store = client.post("/console/campaigns/webhookendpoint/add/", form)
    for_store_b = client.post("/console/campaigns/webhookendpoint/add/", {**form, "store": store_b.pk})
    for_store_a = client.post("/console/campaigns/webhookendpoint/add/", {**form, "store": store_a.pk})

    # then the brand's endpoint is not theirs to see, and only their store's endpoint is made: one without a store
    # would receive the events of every store's members
    assert brand not in listed.context["cl"].result_list
    assert "store" in without_store.context["adminform"].form.errors
    assert "store" in for_store_b.context["adminform"].form.errors
    assert for_store_a.status_code == 302
    assert list(WebhookEndpoint.objects.exclude(pk=brand.pk).values_list("name", "store")) == [("Mine", store_a.pk)]
