"""Member tokens (opaque, hashed, 30-day sliding expiry, revocable) and POS keys (per store, hashed)."""

import hmac
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from infra.prepared import PreparedRead
from members.formats import hash_secret, new_member_token, new_pos_key
from members.models import MemberToken, StoreApiKey

# Sliding expiry is refreshed at most this often, so a busy client doesn't write on every request.
TOKEN_REFRESH_INTERVAL = timedelta(hours=1)


def member_token_issue(*, member_id: int, now: datetime, user_agent: str = "") -> str:
    """Create a token for a member and return its plain text (shown once, never stored)."""
    raw = new_member_token()
    MemberToken.objects.create(
        member_id=member_id,
        token_hash=hash_secret(raw),
        expires_at=now + timedelta(days=settings.MEMBER_TOKEN_TTL_DAYS),
        last_used_at=now,
        user_agent=user_agent[:200],
    )
    return raw


def member_token_authenticate(*, raw: str, now: datetime) -> MemberToken | None:
    """Return the live token for a plain token text (and slide its expiry), or None."""
    if not raw or not raw.startswith("mbr_"):
        return None
    token = (
        MemberToken.objects.select_related("member")
        .filter(token_hash=hash_secret(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None or token.expires_at <= now or token.member.status in ("frozen", "closed"):
        return None
    if token.last_used_at is None or now - token.last_used_at > TOKEN_REFRESH_INTERVAL:
        MemberToken.objects.filter(pk=token.pk).update(
            last_used_at=now, expires_at=now + timedelta(days=settings.MEMBER_TOKEN_TTL_DAYS)
        )
    return token


def member_token_revoke(*, token_id: int, now: datetime) -> None:
    MemberToken.objects.filter(pk=token_id, revoked_at__isnull=True).update(revoked_at=now)


@transaction.atomic
def store_api_key_create(*, store_id: int, name: str = "") -> tuple[StoreApiKey, str]:
    """Create a POS key for a store; return it with the plain key (shown once)."""
    prefix, raw = new_pos_key()
    key = StoreApiKey.objects.create(store_id=store_id, name=name, prefix=prefix, key_hash=hash_secret(raw))
    return key, raw


# Every till request reads its key: one of the till's hottest reads, compiled once per process (infra/prepared.py).
_LIVE_KEY = PreparedRead(
    lambda prefix: StoreApiKey.objects.select_related("store").filter(
        prefix=prefix, revoked_at__isnull=True, store__is_active=True
    ),
    prefix=str,
)


def store_api_key_authenticate(*, raw: str, now: datetime) -> StoreApiKey | None:
    """Return the live key for a plain POS key, or None."""
    prefix, _dot, _secret = (raw or "").partition(".")
    if not prefix.startswith("pk_") or not _secret:
        return None
    key = _LIVE_KEY.one(prefix=prefix)
    if key is None or not hmac.compare_digest(key.key_hash, hash_secret(raw)):
        return None
    if key.last_used_at is None or now - key.last_used_at > TOKEN_REFRESH_INTERVAL:
        StoreApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key
