"""Coupon codes: unguessable, typable, and checked before any database look-up.

A code is PREFIX + random body + one check character, all from a 31-character alphabet without the
characters people confuse (0/O, 1/I/L). 31 is prime, so a weighted sum mod 31 with distinct weights
1..n (n <= 30) catches every single wrong character and every swap of two characters: a wrong character
changes the sum by (a - b) * w, a swap by (a - b) * (w1 - w2), and neither product is 0 mod a prime.
A body of 10 random characters gives 31**10 (about 8 * 10**14) codes, drawn with `secrets`.
"""

import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
BASE = len(ALPHABET)  # 31, prime
VALUES = {char: index for index, char in enumerate(ALPHABET)}
MAX_CODE_LENGTH = BASE - 1  # weights 1..30 stay distinct mod 31
DEFAULT_BODY_LENGTH = 10
MIN_BODY_LENGTH = 6


def _weighted_sum(chars: str) -> int:
    # The check character (last) gets weight 1, the one before it 2, and so on.
    return sum(VALUES[char] * weight for weight, char in enumerate(reversed(chars), start=2))


def check_character(payload: str) -> str:
    """Return the check character that makes the weighted sum of payload + check 0 mod 31."""
    return ALPHABET[-_weighted_sum(payload) % BASE]


def normalize_code(raw: str) -> str:
    """Return a typed code in its stored form: upper case, spaces and dashes removed."""
    return "".join((raw or "").split()).replace("-", "").upper()


def is_valid_code(code: str) -> bool:
    """Tell whether a normalized code uses the alphabet and its check character matches."""
    if not 2 <= len(code) <= MAX_CODE_LENGTH or any(char not in VALUES for char in code):
        return False
    return check_character(code[:-1]) == code[-1]


def is_valid_prefix(prefix: str) -> bool:
    return all(char in VALUES for char in prefix)


def generate_code(*, prefix: str = "", body_length: int = DEFAULT_BODY_LENGTH) -> str:
    """Return a new random code: prefix, `body_length` random characters, check character."""
    if not is_valid_prefix(prefix):
        raise ValueError(f"prefix {prefix!r} uses characters outside the code alphabet")
    if body_length < MIN_BODY_LENGTH or len(prefix) + body_length + 1 > MAX_CODE_LENGTH:
        raise ValueError(f"a code of prefix {prefix!r} and body {body_length} is too short or too long")
    payload = prefix + "".join(secrets.choice(ALPHABET) for _ in range(body_length))
    return payload + check_character(payload)


# Bytes 0..247 map evenly onto the 31 characters (248 = 8 * 31); bytes 248..255 are dropped so that no
# character is likelier than another.
_BYTE_TO_CHAR = bytes(ord(ALPHABET[byte % BASE]) for byte in range(256))
_REJECTED_BYTES = bytes(range(8 * BASE, 256))
_MOD_BASE = bytes(byte % BASE for byte in range(256))
# Per-position sums of at most 8 weighted values (each 0..30) stay below 256: one byte per code.
_POSITIONS_PER_GROUP = 8


def _weighted_tables(weight: int) -> bytes:
    """Map a random byte (0..247) to its character's value times `weight`, mod 31."""
    return bytes((byte % BASE) * weight % BASE for byte in range(256))


def _check_characters(raw: bytes, *, count: int, body_length: int, prefix: str) -> str:
    """Return the check characters of `count` bodies laid end to end in `raw` (bytes 0..247), one per body.

    Column-wise instead of code by code: the bytes of body position i are `raw[i::body_length]`, mapped to
    their weighted values by one translate; up to 8 columns add as big integers (one byte per code, no carry
    since 8 * 30 < 256), each sum is reduced mod 31 by a translate, and the reduced sums add the same way.
    """
    prefix_sum = sum(VALUES[char] * (body_length + 1 + len(prefix) - index) for index, char in enumerate(prefix))
    total = 0
    group_sum = 0
    for position in range(body_length):
        # Body position i is followed by body_length - 1 - i characters and the check character: weight.
        column = raw[position::body_length].translate(_weighted_tables(body_length + 1 - position))
        group_sum += int.from_bytes(column, "little")
        if position % _POSITIONS_PER_GROUP == _POSITIONS_PER_GROUP - 1 or position == body_length - 1:
            total += int.from_bytes(group_sum.to_bytes(count, "little").translate(_MOD_BASE), "little")
            group_sum = 0
    # At most 4 groups of values 0..30 (bodies are at most 29 long): below 256 again.
    checks = bytes(ord(ALPHABET[-(value + prefix_sum) % BASE]) for value in range(256))
    return total.to_bytes(count, "little").translate(checks).decode("ascii")


def generate_codes(count: int, *, prefix: str = "", body_length: int = DEFAULT_BODY_LENGTH) -> list[str]:
    """Return `count` new random codes at once (the bulk path): the same format as generate_code.

    Draws one block of random bytes from `secrets` instead of one call per character and computes the check
    characters of the whole block column by column (see _check_characters). The codes are distinct among
    themselves; uniqueness against the database is the caller's insert to check.
    """
    if not is_valid_prefix(prefix):
        raise ValueError(f"prefix {prefix!r} uses characters outside the code alphabet")
    if body_length < MIN_BODY_LENGTH or len(prefix) + body_length + 1 > MAX_CODE_LENGTH:
        raise ValueError(f"a code of prefix {prefix!r} and body {body_length} is too short or too long")
    codes: dict[str, None] = {}
    while len(codes) < count:
        missing = count - len(codes)
        wanted = missing * body_length
        raw = b""
        while len(raw) < wanted:
            raw += secrets.token_bytes((wanted - len(raw)) * 33 // 31 + 16).translate(None, _REJECTED_BYTES)
        raw = raw[:wanted]
        bodies = raw.translate(_BYTE_TO_CHAR).decode("ascii")
        checks = _check_characters(raw, count=missing, body_length=body_length, prefix=prefix)
        for index, check in enumerate(checks):
            start = index * body_length
            codes[f"{prefix}{bodies[start : start + body_length]}{check}"] = None
    return list(codes)
