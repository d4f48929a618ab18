"""Coupon errors: each a LoyaltyError with a stable code that the API and the console show.

State conflicts answer 409, a cart the coupon does not fit 422, a code the member does not hold 404.
"""

from django.utils.translation import gettext_lazy as _

from infra.errors import LoyaltyError, NotFound


class CouponError(LoyaltyError):
    status = 409


# -- claims ----------------------------------------------------------------------------------------------------
class SoldOut(CouponError):
    code = "sold_out"
    message = _("All coupons of this offer have been claimed.")


class LimitReached(CouponError):
    code = "limit_reached"
    message = _("You already hold as many of these coupons as one member may.")


class ClaimWindowClosed(CouponError):
    code = "claim_window_closed"
    message = _("This coupon cannot be claimed at this time.")


class TemplateInactive(CouponError):
    code = "template_inactive"
    message = _("This coupon offer is not available.")


class NotInAudience(CouponError):
    code = "not_in_audience"
    message = _("This coupon is not offered to you.")
    status = 403


# -- the coupon itself -----------------------------------------------------------------------------------------
class InvalidCouponCode(CouponError):
    code = "invalid_coupon_code"
    message = _("This is not a valid coupon code. Please check it for typos.")
    status = 400


class CouponExpired(CouponError):
    code = "coupon_expired"
    message = _("This coupon has expired.")


class CouponNotYetValid(CouponError):
    code = "coupon_not_yet_valid"
    message = _("This coupon cannot be used yet.")


class CouponVoid(CouponError):
    code = "coupon_void"
    message = _("This coupon has been cancelled.")


class CouponAlreadyRedeemed(CouponError):
    code = "coupon_already_redeemed"
    message = _("This coupon has already been used.")


class CouponReserved(CouponError):
    code = "coupon_reserved"
    message = _("This coupon is held by another checkout.")


class CouponNotFound(NotFound):
    """The member holds no coupon of that code. A code never issued and another member's code get this same
    answer, so a till (or a stolen key) cannot tell issued codes from made-up ones."""

    message = _("No such coupon.")


class CouponNotReserved(CouponError):
    code = "coupon_not_reserved"
    message = _("This coupon is not reserved for this checkout.")


# -- the cart --------------------------------------------------------------------------------------------------
class CouponNotApplicable(CouponError):
    status = 422


class MinSpendNotMet(CouponNotApplicable):
    code = "min_spend_not_met"
    message = _("The purchase does not reach this coupon's minimum spend.")


class WrongStore(CouponNotApplicable):
    code = "wrong_store"
    message = _("This coupon cannot be used in this store.")


class WrongChannel(CouponNotApplicable):
    code = "wrong_channel"
    message = _("This coupon cannot be used on this channel.")


class CategoryNotInCart(CouponNotApplicable):
    code = "category_not_in_cart"
    message = _("The purchase has no item this coupon applies to.")


class DoesNotStackWithPoints(CouponNotApplicable):
    code = "does_not_stack_with_points"
    message = _("This coupon cannot be combined with paying by points.")


# The error a redemption raises for each reason the cart check gives (coupons.rules.Reason).
ERROR_BY_REASON = {
    error.code: error
    for error in (
        CouponExpired,
        CouponNotYetValid,
        CouponVoid,
        CouponAlreadyRedeemed,
        CouponReserved,
        MinSpendNotMet,
        WrongStore,
        WrongChannel,
        CategoryNotInCart,
        DoesNotStackWithPoints,
    )
}
