"""E-mail through Django's e-mail backend (SMTP in production, configured by the EMAIL_* settings).

Named `mailer`, not `email`, so it shadows no standard module. One message per call, with a strict timeout
(EMAIL_TIMEOUT) and a circuit breaker in the shared cache as the HTTP clients have. The SMTP server refusing
every recipient is a refusal of this message; any other SMTP or network failure means "try again".
"""

import logging
import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from infra.circuit import CallRefused, CircuitBreaker
from infra.errors import DeliveryOutcomeUnknown, DeliveryRefused, DeliveryUnavailable

logger = logging.getLogger(__name__)


def mail_breaker() -> CircuitBreaker:
    return CircuitBreaker(
        "email",
        failure_threshold=settings.OUTBOUND_BREAKER_FAILURES,
        window_seconds=settings.OUTBOUND_BREAKER_WINDOW_SECONDS,
        cooldown_seconds=settings.OUTBOUND_BREAKER_COOLDOWN_SECONDS,
        call_seconds=(settings.EMAIL_TIMEOUT or 10) * 2,
    )


def mail_send(*, to: str, subject: str, text: str, headers: dict | None = None, html: str = "") -> None:
    """Send one e-mail from DEFAULT_FROM_EMAIL. Raises DeliveryRefused, DeliveryUnavailable."""
    message = EmailMultiAlternatives(
        subject=subject, body=text, to=[to], headers=headers or {}, connection=get_connection(fail_silently=False)
    )
    if html:
        message.attach_alternative(html, "text/html")
    try:
        with mail_breaker().call():
            _send(message)
    except CallRefused as exc:
        raise DeliveryUnavailable(headers={"Retry-After": str(exc.retry_after)}) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryRefused("The mail server refused the address.") from exc


def _send(message) -> None:
    """Raise DeliveryUnavailable for a failure of the server (counted by the breaker), not for a refused address:
    DeliveryOutcomeUnknown when the connection failed after it was open (the server may have taken the message)."""
    connection = message.get_connection()
    try:
        connection.open()
    except (smtplib.SMTPException, OSError) as exc:
        logger.warning("SMTP connection failed: %s", type(exc).__name__)
        raise DeliveryUnavailable() from exc
    try:
        message.send()
    except smtplib.SMTPRecipientsRefused:
        raise
    except smtplib.SMTPResponseException as exc:  # the server answered: it did not take the message
        logger.warning("SMTP refused for now: %s", exc.smtp_code)
        raise DeliveryUnavailable() from exc
    except (smtplib.SMTPException, OSError) as exc:  # a timeout or a cut line, maybe after the message was taken
        logger.warning("SMTP failed during the send: %s", type(exc).__name__)
        raise DeliveryOutcomeUnknown() from exc
    finally:
        connection.close()
