"""Test sends: a message template rendered with the sample member, sent through its channel's real client to a
staff member's own phone, e-mail or WeChat openid before the template reaches members."""

import uuid

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import translation
from django.utils.translation import gettext

from campaigns.channels.policy import category_of
from campaigns.channels.templates import template_preview, wechat_fit, wechat_type
from campaigns.models import Category, MessageTemplate
from infra.errors import DeliveryRefused, InvalidInput
from infra.mailer import mail_send
from infra.sms import get_sms_client
from infra.wechat import get_wechat_client
from members.formats import normalize_phone

TEST_MARK = "[TEST] "


def template_test_send(*, template: MessageTemplate, address: str) -> None:
    """Send the template's preview to `address` (a phone, an e-mail or an openid, as its channel needs).

    Raises InvalidInput (a bad address), InvalidPhone, DeliveryRefused, DeliveryUnavailable, WechatUnavailable.
    """
    address = (address or "").strip()
    rendered = template_preview(template)
    marketing = category_of(template.kind) == Category.MARKETING
    with translation.override(template.locale):
        footer = gettext("Reply STOP or open %(url)s to stop these messages.") % {"url": "…"} if marketing else ""
    if template.channel == "sms":
        text = f"{TEST_MARK}{rendered.text}" + (f"\n{footer}" if footer else "")
        get_sms_client().send(
            to=normalize_phone(address),
            text=text,
            reference=f"test-{uuid.uuid4().hex}",
            category=category_of(template.kind),
        )
    elif template.channel == "email":
        try:
            validate_email(address)
        except ValidationError as exc:
            raise InvalidInput.for_field("address", gettext("Give an e-mail address.")) from exc
        text = rendered.text + (f"\n\n--\n{footer}" if footer else "")
        mail_send(to=address, subject=f"{TEST_MARK}{rendered.subject}", text=text)
    else:
        if not address:
            raise InvalidInput.for_field("address", gettext("Give the WeChat openid of a staff member."))
        data = {}
        for keyword, value in (rendered.wechat_data or {}).items():
            fitted = wechat_fit(keyword, value) if wechat_type(keyword) else None
            if fitted is None:
                raise DeliveryRefused(f"{keyword} does not fit WeChat's limit: {value}")
            data[keyword] = fitted
        get_wechat_client().send_subscribe_message(
            openid=address, template_id=rendered.wechat_template_id, data=data, page=rendered.wechat_page
        )
