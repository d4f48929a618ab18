"""Message templates: their placeholders, WeChat's value limits, rendering and previews.

A template's text holds `{field}` placeholders: the member's fields (MEMBER_FIELDS) and the parameters of the
notification's kind (members.services.notifications.MESSAGES). Rendering replaces known names only (no format
strings, no attribute access), so a merchant's text can never reach into an object.

WeChat subscribe messages refuse a value longer than its keyword's type allows (errcode 47003). At save, each
value is rendered with the preview's sample values and checked; at send, text types are cut to fit (with an
ellipsis), other types are refused (a cut number or date would say something false).
"""

import re
from dataclasses import dataclass

from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from members.models import OutboxMessage, ProgramSettings, Tier
from members.services.notifications import MESSAGES

PLACEHOLDER = re.compile(r"\{(\w+)\}")
MEMBER_FIELDS = ("name", "member_number", "tier", "points_balance", "program")
Channel = OutboxMessage.Channel

# WeChat's subscribe message value types and their longest values (characters).
WECHAT_LIMITS = {
    "thing": 20,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "character_string": 32,
    "time": 32,
    "date": 32,
    "amount": 32,
    "phone_number": 17,
    "car_number": 8,
    "name": 10,
    "phrase": 5,
}
# Types whose value is free text a cut keeps truthful.
WECHAT_CUTTABLE = frozenset({"thing", "name", "phrase", "letter", "character_string"})
WECHAT_KEYWORD = re.compile(r"^(?P<type>[a-z_]+?)(?P<number>\d+)$")

# Sample values of the length check at save (a member with a long-ish name, English names: the longest), and of the
# preview where the merchant has no name of its own yet (preview_values).
SAMPLE_MEMBER = {
    "name": "陳大文 Chan Tai Man",
    "member_number": "1234567897",
    "tier": "Gold",
    "points_balance": "12,345",
    "program": "Loyalty Club",
}
SAMPLE_PARAMS = {
    "points": "1,200",
    "days": "30",
    "expires_on": "2026-12-31",
    "coupon": "HK$50 off HK$300",
    "tier": "Gold",
}


def placeholders_of(kind: str) -> tuple[str, ...]:
    message = MESSAGES.get(kind)
    return MEMBER_FIELDS + (message.params if message else ())


def render_text(text: str, values: dict) -> str:
    """Replace each `{name}` whose name is in `values`; leave anything else as written."""
    return PLACEHOLDER.sub(lambda match: str(values.get(match.group(1), match.group(0))), text)


def wechat_type(keyword: str) -> str | None:
    match = WECHAT_KEYWORD.match(keyword or "")
    if match is None or match.group("type") not in WECHAT_LIMITS:
        return None
    return match.group("type")


def wechat_fit(keyword: str, value: str) -> str | None:
    """Return `value` as WeChat accepts it for `keyword` (text types cut with an ellipsis), or None if it cannot."""
    limit = WECHAT_LIMITS[wechat_type(keyword)]
    if len(value) <= limit:
        return value
    if wechat_type(keyword) in WECHAT_CUTTABLE:
        return value[: limit - 1] + "…"
    return None


def template_errors(template) -> dict[str, list[str]]:
    """Return the template's problems by field (empty when it may be saved)."""
    errors: dict[str, list[str]] = {}
    known = set(placeholders_of(template.kind))

    def unknown_in(text):
        return sorted({name for name in PLACEHOLDER.findall(text or "") if name not in known})

    def add(field, message):
        errors.setdefault(field, []).append(str(message))

    for field in ("subject", "body"):
        unknown = unknown_in(getattr(template, field))
        if unknown:
            add(field, _("Unknown fields: %(names)s.") % {"names": ", ".join(unknown)})
    if template.channel == Channel.WECHAT_SUBSCRIBE:
        if not template.wechat_template_id:
            add("wechat_template_id", _("Give the WeChat template id."))
        fields = template.wechat_fields
        if not isinstance(fields, dict) or not fields:
            add("wechat_fields", _("Give each keyword of the WeChat template and its text."))
            return errors
        samples = {**SAMPLE_MEMBER, **SAMPLE_PARAMS}
        for keyword, text in fields.items():
            kind = wechat_type(keyword)
            if kind is None:
                add(
                    "wechat_fields",
                    _("%(keyword)s: not a WeChat keyword such as thing1 or time2.") % {"keyword": keyword},
                )
                continue
            if not isinstance(text, str) or not text:
                add("wechat_fields", _("%(keyword)s: give a text.") % {"keyword": keyword})
                continue
            unknown = unknown_in(text)
            if unknown:
                add(
                    "wechat_fields",
                    _("%(keyword)s: unknown fields: %(names)s.") % {"keyword": keyword, "names": ", ".join(unknown)},
                )
                continue
            rendered = render_text(text, samples)
            if len(rendered) > WECHAT_LIMITS[kind]:
                add(
                    "wechat_fields",
                    _("%(keyword)s: “%(value)s” has %(length)d characters; WeChat allows %(limit)d for %(type)s.")
                    % {
                        "keyword": keyword,
                        "value": rendered,
                        "length": len(rendered),
                        "limit": WECHAT_LIMITS[kind],
                        "type": kind,
                    },
                )
    else:
        if not (template.body or "").strip():
            add("body", _("Give the text."))
        if template.channel == Channel.EMAIL and not (template.subject or "").strip():
            add("subject", _("Give the subject."))
    return errors


@dataclass(frozen=True)
class Rendered:
    """A message as one channel carries it."""

    subject: str = ""
    text: str = ""
    wechat_data: dict | None = None
    wechat_template_id: str = ""
    wechat_page: str = ""


def member_values(member, *, program_name: str) -> dict:
    """The member's fields a template may name, merchant names in the active language (the member's, when sent)."""
    return {
        "name": member.name or "",
        "member_number": member.member_number,
        "tier": str(member.tier.name) if member.tier_id else "",
        "points_balance": f"{member.points_balance:,}",
        "program": program_name,
    }


def render(*, template, title: str, body: str, values: dict) -> Rendered:
    """Render a template (or, without one, the notification's own title and text) with `values`."""
    if template is None:
        return Rendered(subject=title, text=f"{title}: {body}" if title else body)
    if template.channel == Channel.WECHAT_SUBSCRIBE:
        data = {keyword: render_text(text, values) for keyword, text in template.wechat_fields.items()}
        return Rendered(
            wechat_data=data, wechat_template_id=template.wechat_template_id, wechat_page=template.wechat_page
        )
    return Rendered(subject=render_text(template.subject, values), text=render_text(template.body, values))


def preview_values() -> dict:
    """The sample values with the merchant's own names (its program, its top tier) and a coupon in the active
    language, so the preview reads as the member will read it."""
    top_tier = Tier.objects.order_by("-rank").first()
    tier = str(top_tier.name) if top_tier else SAMPLE_MEMBER["tier"]
    program = ProgramSettings.load().program_name or SAMPLE_MEMBER["program"]
    coupon = gettext("HK$50 off HK$300")
    return {**SAMPLE_MEMBER, **SAMPLE_PARAMS, "tier": tier, "program": program, "coupon": coupon}


def template_preview(template, *, locale: str | None = None) -> Rendered:
    """Render a template with the sample member and parameters (the console's preview)."""
    with translation.override(locale or template.locale):
        return render(template=template, title=gettext("Preview"), body="", values=preview_values())
