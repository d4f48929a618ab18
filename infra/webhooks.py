"""Outbound webhooks: HMAC-SHA256 signatures and one POST with strict timeouts.

The receiver checks `X-Loyalty-Signature: t=<unix seconds>,v1=<hex>` where hex is
HMAC-SHA256(secret, "<t>.<raw body>"), and should refuse a timestamp older than a few minutes (replays).
`X-Loyalty-Event` names the event and `X-Loyalty-Delivery` is the delivery's id, the same on every retry, so a
receiver that saw it already can answer 2xx and do nothing. Any answer other than 2xx, a timeout or a network
failure is a failure the caller retries.
"""

import hashlib
import hmac
import logging
import re
import time

import requests
from django.conf import settings

from infra.errors import DeliveryUnavailable

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Loyalty-Signature"
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """Return the signature header's value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_signature_valid(
    *, secret: str, header: str, body: bytes, max_age_seconds: int | None = None, now: float | None = None
) -> bool:
    """Check a signature header against `body` (what a receiver does; our tests' fake does it too).

    Any header, however malformed, is an answer (False), never an exception. With `max_age_seconds`, a signature
    older or further in the future than that is refused, so a captured request cannot be replayed later.
    """
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    timestamp, given = parts.get("t", ""), parts.get("v1", "")
    if not timestamp.isascii() or not timestamp.isdigit() or not _HEX_DIGEST.fullmatch(given):
        return False
    if max_age_seconds is not None and abs((time.time() if now is None else now) - int(timestamp)) > max_age_seconds:
        return False
    expected = webhook_signature(secret=secret, timestamp=int(timestamp), body=body).split("v1=", 1)[1]
    return hmac.compare_digest(expected.encode(), given.encode())


def webhook_post(*, url: str, secret: str, event: str, delivery_id: str, body: bytes, timestamp: int) -> int:
    """POST a signed event; return the HTTP status (2xx). Raises DeliveryUnavailable for anything else."""
    read_timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    headers = {
        "Content-Type": "application/json",
        "X-Loyalty-Event": event,
        "X-Loyalty-Delivery": delivery_id,
        SIGNATURE_HEADER: webhook_signature(secret=secret, timestamp=timestamp, body=body),
    }
    try:
        response = requests.post(
            url,
            data=body,
            headers=headers,
            timeout=(min(settings.OUTBOUND_CONNECT_TIMEOUT_SECONDS, read_timeout), read_timeout),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise DeliveryUnavailable(f"{type(exc).__name__}") from exc
    if not 200 <= response.status_code < 300:
        raise DeliveryUnavailable(f"HTTP {response.status_code}")
    return response.status_code
