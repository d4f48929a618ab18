"""A merchant's webhook URL cannot turn our servers against our own network (issue 12, SSRF): https only, public
addresses only, checked when the endpoint is saved and again after DNS at every send, the connection pinned to the
address checked, no redirect followed, and refusals logged by a stable code rather than the network's answer.

No test here sends anything beyond 127.0.0.1: a private address is refused before any connection, and a host name
is "resolved" by a stand-in resolver to the fake receiver's loopback address."""

import socket
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from campaigns.admin.webhooks import WebhookEndpointForm
from campaigns.channels.webhooks import WebhookEventDraft, webhook_events_record, webhook_send
from campaigns.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from infra.webhooks import WebhookUrlRefused, webhook_address_public, webhook_pool, webhook_url_check
from tests.fakes import FakeResponse

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 6, 1, 12, 0, tzinfo=ZoneInfo("Asia/Hong_Kong"))
Status = WebhookDelivery.Status


@pytest.fixture
def production(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORK = False


@pytest.fixture
def resolver(monkeypatch):
    """Host names of the tests resolve as the test says; every other name (the database's, Redis') as usual."""
    answers: dict[str, list] = {}
    calls: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            calls.append(host)
            answer = answers[host].pop(0) if len(answers[host]) > 1 else answers[host][0]
            if isinstance(answer, Exception):
                raise answer
            family = socket.AF_INET6 if ":" in answer else socket.AF_INET
            return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (answer, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, calls


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",  # the cloud's metadata service
        "10.0.0.5", "172.16.3.4", "192.168.1.1",  # private
        "127.0.0.1", "127.8.9.10", "::1",  # loopback
        "0.0.0.0", "::",  # unspecified
        "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1",  # link-local and unique local
        "100.64.0.1",  # shared (carrier-grade NAT)
        "224.0.0.1", "ff02::1",  # multicast
        "240.0.0.1", "255.255.255.255",  # reserved, broadcast
        "::ffff:127.0.0.1", "::ffff:169.254.169.254",  # IPv4 written as IPv6
        "not-an-address",
    ],
)  # fmt: skip
def test_private_loopback_link_local_multicast_and_reserved_addresses_are_not_public(address):
    assert not webhook_address_public(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_public(address):
    assert webhook_address_public(address)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://crm.example.com/hooks", "webhook_url_not_https"),
        ("https://169.254.169.254/latest/meta-data/", "webhook_address_not_public"),
        ("https://10.1.2.3/hooks", "webhook_address_not_public"),
        ("https://127.0.0.1:8000/hooks", "webhook_address_not_public"),
        ("https://[::1]/hooks", "webhook_address_not_public"),
        ("https://[::ffff:10.0.0.1]/hooks", "webhook_address_not_public"),
        ("https://localhost/hooks", "webhook_address_not_public"),
        ("https://db.internal/hooks", "webhook_address_not_public"),
        ("https://admin:secret@crm.example.com/hooks", "webhook_url_invalid"),
        ("ftp://crm.example.com/hooks", "webhook_url_invalid"),
        ("https:///hooks", "webhook_url_invalid"),
        ("https://crm.example.com:99999/hooks", "webhook_url_invalid"),
    ],
)
def test_a_url_that_could_reach_our_network_is_refused_at_save_by_the_form_and_the_model(production, url, code):
    form = WebhookEndpointForm(data={"name": "CRM", "url": url, "events": [WebhookEvent.MEMBER_JOINED]})
    assert not form.is_valid()
    assert "url" in form.errors

    with pytest.raises(WebhookUrlRefused) as refused:
        webhook_url_check(url)
    assert refused.value.code == code
    assert not WebhookEndpoint.objects.exists()


def test_a_public_https_url_is_saved_by_the_form(production):
    form = WebhookEndpointForm(
        data={"name": "CRM", "url": "https://crm.example.com/hooks?shop=1", "events": [WebhookEvent.MEMBER_JOINED]}
    )
    assert form.is_valid(), form.errors

    endpoint = form.save()
    assert endpoint.url == "https://crm.example.com/hooks?shop=1"


def test_development_settings_allow_http_and_loopback(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORK = True
    webhook_url_check("http://127.0.0.1:8000/hooks")


def _one_delivery(url):
    # Saved as an older row could have been, before the check at save existed: the send must check again.
    endpoint = WebhookEndpoint.objects.create(name="CRM", url=url, secret="whsec-test", events=["coupon.issued"])
    webhook_events_record(event="coupon.issued", drafts=[WebhookEventDraft(key="c1", payload={})], now=NOON)
    return endpoint, WebhookDelivery.objects.get()


def test_a_host_name_resolving_to_a_private_address_is_refused_at_send_time_without_connecting(
    fake_webhook_receiver, production, resolver
):
    # given a host name whose DNS answer (today) is the loopback address the fake listens on
    answers, _calls = resolver
    answers["crm.example.test"] = ["127.0.0.1"]
    port = fake_webhook_receiver.httpd.server_address[1]
    _endpoint, delivery = _one_delivery(f"https://crm.example.test:{port}/hooks")

    # when it is sent
    status = webhook_send(delivery_id=delivery.pk, now=NOON)

    # then nothing was sent, the delivery failed at once, and the log says why by a code, not by the network
    delivery.refresh_from_db()
    assert (status, delivery.status, delivery.last_error, delivery.last_status_code) == (
        Status.FAILED, Status.FAILED, "webhook_address_not_public", None,
    )  # fmt: skip
    assert fake_webhook_receiver.requests == []


def test_one_private_address_among_the_answers_is_enough_to_refuse(production, resolver, monkeypatch):
    from infra.webhooks import WebhookAddressNotPublic, webhook_resolve

    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *a, **k: (
            [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port)),
            ]
            if host == "mixed.example.test"
            else real(host, port, *a, **k)
        ),
    )
    with pytest.raises(WebhookAddressNotPublic):
        webhook_resolve("mixed.example.test", 443)


def test_a_host_that_does_not_resolve_is_a_failure_for_now_with_a_code(fake_webhook_receiver, production, resolver):
    answers, _calls = resolver
    answers["gone.example.test"] = [socket.gaierror(socket.EAI_NONAME, "Name or service not known")]
    _endpoint, delivery = _one_delivery("https://gone.example.test/hooks")

    assert webhook_send(delivery_id=delivery.pk, now=NOON) == Status.PENDING

    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_error) == (1, "webhook_host_unresolvable")


def test_the_connection_goes_to_the_address_checked_and_a_second_dns_answer_is_never_asked_for(
    fake_webhook_receiver, resolver
):
    # given (development settings, so loopback is allowed) a name that resolves to the fake once, and would
    # resolve to something else afterwards (DNS rebinding): the second answer is a failure if anyone asks
    answers, calls = resolver
    answers["crm.example.test"] = ["127.0.0.1", OSError("asked twice: the address was not pinned")]
    port = fake_webhook_receiver.httpd.server_address[1]
    _endpoint, delivery = _one_delivery(f"http://crm.example.test:{port}/hooks")

    assert webhook_send(delivery_id=delivery.pk, now=NOON) == Status.SENT

    # then it was resolved once, and the receiver was spoken to by its name
    assert calls == ["crm.example.test"]
    [request] = fake_webhook_receiver.requests
    assert request.headers["Host"] == f"crm.example.test:{port}"
    assert fake_webhook_receiver.bad_signatures == 0


def test_https_connects_to_the_pinned_address_but_checks_the_certificate_of_the_host_name():
    pool = webhook_pool(scheme="https", host="crm.example.com", port=443, address="93.184.216.34", timeout=1)
    assert pool.host == "93.184.216.34"
    assert pool.conn_kw["server_hostname"] == "crm.example.com"  # SNI
    assert pool.assert_hostname == "crm.example.com"
    assert pool.cert_reqs == "CERT_REQUIRED"


def test_a_redirect_is_not_followed(fake_webhook_receiver):
    fake_webhook_receiver.route(
        "POST", "/moved", lambda request: FakeResponse(status=307, headers={"Location": "/hooks"}, body=b"")
    )
    _endpoint, delivery = _one_delivery(fake_webhook_receiver.base_url + "/moved")

    assert webhook_send(delivery_id=delivery.pk, now=NOON) == Status.PENDING

    delivery.refresh_from_db()
    assert (delivery.last_status_code, delivery.last_error) == (307, "HTTP 307")
    assert [request.path for request in fake_webhook_receiver.requests] == ["/moved"]
    assert fake_webhook_receiver.received == {}


def test_a_huge_answer_is_not_read(fake_webhook_receiver):
    fake_webhook_receiver.route("POST", "/big", lambda request: FakeResponse(status=200, body=b"x" * 20_000_000))
    _endpoint, delivery = _one_delivery(fake_webhook_receiver.base_url + "/big")

    assert webhook_send(delivery_id=delivery.pk, now=NOON) == Status.SENT
