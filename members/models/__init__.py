"""The ground floor: staff, stores, tiers, members, purchases and the points ledger.

Invariants kept here (by the services in members/services/ and backstopped by constraints):
- a member's phone (E.164), openid and member number are unique when present;
- the points ledger is append-only; for every member
  sum(entries that count in the balance) == points_balance - points_debt, both columns >= 0;
- lots hold what each credit has left; the remaining points of activated lots sum to points_balance;
- points_held and stored_value_held are the sums of the member's active holds (BalanceHold); what a member
  can spend is the balance minus what is held.
"""

from .anonymisation import MemberAnonymisation
from .holds import BalanceHold
from .imports import MemberImportChunk, MemberImportJob
from .ledger import IdempotencyRecord, PointsAllocation, PointsEntry, PointsLot
from .member import Member, MemberToken, Tag, WechatSession
from .notifications import Notification, OutboxMessage
from .payments import PaymentUse
from .plans import MemberPlanSubscription, MembershipPlan
from .program import ProgramSettings, Store, StoreApiKey, Tier
from .purchase import PaymentMethod, Purchase, PurchaseChannel, PurchaseItem
from .staff import Role, User
from .stored_value import StoredValueEntry, TopUpOffer
from .stores import StoreHoursException, StoreOpeningHours, StorePhoto
from .tiers import TierHistory, TierPolicy

__all__ = [
    "BalanceHold",
    "IdempotencyRecord",
    "Member",
    "MemberAnonymisation",
    "MemberPlanSubscription",
    "MembershipPlan",
    "MemberImportChunk",
    "MemberImportJob",
    "MemberToken",
    "Notification",
    "OutboxMessage",
    "PaymentMethod",
    "PaymentUse",
    "PointsAllocation",
    "PointsEntry",
    "PointsLot",
    "ProgramSettings",
    "Purchase",
    "PurchaseChannel",
    "PurchaseItem",
    "Role",
    "Store",
    "StoreApiKey",
    "StoreHoursException",
    "StoreOpeningHours",
    "StorePhoto",
    "StoredValueEntry",
    "Tag",
    "Tier",
    "TierHistory",
    "TierPolicy",
    "TopUpOffer",
    "User",
    "WechatSession",
]
