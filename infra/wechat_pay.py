"""The WeChat Pay (API v3) client: open a mini-program payment (JSAPI prepay) and sign what `wx.requestPayment`
takes, close an unpaid one, look one up by the merchant's order number, refund one, and read a payment notification.

A mini-program purchase earns points only once WeChat Pay itself says the order was paid, by whom and how
much; the mini-program's own word is not enough. Requests are signed with the merchant's API certificate
key (SHA256-RSA2048) and every answer's signature is checked with the WeChat Pay platform public key, so a
forged or replayed answer cannot confirm a payment; an answer naming another key (its Wechatpay-Serial is not the
configured WECHATPAY_PLATFORM_SERIAL, e.g. during WeChat Pay's key rotation) is refused before any check.
One real HTTP client (requests) whose base URL comes from settings: tests drive it against a fake WeChat Pay on
127.0.0.1 that holds its own key pair. Calls have strict connect and read timeouts and go through a circuit breaker
in the shared cache (infra/circuit.py), as WeChat's. A notification WeChat Pay posts to us (a payment, or a refund's
outcome) is checked the same way (platform signature and serial, 5 minutes) and its resource decrypted with the
merchant's APIv3 key (AEAD_AES_256_GCM).
"""

import base64
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from urllib.parse import quote, urlencode

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from infra.circuit import CallRefused, CircuitBreaker
from infra.errors import (
    PaymentNotConfirmed,
    PaymentNotificationRefused,
    PaymentPrepayRefused,
    PaymentProviderUnavailable,
)

logger = logging.getLogger(__name__)

AUTH_SCHEME = "WECHATPAY2-SHA256-RSA2048"
# An answer signed longer ago than this is refused (a replayed answer).
SIGNATURE_MAX_AGE_SECONDS = 300
PAID = "SUCCESS"
REFUND_ACCEPTED = frozenset({"SUCCESS", "PROCESSING"})
# A refund's last word: the money is back (SUCCESS), or it never will be by this refund (CLOSED, ABNORMAL).
REFUND_FINAL = frozenset({"SUCCESS", "CLOSED", "ABNORMAL"})


@dataclass(frozen=True)
class WechatPayment:
    """One order as WeChat Pay reports it. `amount` is in the currency's main unit (e.g. HK$12.30)."""

    out_trade_no: str
    transaction_id: str
    trade_state: str
    amount: Decimal
    currency: str
    payer_openid: str
    appid: str
    paid_at: datetime | None

    @property
    def is_paid(self) -> bool:
        return self.trade_state == PAID


@dataclass(frozen=True)
class WechatRefund:
    """A refund as WeChat Pay reports it: SUCCESS or PROCESSING once accepted; ABNORMAL or CLOSED when it failed.
    PROCESSING is not an outcome: the refund is asked about again (or notified) until it is SUCCESS, CLOSED or
    ABNORMAL."""

    out_refund_no: str
    refund_id: str
    status: str
    out_trade_no: str = ""

    @property
    def is_accepted(self) -> bool:
        return self.status in REFUND_ACCEPTED

    @property
    def is_final(self) -> bool:
        return self.status in REFUND_FINAL


class WechatPayClient:
    """Queries orders of one merchant (mchid, its API certificate's serial number and private key)."""

    def __init__(
        self,
        *,
        base_url=None,
        query_path=None,
        refund_path=None,
        refund_query_path=None,
        prepay_path=None,
        close_path=None,
        appid=None,
        notify_url=None,
        api_v3_key=None,
        mchid=None,
        sub_mchid=None,
        serial_no=None,
        private_key_pem=None,
        platform_public_key_pem=None,
        platform_serial=None,
        timeout=None,
        session=None,
        breaker=None,
    ):
        self.base_url = (base_url or settings.WECHATPAY_API_BASE).rstrip("/")
        self.query_path = query_path or settings.WECHATPAY_QUERY_PATH
        self.refund_path = refund_path or settings.WECHATPAY_REFUND_PATH
        self.refund_query_path = refund_query_path or settings.WECHATPAY_REFUND_QUERY_PATH
        self.prepay_path = prepay_path or settings.WECHATPAY_PREPAY_PATH
        self.close_path = close_path or settings.WECHATPAY_CLOSE_PATH
        self.appid = appid if appid is not None else settings.WECHATPAY_APPID
        self.notify_url = notify_url if notify_url is not None else settings.WECHATPAY_NOTIFY_URL
        self._api_v3_key = api_v3_key if api_v3_key is not None else settings.WECHATPAY_API_V3_KEY
        self.mchid = mchid if mchid is not None else settings.WECHATPAY_MCHID
        self.sub_mchid = sub_mchid if sub_mchid is not None else settings.WECHATPAY_SUB_MCHID
        self.serial_no = serial_no if serial_no is not None else settings.WECHATPAY_CERT_SERIAL_NO
        self._private_key_pem = private_key_pem if private_key_pem is not None else settings.WECHATPAY_PRIVATE_KEY
        self._platform_key_pem = (
            platform_public_key_pem if platform_public_key_pem is not None else settings.WECHATPAY_PLATFORM_PUBLIC_KEY
        )
        self.platform_serial = platform_serial if platform_serial is not None else settings.WECHATPAY_PLATFORM_SERIAL
        read_timeout = timeout if timeout is not None else settings.WECHATPAY_TIMEOUT_SECONDS
        self.timeout = (min(settings.OUTBOUND_CONNECT_TIMEOUT_SECONDS, read_timeout), read_timeout)
        self.session = session or requests.Session()
        self.breaker = breaker or wechat_pay_breaker(call_seconds=sum(self.timeout))

    @property
    def is_configured(self) -> bool:
        return bool(
            self.mchid and self.serial_no and self._private_key_pem and self._platform_key_pem and self.platform_serial
        )

    @cached_property
    def _private_key(self):
        return serialization.load_pem_private_key(self._private_key_pem.encode(), password=None)

    @cached_property
    def _platform_key(self):
        return serialization.load_pem_public_key(self._platform_key_pem.encode())

    def _require_configuration(self):
        if not self.is_configured:
            logger.error("WeChat Pay is not configured (WECHATPAY_MCHID, serial number or keys missing)")
            raise PaymentProviderUnavailable()

    def prepay(
        self, *, out_trade_no: str, description: str, amount: Decimal, currency: str, openid: str, time_expire: datetime
    ) -> str:
        """Open the mini-program payment of `amount` by `openid` under `out_trade_no`, payable until `time_expire`;
        return WeChat Pay's prepay id. Raises PaymentProviderUnavailable (not configured, no answer: worth asking
        again), PaymentPrepayRefused (WeChat Pay answered no)."""
        self._require_configuration()
        if not (self.appid and self.notify_url):
            logger.error("WeChat Pay prepay needs WECHATPAY_APPID and WECHATPAY_NOTIFY_URL")
            raise PaymentProviderUnavailable()
        body = {
            "appid": self.appid,
            "mchid": self.mchid,
            **({"sub_mchid": self.sub_mchid} if self.sub_mchid else {}),
            "description": description[:127],
            "out_trade_no": out_trade_no,
            "time_expire": time_expire.isoformat(timespec="seconds"),
            "notify_url": self.notify_url,
            "amount": {"total": _cents(amount), "currency": currency},
            "payer": {"openid": openid},
        }
        status, data = self._send("POST", self.prepay_path, json.dumps(body, separators=(",", ":")))
        prepay_id = data.get("prepay_id") if status == 200 else None
        if not isinstance(prepay_id, str) or not prepay_id:
            logger.warning("WeChat Pay prepay answered %s: %s", status, data.get("code"))
            raise PaymentPrepayRefused()
        return prepay_id

    def payment_parameters(self, *, prepay_id: str, timestamp: str, nonce: str) -> dict:
        """What the mini program passes to wx.requestPayment for `prepay_id`, signed with the merchant's key (v3:
        appid, timeStamp, nonceStr and package, a line each)."""
        package = f"prepay_id={prepay_id}"
        message = f"{self.appid}\n{timestamp}\n{nonce}\n{package}\n".encode()
        signature = base64.b64encode(self._private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()
        return {"timeStamp": timestamp, "nonceStr": nonce, "package": package, "signType": "RSA", "paySign": signature}

    def close(self, out_trade_no: str) -> bool:
        """Close the unpaid order `out_trade_no`, so it can no longer be paid. Return True when WeChat Pay closed it,
        False when it answered no (paid meanwhile, or no such order: ask it which).
        Raises PaymentProviderUnavailable."""
        self._require_configuration()
        body = {"mchid": self.mchid, **({"sub_mchid": self.sub_mchid} if self.sub_mchid else {})}
        path = self.close_path.format(out_trade_no=quote(out_trade_no, safe=""))
        status, data = self._send("POST", path, json.dumps(body, separators=(",", ":")))
        if status in (200, 204):
            return True
        logger.info("WeChat Pay would not close order %s: %s %s", out_trade_no, status, data.get("code"))
        return False

    def notification(self, *, headers, body: bytes) -> dict:
        """The resource of a notification WeChat Pay posted (a payment: a transaction, as a query answers it; a refund:
        its out_refund_no and refund_status), once its platform signature checks out, signed within 5 minutes under
        the configured serial, and decrypted with the APIv3 key. Raises PaymentNotificationRefused."""
        if not (self._platform_key_pem and self.platform_serial and self._api_v3_key):
            logger.error(
                "WeChat Pay notifications need WECHATPAY_PLATFORM_PUBLIC_KEY, WECHATPAY_PLATFORM_SERIAL and "
                "WECHATPAY_API_V3_KEY"
            )
            raise PaymentNotificationRefused()
        try:
            text = body.decode()
        except UnicodeDecodeError as exc:
            raise PaymentNotificationRefused() from exc
        if not self._signature_valid(headers, text):
            raise PaymentNotificationRefused()
        try:
            resource = json.loads(text)["resource"]
            plain = AESGCM(self._api_v3_key.encode()).decrypt(
                resource["nonce"].encode(),
                base64.b64decode(resource["ciphertext"]),
                (resource.get("associated_data") or "").encode(),
            )
            data = json.loads(plain)
        except Exception as exc:  # noqa: BLE001 - any malformed or undecryptable notification is refused alike
            logger.warning("WeChat Pay notification could not be read: %s", type(exc).__name__)
            raise PaymentNotificationRefused() from exc
        if not isinstance(data, dict):
            raise PaymentNotificationRefused()
        return data

    def payment_by_out_trade_no(self, out_trade_no: str) -> WechatPayment:
        """Return the order `out_trade_no` as WeChat Pay knows it.

        Raises PaymentNotConfirmed when WeChat Pay has no such order, PaymentProviderUnavailable for anything
        else (not configured, network, WeChat Pay busy, an answer whose signature does not check out).
        """
        if not self.is_configured:
            logger.error("WeChat Pay is not configured (WECHATPAY_MCHID, serial number or keys missing)")
            raise PaymentProviderUnavailable()
        params = {"mchid": self.mchid, **({"sub_mchid": self.sub_mchid} if self.sub_mchid else {})}
        path = self.query_path.format(out_trade_no=quote(out_trade_no, safe="")) + "?" + urlencode(params)
        status, data = self._get(path)
        if status == 404 or data.get("code") == "ORDER_NOT_EXIST":
            raise PaymentNotConfirmed()
        if status != 200:
            logger.warning("WeChat Pay order query answered %s: %s", status, data.get("code"))
            raise PaymentProviderUnavailable()
        return self._payment(data)

    def refund(
        self, *, out_trade_no: str, out_refund_no: str, amount: Decimal, total: Decimal, currency: str, reason: str = ""
    ) -> WechatRefund:
        """Ask WeChat Pay to give `amount` of order `out_trade_no` (paid `total`) back to the payer.

        `out_refund_no` is the refund's own number: asking again under it never refunds twice, it answers the
        first refund. Raises PaymentProviderUnavailable when WeChat Pay refuses or fails to answer (worth asking
        again later), PaymentNotConfirmed when it has no such order.
        """
        if not self.is_configured:
            logger.error("WeChat Pay is not configured (WECHATPAY_MCHID, serial number or keys missing)")
            raise PaymentProviderUnavailable()
        body = {
            **({"sub_mchid": self.sub_mchid} if self.sub_mchid else {}),
            "out_trade_no": out_trade_no,
            "out_refund_no": out_refund_no,
            **({"reason": reason[:80]} if reason else {}),
            # The refund's outcome is posted to the same address as payments (REFUND.* events).
            **({"notify_url": self.notify_url} if self.notify_url else {}),
            "amount": {"refund": _cents(amount), "total": _cents(total), "currency": currency},
        }
        status, data = self._send("POST", self.refund_path, json.dumps(body, separators=(",", ":")))
        if status == 404 or data.get("code") == "RESOURCE_NOT_EXISTS":
            raise PaymentNotConfirmed()
        if status != 200:
            logger.warning("WeChat Pay refund answered %s: %s", status, data.get("code"))
            raise PaymentProviderUnavailable()
        return self._refund(data, status_field="status")

    def refund_by_out_refund_no(self, out_refund_no: str) -> WechatRefund:
        """The refund `out_refund_no` as WeChat Pay knows it now (PROCESSING until SUCCESS, CLOSED or ABNORMAL).
        Raises PaymentNotConfirmed when WeChat Pay has no such refund, PaymentProviderUnavailable for anything else."""
        self._require_configuration()
        path = self.refund_query_path.format(out_refund_no=quote(out_refund_no, safe=""))
        params = {"sub_mchid": self.sub_mchid} if self.sub_mchid else {}
        status, data = self._get(path + ("?" + urlencode(params) if params else ""))
        if status == 404 or data.get("code") == "RESOURCE_NOT_EXISTS":
            raise PaymentNotConfirmed()
        if status != 200:
            logger.warning("WeChat Pay refund query answered %s: %s", status, data.get("code"))
            raise PaymentProviderUnavailable()
        return self._refund(data, status_field="status")

    def refund_from_notification(self, data: dict) -> WechatRefund:
        """A decrypted refund notification's resource (REFUND.SUCCESS, REFUND.ABNORMAL, REFUND.CLOSED) as a
        WechatRefund. Raises PaymentProviderUnavailable when it cannot be read."""
        return self._refund(data, status_field="refund_status")

    def _refund(self, data: dict, *, status_field: str) -> WechatRefund:
        try:
            return WechatRefund(
                out_refund_no=str(data["out_refund_no"]),
                refund_id=str(data.get("refund_id") or ""),
                status=str(data[status_field]),
                out_trade_no=str(data.get("out_trade_no") or ""),
            )
        except (KeyError, TypeError) as exc:
            logger.warning("WeChat Pay answered a refund we cannot read: %s", type(exc).__name__)
            raise PaymentProviderUnavailable() from exc

    # -- answers -------------------------------------------------------------------------------------------
    def _payment(self, data: dict) -> WechatPayment:
        try:
            amount = data.get("amount") or {}
            payer = data.get("payer") or {}
            # A direct merchant's answer names `openid`; a service provider's names the sub-merchant's openid.
            openid = payer.get("openid") or payer.get("sub_openid") or payer.get("sp_openid") or ""
            success_time = data.get("success_time")
            return WechatPayment(
                out_trade_no=str(data["out_trade_no"]),
                transaction_id=str(data.get("transaction_id") or data.get("id") or ""),
                trade_state=str(data["trade_state"]),
                amount=Decimal(int(amount["total"])) / 100,
                currency=str(amount.get("currency") or ""),
                payer_openid=str(openid),
                appid=str(data.get("appid") or data.get("sub_appid") or data.get("sp_appid") or ""),
                paid_at=datetime.fromisoformat(success_time) if success_time else None,
            )
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            logger.warning("WeChat Pay answered an order we cannot read: %s", type(exc).__name__)
            raise PaymentProviderUnavailable() from exc

    # -- transport and signatures --------------------------------------------------------------------------
    def _authorization(self, method: str, path: str, body: str = "") -> str:
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        message = f"{method}\n{path}\n{timestamp}\n{nonce}\n{body}\n".encode()
        signature = base64.b64encode(self._private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()
        return (
            f'{AUTH_SCHEME} mchid="{self.mchid}",nonce_str="{nonce}",signature="{signature}",'
            f'timestamp="{timestamp}",serial_no="{self.serial_no}"'
        )

    def _answer_is_genuine(self, response) -> bool:
        return self._signature_valid(response.headers, response.text)

    def _signature_valid(self, headers, text: str) -> bool:
        """WeChat Pay's platform signature over timestamp, nonce and body, made within SIGNATURE_MAX_AGE_SECONDS, by the
        key whose serial we know (Wechatpay-Serial)."""
        serial = headers.get("Wechatpay-Serial", "")
        if not self.platform_serial or serial != self.platform_serial:
            logger.error(
                "WeChat Pay signed with key %r, not the configured WECHATPAY_PLATFORM_SERIAL: refused", serial[:64]
            )
            return False
        timestamp, nonce = headers.get("Wechatpay-Timestamp", ""), headers.get("Wechatpay-Nonce", "")
        signature = headers.get("Wechatpay-Signature", "")
        try:
            if abs(time.time() - int(timestamp)) > SIGNATURE_MAX_AGE_SECONDS:
                return False
            message = f"{timestamp}\n{nonce}\n{text}\n".encode()
            self._platform_key.verify(base64.b64decode(signature), message, padding.PKCS1v15(), hashes.SHA256())
        except (ValueError, InvalidSignature):
            return False
        return True

    def _get(self, path: str) -> tuple[int, dict]:
        return self._send("GET", path)

    def _send(self, method: str, path: str, body: str = "") -> tuple[int, dict]:
        try:
            with self.breaker.call():
                response = self._exchange(method, path, body)
        except CallRefused as exc:
            raise PaymentProviderUnavailable(headers={"Retry-After": str(exc.retry_after)}) from exc
        if not self._answer_is_genuine(response):
            logger.error("WeChat Pay answer to %s failed its signature check", path.split("?")[0])
            raise PaymentProviderUnavailable()
        if response.status_code == 204:  # a close: no body
            return 204, {}
        try:
            data = response.json()
        except ValueError as exc:
            raise PaymentProviderUnavailable() from exc
        return response.status_code, data if isinstance(data, dict) else {}

    def _exchange(self, method: str, path: str, body: str = ""):
        """Send the signed request. Raises PaymentProviderUnavailable when WeChat Pay fails to answer (a failure)."""
        headers = {"Authorization": self._authorization(method, path, body), "Accept": "application/json"}
        if body:
            headers["Content-Type"] = "application/json"
        try:
            response = self.session.request(
                method, self.base_url + path, data=body.encode() or None, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            logger.warning("WeChat Pay %s %s failed: %s", method, path.split("?")[0], type(exc).__name__)
            raise PaymentProviderUnavailable() from exc
        if response.status_code >= 500:
            raise PaymentProviderUnavailable()
        return response


def _cents(amount: Decimal) -> int:
    """An amount in the currency's main unit as WeChat Pay counts it (cents), exactly."""
    cents = Decimal(amount) * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{amount} has more than two decimals")
    return int(cents)


def wechat_pay_breaker(*, call_seconds: float) -> CircuitBreaker:
    """The breaker of WeChat Pay's API, shared by every worker through the cache."""
    return CircuitBreaker(
        "wechat_pay",
        failure_threshold=settings.OUTBOUND_BREAKER_FAILURES,
        window_seconds=settings.OUTBOUND_BREAKER_WINDOW_SECONDS,
        cooldown_seconds=settings.OUTBOUND_BREAKER_COOLDOWN_SECONDS,
        call_seconds=call_seconds,
        max_concurrent_calls=settings.OUTBOUND_MAX_CONCURRENT_CALLS,
    )


def get_wechat_pay_client() -> WechatPayClient:
    return WechatPayClient()
