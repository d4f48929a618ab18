"""Fake third-party HTTP servers on 127.0.0.1 that the real clients talk to (no mocking of requests).

`FakeHttpServer` is generic: register a handler per (method, path); it records every request. Servers for a
particular API (WeChat, SMS, e-mail gateways) are small classes on top of it.
"""

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


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


class FakeHttpServer:
    """An HTTP server in a daemon thread; handlers take a RecordedRequest and return a FakeResponse."""

    def __init__(self):
        self.routes = {}
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
                handler = server.routes.get((self.command, split.path))
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
