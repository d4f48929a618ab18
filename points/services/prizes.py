"""Handing over prizes in store: a gift won in a lucky draw or an item won in an auction, by its claim code.

The till (POS API) and the console's "Hand over a prize" page both come here; the code's prefix says which
kind of prize it is, and each is handed over once (a conditional UPDATE in draws and auctions).
"""

from dataclasses import dataclass
from datetime import datetime

from coupons.codes import normalize_code
from members.models import Member
from points.services.auctions import CLAIM_CODE_PREFIX as AUCTION_CLAIM_CODE_PREFIX
from points.services.auctions import auction_item_collect
from points.services.draws import draw_gift_collect


@dataclass(frozen=True)
class CollectedPrize:
    source: str  # "lucky_draw" or "auction"
    item_name: str
    member: Member
    collected_at: datetime


def prize_collect(*, claim_code: str, store_id: int | None, now: datetime) -> CollectedPrize:
    """Hand over the prize `claim_code` names at `store_id` (None: staff working for every store).

    Raises ClaimCodeInvalid, PrizeAlreadyCollected.
    """
    code = normalize_code(claim_code)
    if code.startswith(AUCTION_CLAIM_CODE_PREFIX):
        auction = auction_item_collect(claim_code=code, store_id=store_id, now=now)
        return CollectedPrize("auction", auction.item_name, auction.winner, auction.collected_at)
    spin = draw_gift_collect(claim_code=code, store_id=store_id, now=now)
    return CollectedPrize("lucky_draw", spin.prize.name, spin.member, spin.collected_at)
