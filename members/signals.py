"""The domain signals lower apps send so higher apps (campaigns) can react.

Each is sent only after the transaction that caused it commits (see `send_after_commit`).
No other signals carry business logic.

- member_joined(member_id, source): a member became active by joining.
- purchase_recorded(purchase_id, member_id): a purchase was recorded for a member.
- tier_changed(changes): members moved tier, a list of {"member_id", "old_tier_id", "new_tier_id", "reason"}
  (one signal for all the moves of a transaction: a review chunk moves thousands).
- coupons_issued(coupon_ids): coupons were issued to members one by one (claims, rules, the console; a bulk issue's
  chunks send nothing yet).
- coupon_redeemed(coupon_id, member_id): a coupon was used on a purchase.
- points_expiring(reminders): members are reminded of points about to expire, a list of
  {"member_id", "points", "days", "expires_on", "key"}; a reminder sent again carries the same key.
- coupon_expiring(reminders): members are reminded of coupons about to expire, a list of
  {"member_id", "coupon_id", "template_id", "expires_on", "key"}, one per coupon; sent again with the same key.

One exception, sent inside the transaction (not after it commits) so that a higher app's erasure commits or rolls
back with it:
- member_anonymising(member_id, member_number, addresses): a member is being anonymised (PDPO); `addresses` are
  every phone, e-mail and WeChat id the member ever had. Higher apps erase their copies of them.
"""

import django.dispatch
from django.db import transaction

member_joined = django.dispatch.Signal()
purchase_recorded = django.dispatch.Signal()
tier_changed = django.dispatch.Signal()
coupons_issued = django.dispatch.Signal()
coupon_redeemed = django.dispatch.Signal()
points_expiring = django.dispatch.Signal()
coupon_expiring = django.dispatch.Signal()
member_anonymising = django.dispatch.Signal()


def send_after_commit(signal, **kwargs):
    transaction.on_commit(lambda: signal.send(sender=None, **kwargs))
