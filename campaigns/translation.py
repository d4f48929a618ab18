"""Member-facing texts of the campaigns app kept in every content language (infra/translation.py)."""

from campaigns.models import Campaign
from infra.translation import register_translated

register_translated(Campaign, ("name", "message_title", "message_body"), required=("name",))
