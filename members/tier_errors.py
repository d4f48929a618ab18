"""Domain errors of tiers and stored value (issue 4), on the base LoyaltyError of members/errors.py."""

from django.utils.translation import gettext_lazy as _

from members.errors import LoyaltyError


class TierOverrideInvalid(LoyaltyError):
    code = "tier_override_invalid"
    message = _("The override needs a tier and an end date in the future.")


class TierOverrideReasonRequired(LoyaltyError):
    code = "reason_required"
    message = _("A reason is required to set a member's tier by hand.")


class InvalidMoneyAmount(LoyaltyError):
    code = "invalid_amount"
    message = _("The amount must be positive, with at most 2 decimal places.")


class InsufficientStoredValue(LoyaltyError):
    code = "insufficient_stored_value"
    message = _("The member's stored value does not cover this amount.")
    status = 409


class TopUpOfferUnavailable(LoyaltyError):
    code = "top_up_offer_unavailable"
    message = _("This top-up offer does not exist or is not available now.")
    status = 404


class PaymentAlreadyUsed(LoyaltyError):
    code = "payment_already_used"
    message = _("This payment was already recorded for a different top-up.")
    status = 409


class RefundExceedsSpend(LoyaltyError):
    code = "refund_exceeds_spend"
    message = _("The refund is more than what is left to refund of this spend.")
    status = 409
