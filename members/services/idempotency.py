"""Request-level idempotency: a retry with the same key gets the first answer again.

A record (scope, key, SHA-256 of the request, stored response) is inserted in the same transaction as the
work it guards. A concurrent retry with the same key waits on the unique index until the first commits,
then replays its answer; if the first fails, its record rolls back with it and the retry does the work.
The same key with a different request is refused (`idempotency_key_reused`). Error answers (domain errors
raised by the work) are not stored: the retry simply runs again.

Scopes are free-form and name the caller and the action, e.g. f"pos:{store_id}:purchase", so two stores
(or two actions) never share a key space. Ledger entries derive their own unique keys from scope and key.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from infra.errors import InvalidInput
from members.errors import IdempotencyKeyReused, IdempotencyRequestInProgress
from members.models import IdempotencyRecord

IDEMPOTENCY_KEY_MAX_LENGTH = 100
SCOPE_MAX_LENGTH = 64


@dataclass(frozen=True)
class IdempotentResult:
    status_code: int
    body: Any
    is_replay: bool


def idempotency_request_hash(payload: Any) -> str:
    """Return the SHA-256 of a request: bytes as they are, anything else as canonical JSON."""
    if isinstance(payload, bytes | bytearray):
        data = bytes(payload)
    elif isinstance(payload, str):
        data = payload.encode()
    else:
        data = json.dumps(payload, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()


def idempotency_key_validate(key: str | None) -> str:
    """Return a usable key, or raise InvalidInput naming the Idempotency-Key header."""
    key = (key or "").strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX_LENGTH or not key.isprintable():
        message = _("Send an Idempotency-Key header of 1 to %(max)d printable characters.") % {
            "max": IDEMPOTENCY_KEY_MAX_LENGTH
        }
        raise InvalidInput.for_field("Idempotency-Key", message, code="idempotency_key_invalid")
    return key


@transaction.atomic
def idempotency_run(
    *, scope: str, key: str, request_hash: str, action: Callable[[], tuple[int, Any]]
) -> IdempotentResult:
    """Run `action` once per (scope, key) and store its (status code, JSON body); replay it on a retry.

    `action` runs inside this transaction, so the record and the work commit or roll back together.
    Raises IdempotencyKeyReused (same key, different request), InvalidInput (bad key), and whatever
    `action` raises (nothing is stored then).
    """
    if not scope or len(scope) > SCOPE_MAX_LENGTH:
        raise ValueError(f"idempotency scope must have 1 to {SCOPE_MAX_LENGTH} characters: {scope!r}")
    key = idempotency_key_validate(key)
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(scope=scope, key=key, request_hash=request_hash)
    except IntegrityError:
        record = IdempotencyRecord.objects.get(scope=scope, key=key)
        if record.request_hash != request_hash:
            raise IdempotencyKeyReused.for_field("Idempotency-Key") from None
        if record.status_code is None:  # only visible to a reader that sees uncommitted work
            raise IdempotencyRequestInProgress() from None
        return IdempotentResult(status_code=record.status_code, body=record.response_body, is_replay=True)
    status_code, body = action()
    # Store exactly what a JSON client received, so the replay is byte-for-byte the same data.
    stored = json.loads(json.dumps(body, cls=DjangoJSONEncoder))
    IdempotencyRecord.objects.filter(pk=record.pk).update(status_code=status_code, response_body=stored)
    return IdempotentResult(status_code=status_code, body=stored, is_replay=False)
