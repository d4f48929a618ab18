"""Which event-driven campaign kinds have a running campaign: asked on every purchase, join and tier move.

The answer is kept in the shared cache, so that the till does not pay a query for campaigns that rarely change.
Every save or delete of a campaign forgets it, at once and again once committed (campaigns/receivers.py); the
expiry bounds what a process-local cache (the default without CACHE_URL, one per process) can miss from another
process's change.
Bulk `update()`s of the status only concern the scheduled kinds, which nobody asks about here.
"""

from django.core.cache import cache

from campaigns.models import Campaign

RUNNING_KINDS_CACHE_KEY = "campaigns:running_kinds"
RUNNING_KINDS_CACHE_SECONDS = 60


def campaign_kind_is_running(kind: str) -> bool:
    """Whether a campaign of `kind` is running (its dates and audience are the trigger task's to check)."""
    kinds = cache.get_or_set(RUNNING_KINDS_CACHE_KEY, _running_kinds, timeout=RUNNING_KINDS_CACHE_SECONDS)
    return kind in kinds


def _running_kinds() -> list[str]:
    return sorted(set(Campaign.objects.filter(status=Campaign.Status.RUNNING).values_list("kind", flat=True)))


def running_kinds_forget() -> None:
    """Drop the cached answer (a campaign was saved or deleted)."""
    cache.delete(RUNNING_KINDS_CACHE_KEY)
