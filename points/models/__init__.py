"""What moves points: the points policy, earning rules, checkouts and refunds of purchases.

The ledger itself (entries, lots, allocations) belongs to members; this app decides how many points a
purchase earns (points.rules), what spending points is worth, when points activate and expire, and what a
refund takes back. Invariants kept here:
- one PointsPolicy row (pk=1), one PurchaseCheckout per purchase (it stores the first answer, so a retried
  checkout returns it again), refunds unique per (purchase, external id);
- the refunded amounts of a purchase never sum above its gross amount (checked under the member lock by
  points.services.checkout.purchase_refund);
- earning rules carry an explicit, unique priority: the order of evaluation never depends on edit times.
"""

from points.models.auctions import Auction, AuctionBid
from points.models.checkout import PurchaseCheckout, PurchaseRefund
from points.models.checkout_orders import CheckoutOrder
from points.models.draws import DrawPrize, DrawSpin, LuckyDraw
from points.models.grants import PointsGrantJob
from points.models.mall import Reward, RewardEarlyAccess, RewardOrder, RewardPartnerCode
from points.models.multiplier_windows import MultiplierWindow
from points.models.policy import MemberIdentifier, PointsPolicy
from points.models.reports import PointsReport
from points.models.rules import EarningRule
from points.models.tier_gifts import TierGiftRun, TierMonthlyGift

__all__ = [
    "Auction",
    "AuctionBid",
    "CheckoutOrder",
    "DrawPrize",
    "DrawSpin",
    "EarningRule",
    "LuckyDraw",
    "MemberIdentifier",
    "MultiplierWindow",
    "PointsGrantJob",
    "PointsPolicy",
    "PointsReport",
    "PurchaseCheckout",
    "PurchaseRefund",
    "Reward",
    "RewardEarlyAccess",
    "RewardOrder",
    "RewardPartnerCode",
    "TierGiftRun",
    "TierMonthlyGift",
]
