"""Merchant content in every language (django-modeltranslation), as plumbing every app's `translation.py` uses.

A registered field `name` gets one column per language (`name_en`, `name_zh_hant`, `name_zh_hans`); reading
`obj.name` gives the active language's text, or the merchant's default language's when that one is empty
(settings.MODELTRANSLATION_DEFAULT_LANGUAGE). The original column `name` stays in the table but holds whatever
language was active at the last save: code that reads the columns itself (raw SQL, `raw_values`) reads
`name_<language>` through `localized_column`, never `name`.

Models with django-simple-history get their historical model registered too, so a past version keeps every
language and a revert in the console brings all of them back.
"""

from collections.abc import Mapping

from django.conf import settings
from django.db.models import Model
from django.utils import translation
from modeltranslation.translator import NotRegistered, TranslationOptions, translator
from modeltranslation.utils import build_localized_fieldname


def translated_fields(model: type[Model]) -> tuple[str, ...]:
    """The fields of `model` kept in every language (their original names), none when it has no translations."""
    try:
        return tuple(translator.get_options_for_model(model).fields)
    except NotRegistered:
        return ()


def languages() -> list[str]:
    """The content languages, default first (the order a fallback tries them)."""
    default = settings.MODELTRANSLATION_DEFAULT_LANGUAGE
    return [default, *(code for code, _name in settings.LANGUAGES if code != default)]


def localized_column(field: str, language: str) -> str:
    """The attribute (and column) that holds `field` in `language`: name, zh-hant -> name_zh_hant."""
    return build_localized_fieldname(field, language)


def content_language(language: str | None = None) -> str:
    """`language` (or the active one) if content is kept in it, else the default content language."""
    language = language or translation.get_language() or ""
    if language in languages():
        return language
    base = language.split("-")[0]
    return base if base in languages() else settings.MODELTRANSLATION_DEFAULT_LANGUAGE


def translations_of(obj: Model, field: str) -> dict[str, str]:
    """Every language's text of `obj.<field>` as stored (empty where the merchant typed none)."""
    return {language: getattr(obj, localized_column(field, language)) or "" for language in languages()}


def is_translations(value) -> bool:
    """Whether `value` is a {language: text} mapping as translations_of gives."""
    return isinstance(value, dict) and bool(value) and set(value) <= set(languages())


def in_language(texts: dict[str, str], language: str | None = None) -> str:
    """Pick from a {language: text} mapping the text in `language` (or the active one), else the default's."""
    language = content_language(language)
    default = texts.get(settings.MODELTRANSLATION_DEFAULT_LANGUAGE)
    return texts.get(language) or default or next((text for text in texts.values() if text), "")


def texts_kept(text: str | Mapping[str, str], *, max_length: int) -> tuple[str, dict[str, str] | None]:
    """A text to keep, given as one string or in every language ({language: text}, e.g. translations_of): returns
    (the one column's text, every language's texts or None).

    One string is kept as it is, with no languages (a text staff typed, or the system's own text as its English
    msgid, which `text_shown` translates on read). A mapping is kept whole, each text cut to `max_length`, and the
    one column gets the default language's text (else the first one given), so that exports, searches and raw SQL
    reading that column keep working. A mapping with no text at all is ("", None). Raises ValueError for a mapping
    whose keys are not content languages.
    """
    if isinstance(text, str):
        return text, None
    if not is_translations(dict(text)):
        raise ValueError(f"not a {{language: text}} mapping: {text!r}")
    texts = {language: str(text.get(language) or "")[:max_length] for language in languages()}
    default = in_language(texts, settings.MODELTRANSLATION_DEFAULT_LANGUAGE)
    return (default, texts) if default else ("", None)


def text_shown(text: str, texts: Mapping[str, str] | None) -> str:
    """What a reader sees, in the active language, of a text kept by `texts_kept`: with every language's texts, the
    reader's (falling back as in_language does); else the one text through the catalogues, so that the system's own
    texts (kept as their gettext_noop msgid) are translated and a text someone typed comes back as typed."""
    if texts:
        return in_language(dict(texts))
    return translation.gettext(text) if text else ""  # gettext("") would answer the catalogue's header


def register_translated(model: type[Model], fields: tuple[str, ...], *, required: tuple[str, ...] = ()) -> None:
    """Keep `fields` of `model` (and of its simple-history model) in every content language.

    `required` names the fields a form must fill in the default language (those the model itself requires);
    the other languages are optional and fall back to the default language when empty.
    """
    options = type(
        f"{model.__name__}TranslationOptions",
        (TranslationOptions,),
        {
            "fields": fields,
            "required_languages": {settings.MODELTRANSLATION_DEFAULT_LANGUAGE: required, "default": ()},
        },
    )
    translator.register(model, options)
    history = getattr(model, "history", None)
    history_model = getattr(history, "model", None)
    if history_model is not None:
        translator.register(history_model, type(f"Historical{options.__name__}", (options,), {}))
        _history_keeps_translations(model, history_model, fields)


def _history_keeps_translations(model: type[Model], history_model: type[Model], fields: tuple[str, ...]) -> None:
    """Let a past version rebuild the object with every language (simple-history copies only the fields the model
    had before modeltranslation added its columns)."""
    columns = [localized_column(field, language) for field in fields for language in languages()]
    rebuild = history_model.instance.fget

    def instance_with_translations(historical):
        obj = rebuild(historical)
        for column in columns:
            setattr(obj, column, getattr(historical, column))
        return obj

    history_model.instance = property(instance_with_translations)
    tracked = [field.name for field in history_model.tracked_fields]
    history_model.tracked_fields = [
        *history_model.tracked_fields,
        *(model._meta.get_field(column) for column in columns if column not in tracked),
    ]
