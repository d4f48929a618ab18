"""Coupons: templates designed in the console, the coupons issued from them, bulk issue jobs, partner codes.

Invariants (kept by coupons.services, backstopped by constraints):
- a template's `issued_count` only moves by a conditional UPDATE (`issued_count < quota`), never by a
  Python read-modify-write, and never exceeds the quota (CheckConstraint); a bulk chunk adds exactly the
  number of rows it inserted;
- a member holds at most `per_member_limit` coupons of a template: each issue takes the member's next
  `member_sequence` under the member's row lock (claims) or the template's row lock (bulk chunks), and
  (template, member, member_sequence) is unique;
- a bulk job gives a member at most one coupon: its coupons carry the unique issue key
  `job:<job id>:member:<member id>`, inserted with ON CONFLICT DO NOTHING;
- a coupon is redeemed at most once: only a conditional UPDATE from available/reserved writes `redeemed`;
- codes are unique: generated ones are typable and carry a check character (coupons.codes); partner codes
  are unique in the pool and marked used by the transaction that gives them to a coupon.
"""

from .coupon import Coupon, CouponQuerySet, CouponTemplate, all_channels
from .issuing import CouponIssueChunk, CouponIssueJob, PartnerCode
from .post_payment import PostPaymentRule

__all__ = [
    "Coupon",
    "CouponIssueChunk",
    "CouponIssueJob",
    "CouponQuerySet",
    "CouponTemplate",
    "PartnerCode",
    "PostPaymentRule",
    "all_channels",
]
