"""Hints in the shared cache that let a flash sale refuse most claims without touching the database.

After the database has refused a claim as sold out, or has seen a member hold their limit of an offer, a hint
says so in the shared cache (`django.core.cache.cache`: Redis through CACHE_URL in production). The next claims
read the hints in one cache round trip before any query and are refused at once: in a sale of 100 coupons to
2,000 taps, 1,900 answers never wait behind the template's row.

The database stays the only judge of what is issued: a hint only ever refuses, and only what the database
refused first. A wrong hint therefore never over-issues; it can only refuse for a while, and that while is short:
- every hint carries its offer's generation (a random token, one cache key per offer). Whatever gives stock
  or claims back (the offer edited in the console: quota or limit raised, reopened, reactivated; partner codes
  uploaded) starts a new generation after its commit (`claim_hints_clear_on_commit`), which voids every hint
  of the offer at once, including one written late by a claim that read the stock before the change;
- a sold-out hint lives SOLD_OUT_SECONDS, a limit hint LIMIT_SECONDS, the generation GENERATION_SECONDS: stock
  that came back without a clear (a lost cache write, an edit in a shell) is seen again within seconds.
"""

import secrets
from dataclasses import dataclass
from functools import partial

from django.core.cache import cache
from django.db import transaction

SOLD_OUT_SECONDS = 10
# A member's count of an offer only grows (void coupons still count), and a raised limit starts a new generation.
LIMIT_SECONDS = 600
GENERATION_SECONDS = 24 * 3600


def _generation_key(template_id: int) -> str:
    return f"coupons:claim:{template_id}:generation"


def _sold_out_key(template_id: int) -> str:
    return f"coupons:claim:{template_id}:sold_out"


def _limit_key(template_id: int, member_id: int) -> str:
    return f"coupons:claim:{template_id}:limit:{member_id}"


@dataclass(frozen=True)
class ClaimHints:
    """What the cache said about one member's claim of one offer, read before the database was asked."""

    template_id: int
    member_id: int
    generation: str | None
    is_sold_out: bool
    is_limit_reached: bool


def claim_hints_read(*, template_id: int, member_id: int) -> ClaimHints:
    """Read the offer's generation and both hints in one cache round trip; a hint of another generation is none."""
    keys = (_generation_key(template_id), _sold_out_key(template_id), _limit_key(template_id, member_id))
    found = cache.get_many(keys)
    generation = found.get(keys[0])
    return ClaimHints(
        template_id=template_id,
        member_id=member_id,
        generation=generation,
        is_sold_out=generation is not None and found.get(keys[1]) == generation,
        is_limit_reached=generation is not None and found.get(keys[2]) == generation,
    )


def _generation_for_writing(hints: ClaimHints) -> str | None:
    """Return the generation a hint may be written under, or None when it must not be written.

    Only the generation read before the database was asked: a newer one may follow a restock that the
    database read did not see. When there was none, this claim starts one, unless another writer (a clear)
    got there first.
    """
    if hints.generation is not None:
        return hints.generation
    generation = secrets.token_hex(8)
    return generation if cache.add(_generation_key(hints.template_id), generation, GENERATION_SECONDS) else None


def claim_hint_sold_out(*, hints: ClaimHints) -> None:
    """Remember that the database refused a claim of this offer as sold out."""
    generation = _generation_for_writing(hints)
    if generation is not None:
        cache.set(_sold_out_key(hints.template_id), generation, SOLD_OUT_SECONDS)


def claim_hint_limit_reached(*, hints: ClaimHints) -> None:
    """Remember that the member holds their limit of this offer (after the issue that reached it committed)."""
    generation = _generation_for_writing(hints)
    if generation is not None:
        cache.set(_limit_key(hints.template_id, hints.member_id), generation, LIMIT_SECONDS)


def claim_hints_clear(*, template_id: int) -> None:
    """Void every hint of an offer: the next claims ask the database again."""
    cache.set(_generation_key(template_id), secrets.token_hex(8), GENERATION_SECONDS)


def claim_hints_clear_on_commit(*, template_id: int) -> None:
    """Void the offer's hints once the current transaction commits (at once outside one).

    Called by every writer that can give stock or claims back; before the commit a claim would still read
    the old stock and could write a hint of the new generation.
    """
    transaction.on_commit(partial(claim_hints_clear, template_id=template_id), robust=True)
