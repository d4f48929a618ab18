"""Who may see a campaign: the permission and the store scope every service and report of a campaign checks."""

from campaigns.errors import CampaignPermissionDenied
from campaigns.models import Campaign


def campaign_check_scope(*, campaign: Campaign, user, permission: str) -> None:
    """Raise CampaignPermissionDenied unless `user` (None: the system) holds `permission` and may see the campaign
    (staff of a store: their store's campaigns only)."""
    if user is None:
        return
    if not user.has_perm(permission):
        raise CampaignPermissionDenied()
    staff_store = user.scope_store_id
    if staff_store is not None and campaign.store_id != staff_store:
        raise CampaignPermissionDenied()
