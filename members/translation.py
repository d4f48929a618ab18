"""Member-facing texts of the members app kept in every content language (infra/translation.py)."""

from infra.translation import register_translated
from members.models import MembershipPlan, ProgramSettings, Store, StoreHoursException, StorePhoto, Tier, TopUpOffer

register_translated(Store, ("name", "address"), required=("name",))
register_translated(StoreHoursException, ("note",))
register_translated(StorePhoto, ("caption",))
register_translated(Tier, ("name", "monthly_gift_description"), required=("name",))
register_translated(MembershipPlan, ("name", "description"), required=("name",))
register_translated(TopUpOffer, ("name",), required=("name",))
register_translated(ProgramSettings, ("program_name",), required=("program_name",))  # {program}, unsubscribe page
