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


def generate_codes(count: int, *, prefix: str = "", body_length: int = DEFAULT_BODY_LENGTH) -> list[str]:
    """Return `count` new random codes at once (the bulk path): the same format as generate_code.

    Draws one block of random bytes from `secrets` instead of one call per character. The codes are
    distinct among themselves; uniqueness against the database is the caller's insert to check.
    """
    if not is_valid_prefix(prefix):
        raise ValueError(f"prefix {prefix!r} uses characters outside the code alphabet")
    if body_length < MIN_BODY_LENGTH or len(prefix) + body_length + 1 > MAX_CODE_LENGTH:
        raise ValueError(f"a code of prefix {prefix!r} and body {body_length} is too short or too long")
    codes: set[str] = set()
    while len(codes) < count:
        missing = count - len(codes)
        chars = secrets.token_bytes(missing * body_length * 33 // 31 + 16).translate(_BYTE_TO_CHAR, _REJECTED_BYTES)
        for start in range(0, min(missing, len(chars) // body_length) * body_length, body_length):
            payload = prefix + chars[start : start + body_length].decode("ascii")
            codes.add(payload + check_character(payload))
    return list(codes)
