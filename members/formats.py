"""The formats the whole program agrees on: member numbers, phones, card codes, secrets, birthdays.

Pure functions, no database writes.
"""

import hashlib
import hmac
import secrets
from datetime import date

import phonenumbers
from django.conf import settings
from django.utils.translation import gettext

from members.errors import InvalidPhone


def luhn_check_digit(digits: str) -> str:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def is_ascii_digits(value: str) -> bool:
    """Whether `value` is only the digits 0-9: str.isdigit() alone also takes "²" (which int() refuses) and other
    scripts' digits (which int() reads), neither of which an identifier of ours holds."""
    return value.isascii() and value.isdigit()


def is_valid_member_number(number: str) -> bool:
    return len(number) == 10 and is_ascii_digits(number) and luhn_check_digit(number[:-1]) == number[-1]


def new_member_number() -> str:
    """Return a random 10-digit member number whose last digit is a Luhn check digit (no leading 0)."""
    body = str(secrets.randbelow(9 * 10**8) + 10**8)
    return body + luhn_check_digit(body)


def normalize_phone(raw: str, *, region: str | None = None) -> str:
    """Return the phone in E.164 (+85291234567). Raises InvalidPhone."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone()
    try:
        parsed = phonenumbers.parse(text, region or settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        raise InvalidPhone() from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone()
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


# A member's birthday lies between 1900-01-01 and today. The member API, the CSV import and the console apply this
# one rule, so a date one door refuses is refused by all (the API once took the year 493).
EARLIEST_BIRTHDAY = date(1900, 1, 1)


def birthday_problem(value: date, *, today: date) -> str | None:
    """Return why `value` cannot be a member's birthday (translated), or None when it can."""
    if value > today:
        return gettext("%(value)s is in the future.") % {"value": value.isoformat()}
    if value < EARLIEST_BIRTHDAY:
        return gettext("%(value)s is before 1900.") % {"value": value.isoformat()}
    return None


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_member_token() -> str:
    return "mbr_" + secrets.token_urlsafe(32)


POS_KEY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"


def new_pos_key() -> tuple[str, str]:
    """Return (prefix, full key). The prefix is public and identifies the key; 32 random characters follow."""
    prefix = "pk_" + "".join(secrets.choice(POS_KEY_ALPHABET) for _ in range(8))
    secret = "".join(secrets.choice(POS_KEY_ALPHABET) for _ in range(32))
    return prefix, f"{prefix}.{secret}"


# Card codes: 18 digits = member number (10) + 8 digits of HMAC(member number, 60-second step).
CARD_CODE_LENGTH = 18


def _card_mac(member_number: str, step: int) -> str:
    digest = hmac.new(settings.CARD_CODE_SECRET.encode(), f"{member_number}:{step}".encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**8:08d}"


def card_step(timestamp: float) -> int:
    return int(timestamp // settings.CARD_CODE_STEP_SECONDS)


def card_code_for(member_number: str, *, timestamp: float) -> str:
    return member_number + _card_mac(member_number, card_step(timestamp))


def card_code_valid_until(*, timestamp: float) -> float:
    return (card_step(timestamp) + 1) * settings.CARD_CODE_STEP_SECONDS


def member_number_from_card_code(code: str, *, timestamp: float) -> str | None:
    """Return the member number a card code carries when its MAC holds for now ± one step, else None."""
    code = (code or "").strip()
    if len(code) != CARD_CODE_LENGTH or not is_ascii_digits(code):
        return None
    number, mac = code[:10], code[10:]
    if not is_valid_member_number(number):
        return None
    step = card_step(timestamp)
    if any(hmac.compare_digest(mac, _card_mac(number, s)) for s in (step, step - 1, step + 1)):
        return number
    return None
