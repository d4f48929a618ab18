"""Multiplier windows: grant a member "x2 points until ..." (a campaign reward), once per key.

The checkout reads the member's windows (points.selectors.multiplier_window_facts) and the earning pipeline
(points.rules) adds the window's extra as its own breakdown step. When windows overlap, the highest multiplier
applies: they do not add up (two campaigns each promising "double points" give double points, not triple).
"""

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from infra.errors import InvalidInput, NotFound
from infra.translation import is_translations, languages, localized_column
from members.models import Member
from points.models import MultiplierWindow
from points.models.multiplier_windows import MAX_WINDOW_MULTIPLIER


def _multiplier_checked(multiplier) -> Decimal:
    try:
        value = Decimal(str(multiplier))
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value <= 1 or value > MAX_WINDOW_MULTIPLIER:
        message = _("Give a multiplier above 1 and at most %(max)s.") % {"max": MAX_WINDOW_MULTIPLIER}
        raise InvalidInput.for_field("multiplier", message)
    if value != value.quantize(Decimal("0.01")):
        raise InvalidInput.for_field("multiplier", _("Give the multiplier with at most 2 decimals."))
    return value


def _reason_texts(reason: str | Mapping[str, str]) -> dict[str, str]:
    """The reason in every content language, from one text (the default language's) or a {language: text}; the
    default language is never left empty, as it is every other language's fallback."""
    default = languages()[0]
    if isinstance(reason, Mapping):
        if not is_translations(dict(reason)):
            raise InvalidInput.for_field("reason", _("Give the reason in the content languages."))
        texts = {language: str(reason.get(language) or "").strip()[:255] for language in languages()}
    else:
        texts = dict.fromkeys(languages(), "")
        texts[default] = str(reason or "").strip()[:255]
    if not any(texts.values()):
        raise InvalidInput.for_field("reason", _("Give the reason for the multiplier."))
    texts[default] = texts[default] or next(text for text in texts.values() if text)
    return texts


@transaction.atomic
def multiplier_window_grant(
    *,
    member_id: int,
    multiplier,
    starts_at: datetime,
    ends_at: datetime,
    key: str,
    reason: str | Mapping[str, str],
    now: datetime,
) -> tuple[MultiplierWindow, bool]:
    """Give the member a points multiplier between `starts_at` (inclusive) and `ends_at` (exclusive).

    Idempotent by `key`: a window already granted under it is returned unchanged with created=False (a retried
    campaign delivery grants nothing twice). `reason` is the text the breakdown shows (e.g. the campaign's name),
    one text or one per language. Raises InvalidInput (multiplier, ends_at, key, reason) and NotFound (member).
    """
    existing = MultiplierWindow.objects.filter(key=key).first()
    if existing is not None:
        return existing, False
    value = _multiplier_checked(multiplier)
    if not key or len(key) > MultiplierWindow._meta.get_field("key").max_length:
        raise InvalidInput.for_field("key", _("Give a key of at most 120 characters."))
    if ends_at <= starts_at:
        raise InvalidInput.for_field("ends_at", _("The window must end after it starts."))
    texts = _reason_texts(reason)
    if not Member.objects.filter(pk=member_id).exists():
        raise NotFound()
    window = MultiplierWindow(
        member_id=member_id, multiplier=value, starts_at=starts_at, ends_at=ends_at, key=key, created_at=now
    )
    for language, text in texts.items():
        setattr(window, localized_column("reason", language), text)
    try:
        with transaction.atomic():  # a twin under the same key may commit first: answer with its window
            window.save(force_insert=True)
    except IntegrityError:
        return MultiplierWindow.objects.get(key=key), False
    return window, True
