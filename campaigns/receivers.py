"""Reactions of campaigns to the domain signals of members/signals.py (sent after commit): webhook events, and the
event-driven campaign kinds.

Each webhook receiver builds the event's payload from the rows the signal names and records it for the endpoints
that asked for it (campaigns.channels.webhooks), then queues their delivery. The campaign receivers only enqueue the
trigger task of their kind (campaigns.services.triggers) when a campaign of it is running. Nothing here changes the
domain.
"""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from campaigns.channels.webhooks import (
    WebhookEventDraft,
    webhook_endpoints_for,
    webhook_endpoints_forget,
    webhook_events_record,
)
from campaigns.models import Campaign, WebhookEndpoint, WebhookEvent
from campaigns.selectors.running_kinds import campaign_kind_is_running, running_kinds_forget
from members import signals
from members.models import Member, Purchase, Tier


def _queue_delivery(endpoint_ids):
    from campaigns.tasks import deliver_webhooks_to_endpoint

    # A chunk task per endpoint concerned (an indexed look at its own due deliveries), not a scan of every one.
    for endpoint_id in endpoint_ids:
        transaction.on_commit(lambda pk=endpoint_id: deliver_webhooks_to_endpoint.delay(endpoint_id=pk))


def _record(event, drafts):
    if webhook_events_record(event=event, drafts=drafts, now=timezone.now()):
        _queue_delivery(sorted({endpoint_id for endpoint_id, _store in webhook_endpoints_for(event)}))


def _member_payload(member: Member) -> dict:
    return {
        "member_number": member.member_number,
        "phone": member.phone or "",
        "email": member.email,
        "name": member.name,
        "tier": member.tier.code if member.tier_id else None,
        "home_store": member.home_store.code if member.home_store_id else None,
    }


def on_member_joined(sender, *, member_id, source, **kwargs):
    if not webhook_endpoints_for(WebhookEvent.MEMBER_JOINED):
        return
    member = Member.objects.select_related("tier", "home_store").get(pk=member_id)
    payload = {**_member_payload(member), "source": source, "joined_at": member.joined_at}
    _record(
        WebhookEvent.MEMBER_JOINED,
        [WebhookEventDraft(key=f"member.joined:{member_id}", payload=payload, store_id=member.home_store_id)],
    )


def on_tier_changed(sender, *, changes, **kwargs):
    if not webhook_endpoints_for(WebhookEvent.TIER_CHANGED):
        return
    now = timezone.now()
    # Two reads for all the moves of a review chunk (thousands), not two per move.
    members = {
        pk: (number, store_id)
        for pk, number, store_id in Member.objects.filter(
            pk__in=[change["member_id"] for change in changes]
        ).values_list("pk", "member_number", "home_store_id")
    }
    tier_ids = {change[key] for change in changes for key in ("old_tier_id", "new_tier_id")}
    codes = dict(Tier.objects.filter(pk__in=tier_ids - {None}).values_list("pk", "code"))
    drafts = []
    for change in changes:
        member_id, old_tier_id, new_tier_id = change["member_id"], change["old_tier_id"], change["new_tier_id"]
        if member_id not in members:
            continue  # deleted since the move was committed (e.g. a visitor merged into a member): nothing to announce
        number, store_id = members[member_id]
        payload = {
            "member_number": number,
            "old_tier": codes.get(old_tier_id),
            "new_tier": codes.get(new_tier_id),
            "reason": change["reason"],
            "changed_at": now,
        }
        key = f"member.tier_changed:{member_id}:{old_tier_id}:{new_tier_id}:{now:%Y%m%dT%H%M%S.%f}"
        drafts.append(WebhookEventDraft(key=key, payload=payload, store_id=store_id))
    _record(WebhookEvent.TIER_CHANGED, drafts)


def on_purchase_recorded(sender, *, purchase_id, member_id, **kwargs):
    if not webhook_endpoints_for(WebhookEvent.PURCHASE_RECORDED):
        return
    purchase = Purchase.objects.select_related("store", "member").get(pk=purchase_id)
    payload = {
        "purchase_id": purchase.pk,
        "external_id": purchase.external_id,
        "channel": purchase.channel,
        "store": purchase.store.code,
        "member_number": purchase.member.member_number if purchase.member_id else None,
        "purchased_at": purchase.purchased_at,
        "gross_amount": purchase.gross_amount,
        "discount_amount": purchase.discount_amount,
        "paid_amount": purchase.paid_amount,
    }
    _record(
        WebhookEvent.PURCHASE_RECORDED,
        [WebhookEventDraft(key=f"purchase.recorded:{purchase_id}", payload=payload, store_id=purchase.store_id)],
    )


def on_coupons_issued(sender, *, coupon_ids, **kwargs):
    if not webhook_endpoints_for(WebhookEvent.COUPON_ISSUED):
        return
    _record(WebhookEvent.COUPON_ISSUED, [_coupon_draft(coupon, "coupon.issued") for coupon in _coupons(coupon_ids)])


def on_coupon_redeemed(sender, *, coupon_id, member_id, **kwargs):
    if not webhook_endpoints_for(WebhookEvent.COUPON_REDEEMED):
        return
    [coupon] = _coupons([coupon_id])
    draft = _coupon_draft(coupon, "coupon.redeemed", store_id=coupon.redeemed_store_id)
    draft.payload.update(
        redeemed_at=coupon.redeemed_at,
        store=coupon.redeemed_store.code if coupon.redeemed_store_id else None,
        purchase_id=coupon.redeemed_purchase_id,
        discount_amount=coupon.discount_amount,
    )
    _record(WebhookEvent.COUPON_REDEEMED, [draft])


def _coupons(coupon_ids):
    from coupons.models import Coupon

    return list(
        Coupon.objects.filter(pk__in=coupon_ids).select_related("template", "member", "redeemed_store").order_by("pk")
    )


def _coupon_draft(coupon, prefix, *, store_id=None) -> WebhookEventDraft:
    payload = {
        "coupon_id": coupon.pk,
        "code": coupon.code,
        "template": coupon.template.name,
        "member_number": coupon.member.member_number,
        "issued_at": coupon.issued_at,
        "valid_until": coupon.valid_until,
    }
    store_id = store_id if store_id is not None else coupon.member.home_store_id
    return WebhookEventDraft(key=f"{prefix}:{coupon.pk}", payload=payload, store_id=store_id)


def on_points_expiring(sender, *, reminders, **kwargs):
    if not webhook_endpoints_for(WebhookEvent.POINTS_EXPIRING):
        return
    members = {
        row["pk"]: row
        for row in Member.objects.filter(pk__in=[r["member_id"] for r in reminders]).values(
            "pk", "member_number", "home_store_id"
        )
    }
    drafts = [
        WebhookEventDraft(
            key=f"points.expiring:{reminder['key']}",
            payload={
                "member_number": members[reminder["member_id"]]["member_number"],
                "points": reminder["points"],
                "days": reminder["days"],
                "expires_on": reminder["expires_on"],
            },
            store_id=members[reminder["member_id"]]["home_store_id"],
        )
        for reminder in reminders
        if reminder["member_id"] in members
    ]
    _record(WebhookEvent.POINTS_EXPIRING, drafts)


# -- the event-driven campaign kinds: enqueue their trigger task when a campaign of the kind is running ------------
# Asked of the shared cache (campaigns.selectors.running_kinds): while no campaign of the kind runs, a purchase, a
# join or a tier move enqueues nothing and reads nothing.
def _forget(forget):
    """Return a post_save / post_delete receiver that drops a cached read (the running kinds, the active webhook
    endpoints) now and again once committed: a purchase reading in between may have cached the state before the
    commit. A signal, not a model method, so that a queryset's delete (the console's bulk action) forgets too."""

    def receiver(sender, **kwargs):
        forget()
        transaction.on_commit(forget)

    return receiver


on_campaign_changed = _forget(running_kinds_forget)
on_webhook_endpoint_changed = _forget(webhook_endpoints_forget)


def _enqueue(task, **kwargs):
    transaction.on_commit(lambda: task.delay(**kwargs))


def on_member_joined_campaigns(sender, *, member_id, **kwargs):
    from campaigns.tasks import trigger_welcome

    if campaign_kind_is_running(Campaign.Kind.WELCOME):
        _enqueue(trigger_welcome, member_id=member_id)


def on_purchase_recorded_campaigns(sender, *, purchase_id, member_id, **kwargs):
    from campaigns.tasks import trigger_after_purchase

    if member_id is not None and campaign_kind_is_running(Campaign.Kind.AFTER_PURCHASE):
        _enqueue(trigger_after_purchase, purchase_id=purchase_id)


def on_tier_changed_campaigns(sender, *, changes, **kwargs):
    from campaigns.tasks import TIER_MOVES_PER_TASK, trigger_tier_upgrade

    moves = [
        {key: change[key] for key in ("member_id", "old_tier_id", "new_tier_id")}
        for change in changes
        if change["new_tier_id"] is not None
    ]
    if moves and campaign_kind_is_running(Campaign.Kind.TIER_UPGRADE):
        for start in range(0, len(moves), TIER_MOVES_PER_TASK):
            _enqueue(trigger_tier_upgrade, moves=moves[start : start + TIER_MOVES_PER_TASK])


def on_points_expiring_campaigns(sender, *, reminders, **kwargs):
    from django.conf import settings

    from campaigns.tasks import trigger_points_expiring

    # Points wrote no message of its own in this mode: the campaign (the default one if none exists) delivers it.
    if settings.POINTS_EXPIRY_REMINDERS_BY_CAMPAIGN and reminders:
        _enqueue(trigger_points_expiring, reminders=reminders)


def on_coupon_expiring_campaigns(sender, *, reminders, **kwargs):
    from django.conf import settings

    from campaigns.tasks import trigger_coupon_expiring

    # Coupons wrote no message of its own in this mode: the campaign (the default one if none exists) delivers it.
    if settings.COUPON_EXPIRY_REMINDERS_BY_CAMPAIGN and reminders:
        _enqueue(trigger_coupon_expiring, reminders=reminders)


def on_member_anonymising(sender, *, member_id, member_number, addresses, **kwargs):
    # Inside the anonymisation's transaction (members/signals.py): the erasure commits or rolls back with it.
    from campaigns.services.erasure import member_addresses_erase

    member_addresses_erase(member_id=member_id, member_number=member_number, addresses=addresses)


def connect():
    post_save.connect(on_campaign_changed, sender=Campaign, dispatch_uid="campaigns.running_kinds.saved")
    post_delete.connect(on_campaign_changed, sender=Campaign, dispatch_uid="campaigns.running_kinds.deleted")
    post_save.connect(on_webhook_endpoint_changed, sender=WebhookEndpoint, dispatch_uid="campaigns.webhooks.saved")
    post_delete.connect(on_webhook_endpoint_changed, sender=WebhookEndpoint, dispatch_uid="campaigns.webhooks.deleted")
    signals.member_joined.connect(on_member_joined, dispatch_uid="campaigns.webhooks.member_joined")
    signals.tier_changed.connect(on_tier_changed, dispatch_uid="campaigns.webhooks.tier_changed")
    signals.purchase_recorded.connect(on_purchase_recorded, dispatch_uid="campaigns.webhooks.purchase_recorded")
    signals.coupons_issued.connect(on_coupons_issued, dispatch_uid="campaigns.webhooks.coupons_issued")
    signals.coupon_redeemed.connect(on_coupon_redeemed, dispatch_uid="campaigns.webhooks.coupon_redeemed")
    signals.points_expiring.connect(on_points_expiring, dispatch_uid="campaigns.webhooks.points_expiring")
    signals.member_joined.connect(on_member_joined_campaigns, dispatch_uid="campaigns.triggers.member_joined")
    signals.purchase_recorded.connect(on_purchase_recorded_campaigns, dispatch_uid="campaigns.triggers.purchase")
    signals.tier_changed.connect(on_tier_changed_campaigns, dispatch_uid="campaigns.triggers.tier_changed")
    signals.points_expiring.connect(on_points_expiring_campaigns, dispatch_uid="campaigns.triggers.points_expiring")
    signals.coupon_expiring.connect(on_coupon_expiring_campaigns, dispatch_uid="campaigns.triggers.coupon_expiring")
    signals.member_anonymising.connect(on_member_anonymising, dispatch_uid="campaigns.erasure.member_anonymising")
