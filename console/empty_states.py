"""What an empty console list says: what the list is for and the first step, instead of "No results found".

Keyed by model label; a list not named here says the generic sentence. A search or filter that finds nothing says
so (the list is not empty, the selection is).
"""

from django.utils.translation import gettext_lazy as _

EMPTY_STATES = {
    "members.Member": _(
        "No members yet: members join through the mini program, or import your existing members from a CSV file."
    ),
    "members.Tag": _("No tags yet: add one to group members (VIP, staff, wholesale) for segments and coupons."),
    "members.Purchase": _("No purchases yet: the tills record them through the POS API, and the mini program too."),
    "members.PointsEntry": _("No points movements yet: purchases, grants and adjustments appear here."),
    "members.Store": _("No stores yet: add your first store; its staff and tills belong to it."),
    "members.Tier": _("No tiers yet: add your tiers (V1, V2...) with their thresholds and benefits."),
    "members.MembershipPlan": _("No paid plans yet: add one to sell a tier for a period."),
    "members.TopUpOffer": _("No top-up offers yet: add one to sell stored value with a bonus."),
    "points.EarningRule": _(
        "No earning rules yet: add one (a base rate such as HK$100 = 10 points), or start from the demo's "
        "(manage.py seed_demo_program)."
    ),
    "points.Reward": _("No rewards in the points mall yet: add one for members to redeem with points."),
    "points.RewardOrder": _("No mall orders yet: members' redemptions and their pickups appear here."),
    "points.LuckyDraw": _("No lucky draws yet: add one with its prizes and the points a spin costs."),
    "points.Auction": _("No auctions yet: add one to let members bid points for a prize."),
    "points.PointsGrantJob": _("No grants yet: grant points to a list of members with a reason."),
    "coupons.CouponTemplate": _("No coupon templates yet: add one, then issue it to members or let them claim it."),
    "coupons.Coupon": _("No coupons issued yet: issue a template to members, one by one or in bulk."),
    "coupons.PostPaymentRule": _("No post-payment rules yet: add one to give a coupon after a qualifying purchase."),
}


def empty_state(model_label: str):
    """Return the sentence an empty list of this model shows, or None for the generic one."""
    return EMPTY_STATES.get(model_label)
