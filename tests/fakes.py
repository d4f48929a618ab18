"""Fake third-party HTTP servers on 127.0.0.1 that the real clients talk to (no mocking of requests).

`FakeHttpServer` is generic: register a handler per (method, path); it records every request. Servers for a
particular API (WeChat, SMS, e-mail gateways) are small classes on top of it.
"""

import base64
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body or b"null")


@dataclass
class FakeResponse:
    status: int = 200
    body: object = field(default_factory=dict)
    content_type: str = "application/json"
    delay_seconds: float = 0.0
    headers: dict = field(default_factory=dict)


class FakeHttpServer:
    """An HTTP server in a daemon thread; handlers take a RecordedRequest and return a FakeResponse."""

    def __init__(self):
        self.routes = {}
        # Answers any request no route matches (an API with ids in its paths).
        self.fallback = None
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                recorded = RecordedRequest(
                    method=self.command,
                    path=split.path,
                    query={key: values[-1] for key, values in parse_qs(split.query).items()},
                    headers=dict(self.headers),
                    body=self.rfile.read(length) if length else b"",
                )
                with server._lock:
                    server.requests.append(recorded)
                handler = server.routes.get((self.command, split.path)) or server.fallback
                response = handler(recorded) if handler else FakeResponse(status=404, body={"error": "no route"})
                if response.delay_seconds:
                    time.sleep(response.delay_seconds)
                payload = response.body
                if not isinstance(payload, bytes):
                    payload = json.dumps(payload).encode()
                try:
                    self.send_response(response.status)
                    self.send_header("Content-Type", response.content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in response.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    pass

            do_GET = _handle  # noqa: N815
            do_POST = _handle  # noqa: N815

            def log_message(self, format, *args):  # noqa: A002
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self):
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, method, path, handler):
        self.routes[(method, path)] = handler

    def requests_to(self, path):
        return [request for request in self.requests if request.path == path]

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeWechat(FakeHttpServer):
    """WeChat's server API for one mini-program: code2session, the access token and phone numbers.

    Register what a code stands for with `add_login_code` / `add_phone_code`; unknown codes get WeChat's
    errcode 40029. `delay_seconds` slows every answer down (timeouts); `busy` answers errcode -1.
    """

    def __init__(self, *, appid="wx-test-app", secret="wx-test-secret"):
        super().__init__()
        self.appid, self.secret = appid, secret
        self.login_codes: dict[str, dict] = {}
        self.phone_codes: dict[str, dict] = {}
        self.valid_access_tokens: set[str] = set()
        self.delay_seconds = 0.0
        self.busy = False
        self.route("GET", "/sns/jscode2session", self._code2session)
        self.route("GET", "/cgi-bin/token", self._token)
        self.route("POST", "/wxa/business/getuserphonenumber", self._phone)

    def add_login_code(self, code, *, openid, unionid=None, session_key=None):
        self.login_codes[code] = {"openid": openid, "session_key": session_key or secrets.token_urlsafe(16)}
        if unionid:
            self.login_codes[code]["unionid"] = unionid

    def add_phone_code(self, code, *, country_code, pure_phone_number, appid=None):
        self.phone_codes[code] = {
            "phoneNumber": f"+{country_code} {pure_phone_number}",
            "purePhoneNumber": pure_phone_number,
            "countryCode": country_code,
            "watermark": {"timestamp": int(time.time()), "appid": appid or self.appid},
        }

    def expire_access_tokens(self):
        self.valid_access_tokens.clear()

    def _answer(self, body):
        if self.busy:
            body = {"errcode": -1, "errmsg": "system error"}
        # WeChat sends JSON as text/plain on some endpoints; the client must not rely on the header.
        return FakeResponse(body=body, content_type="text/plain", delay_seconds=self.delay_seconds)

    def _code2session(self, request):
        query = request.query
        if query.get("appid") != self.appid or query.get("secret") != self.secret:
            return self._answer({"errcode": 40125, "errmsg": "invalid appsecret"})
        if query.get("grant_type") != "authorization_code":
            return self._answer({"errcode": 40002, "errmsg": "invalid grant_type"})
        login = self.login_codes.pop(query.get("js_code", ""), None)  # a code works once
        if login is None:
            return self._answer({"errcode": 40029, "errmsg": "invalid code"})
        return self._answer(login)

    def _token(self, request):
        query = request.query
        if query.get("appid") != self.appid or query.get("secret") != self.secret:
            return self._answer({"errcode": 40013, "errmsg": "invalid appid"})
        token = "at_" + secrets.token_urlsafe(12)
        self.valid_access_tokens.add(token)
        return self._answer({"access_token": token, "expires_in": 7200})

    def _phone(self, request):
        if request.query.get("access_token") not in self.valid_access_tokens:
            return self._answer({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"})
        info = self.phone_codes.pop(request.json().get("code", ""), None)
        if info is None:
            return self._answer({"errcode": 40029, "errmsg": "invalid code"})
        return self._answer({"errcode": 0, "errmsg": "ok", "phone_info": info})


def rsa_key_pair() -> tuple[str, str]:
    """A fresh 2048-bit RSA key pair as (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


class FakeWechatPay(FakeHttpServer):
    """WeChat Pay API v3 for one merchant (JSAPI prepay, order query and close, refunds), with real signatures both
    ways, and the payment notifications it posts (signed with its platform key, encrypted with the APIv3 key).

    It checks each request's Authorization signature with the merchant's public key (401 otherwise) and signs
    each answer with its own platform key, as WeChat Pay does. Register orders with `add_order`; unknown ones
    get 404 ORDER_NOT_EXIST. `tamper` changes answers after signing them (the client must refuse them).
    """

    QUERY_PREFIX = "/v3/pay/transactions/out-trade-no/"
    REFUND_PATH = "/v3/refund/domestic/refunds"
    PREPAY_PATH = "/v3/pay/transactions/jsapi"

    def __init__(
        self,
        *,
        mchid="1900000109",
        appid="wx-test-app",
        merchant_public_pem: str,
        serial_no="SERIAL01",
        platform_serial="PUB_KEY_ID_01",
    ):
        super().__init__()
        self.mchid, self.appid, self.serial_no = mchid, appid, serial_no
        # The id of the platform key it signs with (Wechatpay-Serial); change it to play a key rotation.
        self.platform_serial = platform_serial
        self.merchant_key = serialization.load_pem_public_key(merchant_public_pem.encode())
        self.platform_private_pem, self.platform_public_pem = rsa_key_pair()
        self._platform_key = serialization.load_pem_private_key(self.platform_private_pem.encode(), password=None)
        self.orders: dict[str, dict] = {}
        # Refunds by out_refund_no, as WeChat Pay keeps them: asking again under one number answers the first.
        self.refunds: dict[str, dict] = {}
        self.refund_status = "SUCCESS"
        self.refund_unavailable = False  # refunds alone answer 503 (WeChat Pay busy)
        self.tamper = False
        self.status_override: int | None = None
        # Set to a code (e.g. "PARAM_ERROR") to refuse prepays with a 400.
        self.prepay_refusal: str | None = None
        self.prepays: dict[str, dict] = {}  # the prepay requests' bodies by out_trade_no
        self.on_prepay = None  # called with each prepay's body (what the database shows WeChat Pay's caller then)
        self.fallback = self._query

    def add_order(self, out_trade_no, *, total, openid, currency="HKD", trade_state="SUCCESS"):
        """`total` in cents, as WeChat Pay counts."""
        self.orders[out_trade_no] = {
            "appid": self.appid,
            "mchid": self.mchid,
            "out_trade_no": out_trade_no,
            "transaction_id": "42000" + secrets.token_hex(10),
            "trade_type": "JSAPI",
            "trade_state": trade_state,
            "trade_state_desc": "",
            "success_time": "2026-11-25T10:15:00+08:00" if trade_state == "SUCCESS" else None,
            "payer": {"openid": openid},
            "amount": {"total": total, "payer_total": total, "currency": currency, "payer_currency": currency},
        }

    def pay(self, out_trade_no, *, now=None) -> bool:
        """The member pays an order opened by prepay, as the pay sheet does: refused (False) once the order is closed,
        paid or past its time_expire."""
        order, prepay = self.orders.get(out_trade_no), self.prepays.get(out_trade_no)
        if order is None or prepay is None or order["trade_state"] != "NOTPAY":
            return False
        if (now or datetime.now(UTC)) >= datetime.fromisoformat(prepay["time_expire"]):
            return False
        order["trade_state"], order["success_time"] = "SUCCESS", "2026-11-25T10:15:00+08:00"
        return True

    def notification(self, out_trade_no, *, api_v3_key, timestamp=None, event_type="TRANSACTION.SUCCESS"):
        """The (body, headers) WeChat Pay posts to notify_url about order `out_trade_no`: the order encrypted with the
        APIv3 key (AEAD_AES_256_GCM), the whole signed with the platform key."""
        nonce = secrets.token_hex(6)
        associated_data = "transaction"
        ciphertext = AESGCM(api_v3_key.encode()).encrypt(
            nonce.encode(), json.dumps(self.orders[out_trade_no]).encode(), associated_data.encode()
        )
        body = json.dumps({
            "id": secrets.token_hex(8), "create_time": "2026-11-25T10:15:00+08:00", "resource_type": "encrypt-resource",
            "event_type": event_type, "summary": "支付成功",
            "resource": {
                "original_type": "transaction", "algorithm": "AEAD_AES_256_GCM", "associated_data": associated_data,
                "nonce": nonce, "ciphertext": base64.b64encode(ciphertext).decode(),
            },
        })  # fmt: skip
        return body, self._signature_headers(body, timestamp=timestamp)

    def settle_refund(self, out_refund_no, status):
        """WeChat Pay ends a PROCESSING refund: SUCCESS (the money is back), CLOSED or ABNORMAL."""
        self.refunds[out_refund_no]["status"] = status

    def refund_notification(self, out_refund_no, *, api_v3_key, timestamp=None):
        """The (body, headers) WeChat Pay posts to the refund's notify_url once refund `out_refund_no` is final
        (REFUND.SUCCESS, REFUND.ABNORMAL or REFUND.CLOSED): as a payment notification, its resource names the
        refund's status `refund_status`."""
        refund = self.refunds[out_refund_no]
        resource = {
            "mchid": self.mchid, "out_trade_no": refund["out_trade_no"], "transaction_id": refund["transaction_id"],
            "out_refund_no": out_refund_no, "refund_id": refund["refund_id"], "refund_status": refund["status"],
            "success_time": "2026-11-25T10:20:00+08:00" if refund["status"] == "SUCCESS" else None,
            "user_received_account": "支付用户零钱",
            "amount": {"total": refund["amount"]["total"], "refund": refund["amount"]["refund"],
                       "payer_total": refund["amount"]["total"], "payer_refund": refund["amount"]["refund"]},
        }  # fmt: skip
        nonce, associated_data = secrets.token_hex(6), "refund"
        ciphertext = AESGCM(api_v3_key.encode()).encrypt(
            nonce.encode(), json.dumps(resource).encode(), associated_data.encode()
        )
        body = json.dumps({
            "id": secrets.token_hex(8), "create_time": "2026-11-25T10:20:00+08:00", "resource_type": "encrypt-resource",
            "event_type": f"REFUND.{refund['status']}", "summary": "退款状态",
            "resource": {
                "original_type": "refund", "algorithm": "AEAD_AES_256_GCM", "associated_data": associated_data,
                "nonce": nonce, "ciphertext": base64.b64encode(ciphertext).decode(),
            },
        })  # fmt: skip
        return body, self._signature_headers(body, timestamp=timestamp)

    def _signature_headers(self, text, *, timestamp=None):
        timestamp, nonce = str(timestamp or int(time.time())), secrets.token_hex(16)
        message = f"{timestamp}\n{nonce}\n{text}\n".encode()
        signature = base64.b64encode(self._platform_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()
        return {
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature,
            "Wechatpay-Serial": self.platform_serial,
        }

    def _signed(self, status, body):
        payload = b"" if body is None else json.dumps(body).encode()
        headers = self._signature_headers(payload.decode())
        if self.tamper:
            payload = payload.replace(b'"trade_state": "NOTPAY"', b'"trade_state": "SUCCESS"')
            payload = payload.replace(b'"total": 1', b'"total": 9')
        return FakeResponse(status=status, body=payload, headers=headers)

    def _caller_is_merchant(self, request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("WECHATPAY2-SHA256-RSA2048 "):
            return False
        fields = dict(re.findall(r'(\w+)="([^"]*)"', header))
        if fields.get("mchid") != self.mchid or fields.get("serial_no") != self.serial_no:
            return False
        query = "&".join(f"{key}={value}" for key, value in request.query.items())
        target = f"{request.path}?{query}" if query else request.path
        body = request.body.decode()
        message = f"{request.method}\n{target}\n{fields.get('timestamp')}\n{fields.get('nonce_str')}\n{body}\n"
        try:
            self.merchant_key.verify(
                base64.b64decode(fields.get("signature", "")), message.encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except (ValueError, InvalidSignature):
            return False
        return True

    def _query(self, request):
        if self.status_override:
            return self._signed(self.status_override, {"code": "SYSTEM_ERROR", "message": "busy"})
        if not self._caller_is_merchant(request):
            return self._signed(401, {"code": "SIGN_ERROR", "message": "signature wrong"})
        if request.method == "POST" and request.path == self.REFUND_PATH:
            return self._refund(request.json())
        if request.method == "GET" and request.path.startswith(self.REFUND_PATH + "/"):
            refund = self.refunds.get(unquote(request.path[len(self.REFUND_PATH) + 1 :]))
            if refund is None:
                return self._signed(404, {"code": "RESOURCE_NOT_EXISTS", "message": "refund does not exist"})
            return self._signed(200, refund)
        if request.method == "POST" and request.path == self.PREPAY_PATH:
            return self._prepay(request.json())
        if request.method == "POST" and request.path.startswith(self.QUERY_PREFIX) and request.path.endswith("/close"):
            return self._close(unquote(request.path[len(self.QUERY_PREFIX) : -len("/close")]), request.json())
        if request.query.get("mchid") != self.mchid:
            return self._signed(400, {"code": "PARAM_ERROR", "message": "mchid"})
        order = None
        if request.method == "GET" and request.path.startswith(self.QUERY_PREFIX):
            order = self.orders.get(unquote(request.path[len(self.QUERY_PREFIX) :]))
        if order is None:
            return self._signed(404, {"code": "ORDER_NOT_EXIST", "message": "order does not exist"})
        return self._signed(200, order)

    def _prepay(self, body):
        if self.prepay_refusal:
            return self._signed(400, {"code": self.prepay_refusal, "message": "refused"})
        if body.get("mchid") != self.mchid or body.get("appid") != self.appid:
            return self._signed(400, {"code": "PARAM_ERROR", "message": "appid or mchid"})
        if self.on_prepay is not None:
            self.on_prepay(body)
        out_trade_no = body["out_trade_no"]
        if out_trade_no in self.orders:
            return self._signed(400, {"code": "ORDERNO_USED", "message": "order number used"})
        self.prepays[out_trade_no] = body
        self.add_order(
            out_trade_no, total=body["amount"]["total"], openid=body["payer"]["openid"],
            currency=body["amount"]["currency"], trade_state="NOTPAY",
        )  # fmt: skip
        return self._signed(200, {"prepay_id": "wx" + secrets.token_hex(14)})

    def _close(self, out_trade_no, body):
        order = self.orders.get(out_trade_no)
        if body.get("mchid") != self.mchid:
            return self._signed(400, {"code": "PARAM_ERROR", "message": "mchid"})
        if order is None:
            return self._signed(404, {"code": "ORDER_NOT_EXIST", "message": "order does not exist"})
        if order["trade_state"] == "SUCCESS":
            return self._signed(400, {"code": "ORDERPAID", "message": "order paid"})
        order["trade_state"] = "CLOSED"
        return self._signed(204, None)

    def _refund(self, body):
        if self.refund_unavailable:
            return self._signed(503, {"code": "SYSTEM_ERROR", "message": "busy"})
        order = self.orders.get(body.get("out_trade_no", ""))
        if order is None or order["trade_state"] != "SUCCESS":
            return self._signed(404, {"code": "RESOURCE_NOT_EXISTS", "message": "order does not exist"})
        amount = body.get("amount") or {}
        if amount.get("total") != order["amount"]["total"] or not 0 < amount.get("refund", 0) <= amount["total"]:
            return self._signed(400, {"code": "PARAM_ERROR", "message": "amount"})
        refund = self.refunds.get(body["out_refund_no"])
        if refund is None:
            refund = {
                "refund_id": "50000" + secrets.token_hex(10),
                "out_refund_no": body["out_refund_no"],
                "transaction_id": order["transaction_id"],
                "out_trade_no": order["out_trade_no"],
                "status": self.refund_status,
                "amount": {"refund": amount["refund"], "total": amount["total"], "currency": amount.get("currency")},
                "reason": body.get("reason", ""),
            }
            self.refunds[body["out_refund_no"]] = refund
        return self._signed(200, refund)
