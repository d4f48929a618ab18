"""The members domain's refusals: phones, points amounts, tiers, plans, stored value and payments.

Each is an infra.errors.LoyaltyError: a stable machine code and a translated message.
"""

from django.utils.translation import gettext_lazy as _

from infra.errors import LoyaltyError


class InvalidPhone(LoyaltyError):
    code = "invalid_phone"
    message = _("This is not a valid phone number.")


class PhoneTaken(LoyaltyError):
    code = "phone_taken"
    message = _("This phone number already belongs to another member.")
    status = 409


class InsufficientPoints(LoyaltyError):
    code = "insufficient_points"
    message = _("The member does not have enough points.")
    status = 409


class InvalidAmount(LoyaltyError):
    code = "invalid_amount"
    message = _("The amount must be a positive whole number of points.")


class PointsAmountTooLarge(LoyaltyError):
    code = "points_amount_too_large"
    message = _("This is more points than one operation may move.")


class PointsBalanceTooLarge(LoyaltyError):
    code = "points_balance_too_large"
    message = _("The member would hold more points than a member may hold.")


class ReasonRequired(LoyaltyError):
    code = "reason_required"
    message = _("A reason is required for a manual adjustment.")


class IdempotencyKeyReused(LoyaltyError):
    code = "idempotency_key_reused"
    message = _("This idempotency key was already used with a different request.")
    status = 422


class MemberNotActive(LoyaltyError):
    code = "member_not_active"
    message = _("The member has not joined or is not active.")
    status = 409


class InvalidCardCode(LoyaltyError):
    code = "invalid_card_code"
    message = _("The card code is invalid or has expired.")


# Payments confirmed with the payment provider.


class PaymentAmountMismatch(LoyaltyError):
    code = "payment_amount_mismatch"
    message = _("The amount paid does not match the amount due for this order.")
    status = 422


# Tiers, plans and stored value.


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
    message = _("This payment was already recorded for something else.")
    status = 409


class RefundExceedsSpend(LoyaltyError):
    code = "refund_exceeds_spend"
    message = _("The refund is more than what is left to refund of this spend.")
    status = 409


class IdempotencyRequestInProgress(LoyaltyError):
    code = "idempotency_request_in_progress"
    message = _("A request with this idempotency key is still being processed. Retry shortly.")
    status = 409


class PlanUnavailable(LoyaltyError):
    code = "plan_unavailable"
    message = _("This membership plan does not exist or is not on sale now.")
    status = 404


class MemberAlreadyAnonymised(LoyaltyError):
    code = "member_already_anonymised"
    message = _("This member was already anonymised.")
    status = 409


class MemberStatusConflict(LoyaltyError):
    code = "member_status_conflict"
    message = _("Only an active member can be frozen, and only a frozen member unfrozen.")
    status = 409


class ActionReasonRequired(LoyaltyError):
    code = "reason_required"
    message = _("A reason is required for this action.")
