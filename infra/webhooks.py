"""Outbound webhooks: HMAC-SHA256 signatures, and one POST to a vetted public address with strict timeouts.

The receiver checks `X-Loyalty-Signature: t=<unix seconds>,v1=<hex>` where hex is
HMAC-SHA256(secret, "<t>.<raw body>"), and should refuse a timestamp older than a few minutes (replays).
`X-Loyalty-Event` names the event and `X-Loyalty-Delivery` is the delivery's id, the same on every retry, so a
receiver that saw it already can answer 2xx and do nothing. Any answer other than 2xx, a timeout or a network
failure is a failure the caller retries.

A webhook URL is typed by a merchant, and the delivery log shows what happened to each POST: without care it is a
way to make our servers call, and report on, addresses inside our network (the cloud's metadata service at
169.254.169.254, a database on 10.x, a port on 127.0.0.1). So (issue 12):
- at save (`webhook_url_check`: the console's form and the service) the URL must be https, without credentials,
  and a host given as an address must be public;
- at send time the host is resolved once, every address it resolves to must be public, and the connection goes
  to that vetted address (pinned: a second DNS answer, as in DNS rebinding, is never asked for), with the URL's
  host name kept in the Host header and for TLS (SNI and the certificate check);
- redirects are never followed (a 3xx is a failed delivery), and the answer's body is not read at all.
Refusals are errors with stable codes, which the delivery log shows instead of the network's own messages.
WEBHOOK_ALLOW_PRIVATE_NETWORK (development and tests only: the tests' fake receivers listen on 127.0.0.1) allows
http and private addresses.
"""

import hashlib
import hmac
import ipaddress
import logging
import re
import socket
import time
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from infra.errors import DeliveryUnavailable, LoyaltyError

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Loyalty-Signature"
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # Unix seconds: ASCII digits, and few enough for int() and any clock
# Names that are never public, whatever a resolver says of them.
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")


class WebhookUrlRefused(LoyaltyError):
    """The URL may not receive webhooks. `code` says why: stable, shown in the delivery log and by the form."""

    code = "webhook_url_invalid"
    message = _("Enter a valid https URL without a user name or password.")
    status = 422


class WebhookUrlNotHttps(WebhookUrlRefused):
    code = "webhook_url_not_https"
    message = _("Webhook URLs must start with https://.")


class WebhookAddressNotPublic(WebhookUrlRefused):
    code = "webhook_address_not_public"
    message = _("Webhook URLs must point to a public internet address, not a private, loopback or reserved one.")


class WebhookHostUnresolvable(DeliveryUnavailable):
    """The host name has no address now (DNS failed): a failure for now, tried again like any other."""

    code = "webhook_host_unresolvable"


def _private_network_allowed() -> bool:
    return settings.WEBHOOK_ALLOW_PRIVATE_NETWORK


def webhook_address_public(address: str) -> bool:
    """Whether `address` (an IP address) is a public unicast internet address.

    Not public: private (10/8, 172.16/12, 192.168/16, fc00::/7), loopback (127/8, ::1), link-local (169.254/16,
    fe80::/10: the cloud's metadata service), shared (100.64/10), multicast, reserved, unspecified, and an IPv4
    address written as IPv6 (::ffff:127.0.0.1) is judged as the IPv4 address it is.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) is not part of it
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _parts(url: str):
    """(scheme, host, port) of a URL fit to receive webhooks; raises WebhookUrlRefused."""
    try:
        split = urlsplit((url or "").strip())
        port = split.port
    except ValueError as exc:
        raise WebhookUrlRefused() from exc
    scheme, host = split.scheme.lower(), (split.hostname or "").rstrip(".").lower()
    if scheme not in ("https", "http") or not host or split.username is not None or split.password is not None:
        raise WebhookUrlRefused()
    if scheme != "https" and not _private_network_allowed():
        raise WebhookUrlNotHttps()
    return scheme, host, port or (443 if scheme == "https" else 80)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def webhook_url_check(url: str) -> None:
    """Refuse at save a URL that can never receive webhooks (see the module's docstring); raises WebhookUrlRefused.

    A host name is not resolved here: what it resolves to at save says nothing of what it will resolve to when a
    delivery goes out, which is checked then.
    """
    _scheme, host, _port = _parts(url)
    if _private_network_allowed():
        return
    if (
        host == "localhost"
        or host.endswith(_LOCAL_SUFFIXES)
        or (_is_address(host) and not webhook_address_public(host))
    ):
        raise WebhookAddressNotPublic()


def webhook_resolve(host: str, port: int) -> str:
    """Resolve `host` once and return the address to connect to; every address it has must be public.

    Raises WebhookAddressNotPublic, or WebhookHostUnresolvable (DNS failed: a failure for now).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise WebhookHostUnresolvable(WebhookHostUnresolvable.code) from exc
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise WebhookHostUnresolvable(WebhookHostUnresolvable.code)
    # All of them, not only the first: a resolver may answer a public and a private address and the client pick.
    if not _private_network_allowed() and not all(webhook_address_public(address) for address in addresses):
        raise WebhookAddressNotPublic()
    return addresses[0]


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
    if not _TIMESTAMP.fullmatch(timestamp) or not _HEX_DIGEST.fullmatch(given):
        return False
    if max_age_seconds is not None and abs((time.time() if now is None else now) - int(timestamp)) > max_age_seconds:
        return False
    expected = webhook_signature(secret=secret, timestamp=int(timestamp), body=body).split("v1=", 1)[1]
    return hmac.compare_digest(expected.encode(), given.encode())


def webhook_pool(*, scheme: str, host: str, port: int, address: str, timeout) -> urllib3.HTTPConnectionPool:
    """A one-connection pool to the vetted `address`, speaking to it as `host` (Host header, SNI, certificate)."""
    if scheme == "https":
        return urllib3.HTTPSConnectionPool(
            address, port, maxsize=1, retries=False, timeout=timeout,
            server_hostname=host, assert_hostname=host, cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(),
        )  # fmt: skip
    return urllib3.HTTPConnectionPool(address, port, maxsize=1, retries=False, timeout=timeout)


def _host_header(host: str, scheme: str, port: int) -> str:
    name = f"[{host}]" if ":" in host else host
    return name if port == (443 if scheme == "https" else 80) else f"{name}:{port}"


def webhook_post(*, url: str, secret: str, event: str, delivery_id: str, body: bytes, timestamp: int) -> int:
    """POST a signed event; return the HTTP status (2xx).

    Raises WebhookUrlRefused (the URL or the address it resolves to may not receive webhooks: no request was
    made) and DeliveryUnavailable for anything else (a failure for now, including every non-2xx answer).
    """
    scheme, host, port = _parts(url)
    webhook_url_check(url)
    address = webhook_resolve(host, port)
    split = urlsplit(url.strip())
    target = (split.path or "/") + (f"?{split.query}" if split.query else "")
    read_timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    timeout = urllib3.Timeout(connect=min(settings.OUTBOUND_CONNECT_TIMEOUT_SECONDS, read_timeout), read=read_timeout)
    headers = {
        "Host": _host_header(host, scheme, port),
        "Content-Type": "application/json",
        "User-Agent": "loyalty-webhooks/1",
        "X-Loyalty-Event": event,
        "X-Loyalty-Delivery": delivery_id,
        SIGNATURE_HEADER: webhook_signature(secret=secret, timestamp=timestamp, body=body),
    }
    pool = webhook_pool(scheme=scheme, host=host, port=port, address=address, timeout=timeout)
    try:
        # The status is all we need: the body is never read, so an endless or huge answer costs nothing.
        response = pool.urlopen(
            "POST", target, body=body, headers=headers, redirect=False, retries=False, preload_content=False
        )
        status = response.status
        response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        raise DeliveryUnavailable(type(exc).__name__) from exc
    finally:
        pool.close()
    if not 200 <= status < 300:
        raise DeliveryUnavailable(f"HTTP {status}")
    return status
