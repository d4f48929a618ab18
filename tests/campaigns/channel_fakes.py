"""Fake providers of the channels on 127.0.0.1 (SMS gateway, SMTP server, WeChat subscribe messages, a webhook
receiver), driven by the real clients, and the fixtures that point the settings at them.

Each can fail a share of its calls (`fail_ratio`, from a seeded random: the same calls fail on every run) and
records what it accepted, so a test can say "every message arrived exactly once".
"""

import email
import random
import socketserver
import threading
from collections import Counter
from datetime import datetime, timedelta

import pytest

from infra.webhooks import SIGNATURE_HEADER, webhook_signature_valid
from tests.fakes import FakeHttpServer, FakeResponse, FakeWechat


class FakeSmsGateway(FakeHttpServer):
    """The generic gateway of infra/sms.py: bearer key, Idempotency-Key, 2xx accepted, 422 refused."""

    def __init__(self, *, api_key="sms-key", fail_ratio=0.0, lose_answer_ratio=0.0, seed=7):
        super().__init__()
        self.api_key = api_key
        self.fail_ratio, self.lose_answer_ratio = fail_ratio, lose_answer_ratio
        self.random = random.Random(seed)
        self.accepted: dict[str, dict] = {}  # Idempotency-Key -> first body accepted
        self.accepted_count = Counter()  # Idempotency-Key -> times a body was handed on to the network
        self.refused_numbers: set[str] = set()
        self.route("POST", "/messages", self._send)

    def _send(self, request):
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return FakeResponse(status=401, body={"error": "bad key"})
        body = request.json()
        if body["to"] in self.refused_numbers:
            return FakeResponse(status=422, body={"error": "invalid number"})
        if self.random.random() < self.fail_ratio:
            return FakeResponse(status=503, body={"error": "busy"})
        key = request.headers.get("Idempotency-Key")
        if key not in self.accepted:  # a retry of an accepted message is answered again, not sent again
            self.accepted[key] = body
            self.accepted_count[key] += 1
        if self.random.random() < self.lose_answer_ratio:  # accepted, but the answer never reaches the client
            return FakeResponse(status=502, body={"error": "bad gateway"})
        return FakeResponse(status=200, body={"id": f"gw-{key}"})


class FakeWechatMessages(FakeWechat):
    """WeChat with subscribe messages: 43101 for openids that refused, busy (-1) for a share of the calls."""

    def __init__(self, *, fail_ratio=0.0, seed=11, **kwargs):
        super().__init__(**kwargs)
        self.fail_ratio = fail_ratio
        self.random = random.Random(seed)
        self.refusing_openids: set[str] = set()
        self.sent: list[dict] = []
        self.route("POST", "/cgi-bin/message/subscribe/send", self._subscribe_send)

    def _subscribe_send(self, request):
        if request.query.get("access_token") not in self.valid_access_tokens:
            return self._answer({"errcode": 40001, "errmsg": "invalid credential"})
        body = request.json()
        if body["touser"] in self.refusing_openids:
            return self._answer({"errcode": 43101, "errmsg": "user refuse to accept the msg"})
        if self.random.random() < self.fail_ratio:
            return self._answer({"errcode": -1, "errmsg": "system error"})
        self.sent.append(body)
        return self._answer({"errcode": 0, "errmsg": "ok"})


class FakeSmtpServer:
    """A minimal SMTP server for Django's SMTP backend: 451 for a share of the messages, 550 for refused addresses."""

    def __init__(self, *, fail_ratio=0.0, seed=13):
        self.fail_ratio = fail_ratio
        self.random = random.Random(seed)
        self.refused_addresses: set[str] = set()
        self.drop_after_data = False  # take the message, then cut the line before answering
        self.messages: list[email.message.Message] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line):
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self):
                self.reply("220 fake ESMTP")
                recipients = []
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    command = line.decode(errors="replace").strip()
                    verb = command.split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250 fake")
                    elif verb == "MAIL":
                        recipients = []
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        address = command.split(":", 1)[1].strip().strip("<>")
                        if address in fake.refused_addresses:
                            self.reply("550 no such user")
                        else:
                            recipients.append(address)
                            self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 go ahead")
                        data = b""
                        while True:
                            chunk = self.rfile.readline()
                            if chunk in (b".\r\n", b".\n", b""):
                                break
                            data += chunk[1:] if chunk.startswith(b"..") else chunk
                        with fake._lock:
                            failing = fake.random.random() < fake.fail_ratio
                            if not failing:
                                fake.messages.append(email.message_from_bytes(data))
                        if fake.drop_after_data:
                            return
                        self.reply("451 try again later" if failing else "250 queued")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:  # RSET, NOOP
                        self.reply("250 OK")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self):
        return self.server.server_address[1]

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class FakeWebhookReceiver(FakeHttpServer):
    """A merchant's CRM: checks every request's HMAC signature (401 when wrong), fails a share of them (500)."""

    def __init__(self, *, secret, fail_ratio=0.0, seed=17):
        super().__init__()
        self.secret = secret
        self.fail_ratio = fail_ratio
        self.random = random.Random(seed)
        self.received: dict[str, dict] = {}  # X-Loyalty-Delivery -> body
        self.received_count = Counter()
        self.bad_signatures = 0
        self.route("POST", "/hooks", self._hook)

    def _hook(self, request):
        if not webhook_signature_valid(
            secret=self.secret, header=request.headers.get(SIGNATURE_HEADER, ""), body=request.body
        ):
            self.bad_signatures += 1
            return FakeResponse(status=401, body={"error": "bad signature"})
        if self.random.random() < self.fail_ratio:
            return FakeResponse(status=500, body={"error": "oops"})
        delivery = request.headers["X-Loyalty-Delivery"]
        self.received_count[delivery] += 1
        self.received[delivery] = request.json()
        return FakeResponse(status=204, body=b"")


class FakeClock:
    """Time for the sender: `sleep` moves it on, so rate limits are waited for without waiting."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def advance(self, **kwargs) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def no_breakers(settings):
    """Failing fakes would open the real circuit breakers (which count real seconds): keep them closed."""
    settings.OUTBOUND_BREAKER_FAILURES = 1_000_000


@pytest.fixture
def fake_sms(settings):
    server = FakeSmsGateway().start()
    settings.SMS_GATEWAY_URL = server.base_url + "/messages"
    settings.SMS_GATEWAY_API_KEY = server.api_key
    settings.SMS_SENDER_ID = "LOYALTY"
    settings.SMS_TIMEOUT_SECONDS = 2.0
    yield server
    server.stop()


@pytest.fixture
def fake_smtp(settings):
    server = FakeSmtpServer().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 2
    settings.DEFAULT_FROM_EMAIL = "club@example.com"
    yield server
    server.stop()


@pytest.fixture
def fake_wechat_messages(settings):
    server = FakeWechatMessages(appid="wx-test-app", secret="wx-test-secret").start()
    settings.WECHAT_API_BASE = server.base_url
    settings.WECHAT_APPID, settings.WECHAT_SECRET = server.appid, server.secret
    settings.WECHAT_TIMEOUT_SECONDS = 2.0
    yield server
    server.stop()


@pytest.fixture
def fake_webhook_receiver(settings):
    # The fake listens on 127.0.0.1 over http: allowed in tests only (infra/webhooks.py refuses both otherwise).
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORK = True
    # A fake failing on purpose would open the endpoint's real breaker (which counts real seconds).
    settings.WEBHOOK_BREAKER_FAILURES = 1_000_000
    server = FakeWebhookReceiver(secret="whsec-test").start()
    yield server
    server.stop()
