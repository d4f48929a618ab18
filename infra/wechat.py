"""The WeChat HTTP client: code2session (mini-program login), the access token, phone numbers, subscribe messages.

One real HTTP client (requests) whose base URL comes from settings, so tests drive it against a fake
server on 127.0.0.1. WeChat answers HTTP 200 with an `errcode` when it refuses something; a refusal of the
user's code becomes a domain error the client can act on, anything else (network, timeout, WeChat busy,
our own credentials refused) becomes `wechat_unavailable`. Every call has strict connect and read timeouts and
goes through a circuit breaker in the shared cache (infra/circuit.py): when WeChat keeps failing, or too many
calls already wait on it, the answer is `wechat_unavailable` at once, with Retry-After.
"""

import logging
from dataclasses import dataclass

import requests
from django.conf import settings
from django.core.cache import cache

from infra.circuit import CallRefused, CircuitBreaker
from infra.errors import (
    DeliveryOutcomeUnknown,
    DeliveryRefused,
    WechatLoginFailed,
    WechatPhoneFailed,
    WechatSubscriptionRefused,
    WechatUnavailable,
)

logger = logging.getLogger(__name__)

# errcodes that mean "WeChat is busy or rate-limits us", not "the code is bad".
BUSY_ERRCODES = frozenset({-1, 45009, 45011})
# errcodes that mean our access token is no longer valid: drop it and fetch a new one once.
STALE_TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
# The member refused the template (or its one-time subscription is used up): WeChat will not deliver it.
SUBSCRIPTION_REFUSED_ERRCODE = 43101
# Refresh the cached access token this long before WeChat says it expires.
ACCESS_TOKEN_MARGIN_SECONDS = 300


@dataclass(frozen=True)
class WechatLogin:
    """What code2session returns. `session_key` stays on the server."""

    openid: str
    session_key: str
    unionid: str = ""


class WechatClient:
    """A thin client of WeChat's server API for one mini-program (appid + secret from settings)."""

    def __init__(self, *, base_url=None, appid=None, secret=None, timeout=None, session=None, breaker=None):
        self.base_url = (base_url or settings.WECHAT_API_BASE).rstrip("/")
        self.appid = appid if appid is not None else settings.WECHAT_APPID
        self.secret = secret if secret is not None else settings.WECHAT_SECRET
        read_timeout = timeout if timeout is not None else settings.WECHAT_TIMEOUT_SECONDS
        self.timeout = (min(settings.OUTBOUND_CONNECT_TIMEOUT_SECONDS, read_timeout), read_timeout)
        self.session = session or requests.Session()
        self.breaker = breaker or wechat_breaker(call_seconds=sum(self.timeout))

    # -- login ---------------------------------------------------------------------------------------------
    def code_to_session(self, *, code: str) -> WechatLogin:
        """Exchange a wx.login code for the user's openid. Raises WechatLoginFailed, WechatUnavailable."""
        data = self._request(
            "GET",
            "/sns/jscode2session",
            params={"appid": self.appid, "secret": self.secret, "js_code": code, "grant_type": "authorization_code"},
        )
        errcode = data.get("errcode") or 0
        if errcode or not data.get("openid") or not data.get("session_key"):
            logger.info("WeChat code2session refused: errcode=%s errmsg=%s", errcode, data.get("errmsg"))
            raise WechatLoginFailed()
        return WechatLogin(openid=data["openid"], session_key=data["session_key"], unionid=data.get("unionid") or "")

    # -- phone numbers -------------------------------------------------------------------------------------
    def get_phone_number(self, *, code: str) -> str:
        """Return the phone behind a getPhoneNumber code, as +<country code><number>.

        Raises WechatPhoneFailed when WeChat refuses the code, WechatUnavailable otherwise.
        """
        for attempt in range(2):
            token = self.access_token(force_refresh=attempt > 0)
            data = self._request(
                "POST", "/wxa/business/getuserphonenumber", params={"access_token": token}, json={"code": code}
            )
            errcode = data.get("errcode") or 0
            if errcode in STALE_TOKEN_ERRCODES and attempt == 0:
                continue
            break
        if errcode in BUSY_ERRCODES or errcode in STALE_TOKEN_ERRCODES:
            raise WechatUnavailable()
        info = data.get("phone_info") or {}
        if errcode or not info.get("purePhoneNumber") or not info.get("countryCode"):
            logger.info("WeChat getuserphonenumber refused: errcode=%s errmsg=%s", errcode, data.get("errmsg"))
            raise WechatPhoneFailed()
        watermark_appid = (info.get("watermark") or {}).get("appid")
        if watermark_appid and watermark_appid != self.appid:
            logger.warning("WeChat phone number carries another appid's watermark: %s", watermark_appid)
            raise WechatPhoneFailed()
        return f"+{info['countryCode']}{info['purePhoneNumber']}"

    # -- subscribe messages --------------------------------------------------------------------------------
    def send_subscribe_message(
        self, *, openid: str, template_id: str, data: dict[str, str], page: str = "", lang: str = "zh_HK"
    ) -> None:
        """Send a subscribe message (a template the member accepted in the mini program) to `openid`.

        `data` maps the template's keywords (thing1, time2, ...) to their values. Raises WechatSubscriptionRefused
        (errcode 43101: not accepted, or a one-time subscription already used), DeliveryRefused (WeChat refused
        this message: a bad openid, template or value), WechatUnavailable (retry later), DeliveryOutcomeUnknown (no
        answer once sent: it may have arrived).
        """
        body = {
            "touser": openid,
            "template_id": template_id,
            "data": {keyword: {"value": value} for keyword, value in data.items()},
            "miniprogram_state": settings.WECHAT_MINIPROGRAM_STATE,
            "lang": lang,
        }
        if page:
            body["page"] = page
        for attempt in range(2):
            token = self.access_token(force_refresh=attempt > 0)
            try:
                answer = self._request(
                    "POST", "/cgi-bin/message/subscribe/send", params={"access_token": token}, json=body
                )
            except WechatUnavailable as exc:
                if isinstance(exc.__cause__, requests.ReadTimeout):  # sent, and no answer: it may have arrived
                    raise DeliveryOutcomeUnknown() from exc
                raise
            errcode = answer.get("errcode") or 0
            if errcode in STALE_TOKEN_ERRCODES and attempt == 0:
                continue
            break
        if errcode in STALE_TOKEN_ERRCODES:
            raise WechatUnavailable()
        if errcode == SUBSCRIPTION_REFUSED_ERRCODE:
            raise WechatSubscriptionRefused()
        if errcode:
            logger.info("WeChat subscribe message refused: errcode=%s errmsg=%s", errcode, answer.get("errmsg"))
            raise DeliveryRefused(f"WeChat errcode {errcode}: {answer.get('errmsg') or ''}".strip())

    # -- access token --------------------------------------------------------------------------------------
    def _access_token_cache_key(self):
        return f"wechat:access_token:{self.appid}"

    def access_token(self, *, force_refresh: bool = False) -> str:
        """Return the mini-program's access token, cached until shortly before it expires."""
        key = self._access_token_cache_key()
        if not force_refresh:
            cached = cache.get(key)
            if cached:
                return cached
        data = self._request(
            "GET",
            "/cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )
        token = data.get("access_token")
        if data.get("errcode") or not token:
            # Our own credentials (or IP allow-list) were refused: an operator problem, not the user's.
            logger.error(
                "WeChat refused our credentials: errcode=%s errmsg=%s", data.get("errcode"), data.get("errmsg")
            )
            raise WechatUnavailable()
        try:
            expires_in = int(data.get("expires_in") or 7200)
        except (TypeError, ValueError):
            expires_in = 7200
        cache.set(key, token, timeout=max(expires_in - ACCESS_TOKEN_MARGIN_SECONDS, 30))
        return token

    # -- transport -----------------------------------------------------------------------------------------
    def _request(self, method, path, *, params=None, json=None) -> dict:
        """Return WeChat's JSON answer. Raises WechatUnavailable for a failure, a busy WeChat or an open breaker."""
        try:
            with self.breaker.call():
                return self._exchange(method, path, params=params, json=json)
        except CallRefused as exc:
            raise WechatUnavailable(headers={"Retry-After": str(exc.retry_after)}) from exc

    def _exchange(self, method, path, *, params, json) -> dict:
        try:
            response = self.session.request(
                method, self.base_url + path, params=params, json=json, timeout=self.timeout
            )
            response.raise_for_status()
            data = response.json()
        except (requests.RequestException, ValueError) as exc:
            # The URL carries the secret or the access token: log the path only.
            logger.warning("WeChat %s %s failed: %s", method, path, type(exc).__name__)
            raise WechatUnavailable() from exc
        if not isinstance(data, dict):
            raise WechatUnavailable()
        if (data.get("errcode") or 0) in BUSY_ERRCODES:
            logger.warning("WeChat %s %s answered busy: errcode=%s", method, path, data.get("errcode"))
            raise WechatUnavailable()
        return data


def wechat_breaker(*, call_seconds: float, clock=None) -> CircuitBreaker:
    """The breaker of WeChat's server API, shared by every worker through the cache (`clock` for tests)."""
    return CircuitBreaker(
        "wechat",
        failure_threshold=settings.OUTBOUND_BREAKER_FAILURES,
        window_seconds=settings.OUTBOUND_BREAKER_WINDOW_SECONDS,
        cooldown_seconds=settings.OUTBOUND_BREAKER_COOLDOWN_SECONDS,
        call_seconds=call_seconds,
        max_concurrent_calls=settings.OUTBOUND_MAX_CONCURRENT_CALLS,
        clock=clock,
    )


def get_wechat_client() -> WechatClient:
    return WechatClient()
