"""Domain errors: one base class with a stable machine code and a translated message.

The DRF exception handler in config/api_errors.py renders them as
{"error": {"code", "message", "fields"}}; the console shows them with message_user.
"""

from django.utils.translation import gettext_lazy as _


class LoyaltyError(Exception):
    code = "error"
    message = _("The request could not be completed.")
    status = 400

    def __init__(self, message=None, *, code=None, fields=None, status=None):
        self.code = code or self.code
        self.message = message or self.message
        self.fields = fields or {}
        self.status = status or self.status
        super().__init__(str(self.message))


class NotFound(LoyaltyError):
    code = "not_found"
    message = _("Not found.")
    status = 404


class InvalidInput(LoyaltyError):
    code = "invalid_input"
    message = _("Some fields are invalid.")


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


class WechatLoginFailed(LoyaltyError):
    code = "wechat_login_failed"
    message = _("WeChat refused the login code. Please try again.")
    status = 401


class WechatUnavailable(LoyaltyError):
    code = "wechat_unavailable"
    message = _("WeChat could not be reached. Please try again later.")
    status = 503
