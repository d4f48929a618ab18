"""Member-facing texts of the coupons app kept in every content language (infra/translation.py)."""

from coupons.models import CouponTemplate
from infra.translation import register_translated

register_translated(CouponTemplate, ("name", "description", "gift_description"), required=("name",))
