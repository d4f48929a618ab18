"""The global control group: members kept out of every marketing campaign, to measure what marketing as a whole
brings (a campaign's own hold-out measures one campaign).

Who: members whose stable bucket for salt GLOBAL_CONTROL_SALT (campaigns/segments/buckets.py) is below
`CAMPAIGN_GLOBAL_CONTROL_PERCENT` percent of the 10,000 buckets (setting, default 0 = no global control). The same
members stay in it as long as the percent does not change: the bucket is a function of the member id. Raising
the percent only adds members; lowering it releases the highest buckets first.

Which campaigns: those with `respects_global_control` set (the default for marketing). Transactional kinds
(points or coupons expiring) set it off: a member in the control group still hears about their own points.

How `campaign_deliver` uses it: before the hold-out decision, drop the members `global_control_member_ids` returns
(one Python computation, no query) when `campaign.respects_global_control`; they get no CampaignRecipient row, so
the campaign's hold-out split (and its sample-ratio check in the report) is among the other members only. In
SQL, `exclude_global_control(members)` removes them from a queryset of members.

The salt: a campaign's hold-out salts the bucket with something else (the campaign id), so the global control and
a campaign's hold-out are independent draws (buckets of two salts are uncorrelated: tests/campaigns/test_buckets.py).
"""

from collections.abc import Iterable

from django.conf import settings
from django.db.models import QuerySet

from campaigns.segments.buckets import BUCKETS, member_bucket, member_bucket_expression

GLOBAL_CONTROL_SALT = 0


def global_control_buckets() -> int:
    """Return how many of the lowest buckets form the global control group (0 = none), from the setting."""
    percent = float(settings.CAMPAIGN_GLOBAL_CONTROL_PERCENT or 0)
    return round(BUCKETS * min(max(percent, 0.0), 100.0) / 100.0)


def global_control_member_ids(member_ids: Iterable[int]) -> set[int]:
    """Return those of `member_ids` in the global control group (no query; empty when the setting is 0)."""
    limit = global_control_buckets()
    if limit == 0:
        return set()
    return {member_id for member_id in member_ids if member_bucket(member_id, GLOBAL_CONTROL_SALT) < limit}


def exclude_global_control(members: QuerySet, *, field: str = "pk") -> QuerySet:
    """Return `members` (a queryset whose `field` is the member id) without the global control group."""
    limit = global_control_buckets()
    if limit == 0:
        return members
    return members.alias(global_control_bucket=member_bucket_expression(GLOBAL_CONTROL_SALT, field=field)).filter(
        global_control_bucket__gte=limit
    )
