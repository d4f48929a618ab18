"""Errors every app shares: the base class with a stable machine code and a translated message, the
generic refusals, and what the WeChat and WeChat Pay clients raise.

The DRF exception handler in infra/api_errors.py renders them as {"error": {"code", "message", "fields"}};
the console shows them with message_user.
"""

from django.utils.translation import gettext_lazy as _


class LoyaltyError(Exception):
    code = "error"
    message = _("The request could not be completed.")
    status = 400

    def __init__(self, message=None, *, code=None, fields=None, status=None, headers=None):
        self.code = code or self.code
        self.message = message or self.message
        self.fields = fields or {}
        self.status = status or self.status
        # HTTP headers of the answer, e.g. Retry-After on a 503.
        self.headers = headers or {}
        super().__init__(str(self.message))

    @classmethod
    def for_field(cls, name: str, field_message=None, **kwargs) -> "LoyaltyError":
        """Return this error naming the field `name` as its cause, with `field_message` (by default the error's
        message) as the field's one error: `raise InsufficientPoints.for_field("points")`. Other keyword arguments
        (message, code, status, headers) as __init__."""
        return cls.for_fields([name], field_message, **kwargs)

    @classmethod
    def for_fields(cls, names, field_message=None, **kwargs) -> "LoyaltyError":
        """Return this error naming each of the fields `names` with the same error (see for_field)."""
        text = str(field_message or kwargs.get("message") or cls.message)
        return cls.for_field_errors({name: [text] for name in names}, **kwargs)

    @classmethod
    def for_validation_error(cls, error, **kwargs) -> "LoyaltyError":
        """Return this error naming the fields a Django ValidationError with a field dict names (a model's
        full_clean()), each with its messages. Other keyword arguments as __init__."""
        return cls.for_field_errors(
            {name: [str(m) for m in messages] for name, messages in error.message_dict.items()}, **kwargs
        )

    @classmethod
    def for_field_errors(cls, errors: dict, **kwargs) -> "LoyaltyError":
        """Return this error naming each field of `errors` (name -> its list of errors), the one place an error's
        fields are built. Other keyword arguments as __init__."""
        return cls(fields=errors, **kwargs)


class NotFound(LoyaltyError):
    code = "not_found"
    message = _("Not found.")
    status = 404


class InvalidInput(LoyaltyError):
    code = "invalid_input"
    message = _("Some fields are invalid.")


class WechatLoginFailed(LoyaltyError):
    code = "wechat_login_failed"
    message = _("WeChat refused the login code. Please try again.")
    status = 401


class WechatUnavailable(LoyaltyError):
    code = "wechat_unavailable"
    message = _("WeChat could not be reached. Please try again later.")
    status = 503


class WechatPhoneFailed(LoyaltyError):
    code = "wechat_phone_failed"
    message = _("WeChat refused the phone number code. Please try again.")
    status = 400


class PaymentNotConfirmed(LoyaltyError):
    code = "payment_not_confirmed"
    message = _("The payment provider has no completed payment by this member for this order.")
    status = 422


class PaymentProviderUnavailable(LoyaltyError):
    code = "payment_provider_unavailable"
    message = _("The payment provider could not confirm the payment now. Please try again later.")
    status = 503


class PaymentPrepayRefused(LoyaltyError):
    """WeChat Pay answered, but would not open the payment (a parameter, the merchant's account): asking again as
    it is will not help."""

    code = "payment_prepay_refused"
    message = _("The payment provider refused to open the payment. Nothing was held; please try again later.")
    status = 502


class PaymentNotificationRefused(LoyaltyError):
    """A payment notification whose signature does not check out (or signed more than 5 minutes from now)."""

    code = "payment_notification_refused"
    message = _("The payment notification's signature is not valid.")
    status = 401


class DeliveryRefused(LoyaltyError):
    """A channel's provider refused this one message for good (a bad address, a refused subscription): no retry."""

    code = "delivery_refused"
    message = _("The provider refused the message.")
    status = 422


class WechatSubscriptionRefused(DeliveryRefused):
    """WeChat's errcode 43101: the member has not accepted (or has used up) the template's subscription."""

    code = "wechat_subscription_refused"
    message = _("The member has not accepted this WeChat subscription message.")


class DeliveryUnavailable(LoyaltyError):
    """A channel's provider failed, timed out or is rate-limiting us: the message is tried again later."""

    code = "delivery_unavailable"
    message = _("The message could not be delivered now. It will be tried again.")
    status = 503


class DeliveryOutcomeUnknown(DeliveryUnavailable):
    """The message went out and the provider's answer was lost (a timeout after it was sent): it may have been
    delivered. A channel without an idempotency key (e-mail, WeChat) must not send it again blindly."""

    code = "delivery_outcome_unknown"
    message = _("The provider did not answer once the message was sent: it may have been delivered.")
