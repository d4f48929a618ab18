"""Points errors: each a LoyaltyError with a stable code the API and the console show.

A state that forbids the action answers 409, an order the request does not fit 422.
"""

from django.utils.translation import gettext_lazy as _

from members.errors import LoyaltyError


class PointsError(LoyaltyError):
    status = 409


class PointsSpendingNotAllowed(PointsError):
    code = "points_spending_not_allowed"
    message = _("This member may not spend points.")


class PointsShareExceeded(PointsError):
    code = "points_share_exceeded"
    message = _("Points cannot pay this much of the order.")
    status = 422


class MemberRequired(PointsError):
    code = "member_required"
    message = _("Points can only be spent by an identified member.")
    status = 422


class RefundExceedsPurchase(PointsError):
    code = "refund_exceeds_purchase"
    message = _("The refund is larger than what is left of the purchase.")
    status = 422


class PurchaseNotCheckedOut(PointsError):
    code = "purchase_not_checked_out"
    message = _("This purchase was not recorded through a checkout, so its points cannot be refunded here.")


class StoreInactive(PointsError):
    code = "store_inactive"
    message = _("This store is closed or unknown.")
    status = 404


class UnknownBehaviour(PointsError):
    code = "unknown_behaviour"
    message = _("No active rule rewards this behaviour.")
    status = 404
