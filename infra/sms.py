"""A generic HTTP SMS gateway client: one JSON POST per message, configured by settings.

Hong Kong's SMS aggregators differ in their field names but share the shape: an API key, a sender id, the
number in E.164, the text, and our own reference so that a retried request sends nothing twice. The contract
(README, "Channels"): POST `SMS_GATEWAY_URL` with `Authorization: Bearer <SMS_GATEWAY_API_KEY>`, an
`Idempotency-Key` header equal to `reference`, and the body {"to", "text", "from", "reference", "category"}; a
2xx answer accepted the message (its JSON `id`, if any, is the gateway's reference); 400, 404 and 422 refuse
this message for good (a bad number, a text the gateway will not carry); anything else (401/403 too: our
credentials are an operator's problem, not the message's), a timeout or a network failure means "try again".

Strict connect and read timeouts and a circuit breaker in the shared cache (infra/circuit.py), as the WeChat
client has: a stalled gateway costs each sender one timeout until the breaker opens, then nothing.
"""

import logging

import requests
from django.conf import settings

from infra.circuit import CallRefused, CircuitBreaker
from infra.errors import DeliveryRefused, DeliveryUnavailable

logger = logging.getLogger(__name__)

REFUSED_STATUSES = frozenset({400, 404, 422})


class SmsGatewayClient:
    def __init__(self, *, url=None, api_key=None, sender_id=None, timeout=None, session=None, breaker=None):
        self.url = url or settings.SMS_GATEWAY_URL
        self.api_key = api_key if api_key is not None else settings.SMS_GATEWAY_API_KEY
        self.sender_id = sender_id if sender_id is not None else settings.SMS_SENDER_ID
        read_timeout = timeout if timeout is not None else settings.SMS_TIMEOUT_SECONDS
        self.timeout = (min(settings.OUTBOUND_CONNECT_TIMEOUT_SECONDS, read_timeout), read_timeout)
        self.session = session or requests.Session()
        self.breaker = breaker or CircuitBreaker(
            "sms",
            failure_threshold=settings.OUTBOUND_BREAKER_FAILURES,
            window_seconds=settings.OUTBOUND_BREAKER_WINDOW_SECONDS,
            cooldown_seconds=settings.OUTBOUND_BREAKER_COOLDOWN_SECONDS,
            call_seconds=sum(self.timeout),
        )

    def send(self, *, to: str, text: str, reference: str, category: str) -> str:
        """Hand one SMS to the gateway; return the gateway's reference (may be empty).

        Raises DeliveryRefused (the gateway refused this message), DeliveryUnavailable (not configured, failed,
        timed out, or the breaker is open: try again later).
        """
        if not self.url:
            raise DeliveryUnavailable("SMS_GATEWAY_URL is not set.")
        body = {"to": to, "text": text, "from": self.sender_id, "reference": reference, "category": category}
        try:
            with self.breaker.call():
                status, data = self._exchange(body, reference)
        except CallRefused as exc:
            raise DeliveryUnavailable(headers={"Retry-After": str(exc.retry_after)}) from exc
        if status in REFUSED_STATUSES:
            detail = data.get("error") or data.get("message") or f"HTTP {status}"
            raise DeliveryRefused(f"SMS gateway refused the message: {detail}")
        return str(data.get("id") or "")

    def _exchange(self, body, reference) -> tuple[int, dict]:
        """Return (status, JSON) of an answer given on purpose; raise DeliveryUnavailable for everything else."""
        headers = {"Authorization": f"Bearer {self.api_key}", "Idempotency-Key": reference}
        try:
            response = self.session.post(self.url, json=body, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            logger.warning("SMS gateway failed: %s", type(exc).__name__)
            raise DeliveryUnavailable() from exc
        if response.status_code in REFUSED_STATUSES or 200 <= response.status_code < 300:
            try:
                data = response.json()
            except ValueError:
                data = {}
            return response.status_code, data if isinstance(data, dict) else {}
        logger.warning("SMS gateway answered HTTP %s", response.status_code)
        raise DeliveryUnavailable()


def get_sms_client() -> SmsGatewayClient:
    return SmsGatewayClient()
