"""Erasing a member's addresses from what the campaigns app keeps, when the member is anonymised (Hong Kong PDPO).

`members.services.member_actions.member_anonymise` sends `member_anonymising` inside its transaction, before it
scrubs the member's row, with every address the member ever had (the live row and its history). Here, in the same
transaction (an erasure that fails undoes the anonymisation):
- the consent records (unsubscribes) keep their channel, decision, source and date, the proof of the withdrawal
  kept for years, but lose the phone or e-mail they were made from;
- the delivery log's details (a provider's answer may repeat the number or address) that name one are cleared;
- the webhook deliveries about the member (their payload's member number) lose the phone, e-mail and name, so a
  delivery still pending or retried sends none of them to the merchant's CRM.
"""

from django.db.models import Q

from campaigns.models import ConsentRecord, DeliveryAttempt, WebhookDelivery

MEMBER_PAYLOAD_FIELDS = {"phone": "", "email": "", "name": ""}


def member_addresses_erase(*, member_id: int, member_number: str, addresses: list[str]) -> dict[str, int]:
    """Erase the member's addresses from the campaigns app's rows; return how many rows of each kind changed."""
    addresses = sorted({address for address in addresses if address})
    counts = {
        "consent_records": ConsentRecord.objects.filter(Q(member_id=member_id) | Q(member_number=member_number))
        .exclude(address="")
        .update(address="")
    }
    details = Q()
    for address in addresses:
        details |= Q(detail__icontains=address)
    counts["delivery_attempts"] = (
        DeliveryAttempt.objects.filter(outbox_message__notification__member_id=member_id)
        .filter(details)
        .update(detail="")
        if addresses
        else 0
    )
    changed = []
    for delivery in WebhookDelivery.objects.filter(member_number=member_number).only("pk", "payload"):
        payload = delivery.payload
        if isinstance(payload, dict) and any(payload.get(key) for key in MEMBER_PAYLOAD_FIELDS):
            delivery.payload = {
                **payload,
                **{key: value for key, value in MEMBER_PAYLOAD_FIELDS.items() if key in payload},
            }
            changed.append(delivery)
    WebhookDelivery.objects.bulk_update(changed, ["payload"])
    counts["webhook_deliveries"] = len(changed)
    return counts
