"""Member-facing texts of the points app kept in every content language (infra/translation.py).

Earning rules are named in the points breakdown members see, so their names are translated too.
"""

from infra.translation import register_translated
from points.models import Auction, DrawPrize, EarningRule, LuckyDraw, MultiplierWindow, Reward

register_translated(Reward, ("name", "description"), required=("name",))
register_translated(LuckyDraw, ("name", "description"), required=("name",))
register_translated(DrawPrize, ("name",), required=("name",))
register_translated(Auction, ("item_name", "description"), required=("item_name",))
register_translated(EarningRule, ("name",), required=("name",))
# A multiplier window names its campaign in the breakdown, in the member's language.
register_translated(MultiplierWindow, ("reason",), required=("reason",))
