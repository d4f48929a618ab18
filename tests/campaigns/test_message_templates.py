"""Message templates: placeholders and WeChat's value limits checked at save, previews in every language, a test
send to a staff member from the console."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from campaigns.channels.templates import template_preview
from campaigns.models import MessageTemplate
from members.models import Notification, ProgramSettings, Role
from tests.factories import TierFactory, UserFactory

pytestmark = pytest.mark.django_db

Kind = Notification.Kind


def wechat(**fields):
    return MessageTemplate(
        kind=Kind.COUPON_ISSUED, channel="wechat_subscribe", locale="en", wechat_template_id="t-1", **fields
    )


def test_a_thing_value_longer_than_twenty_characters_is_refused_at_save():
    template = wechat(wechat_fields={"thing1": "Your new coupon is waiting: {coupon}"})

    with pytest.raises(ValidationError) as caught:
        template.full_clean()

    [message] = caught.value.message_dict["wechat_fields"]
    assert message.startswith("thing1: ")
    assert "WeChat allows 20 for thing" in message


def test_a_value_that_fits_is_saved():
    template = wechat(wechat_fields={"thing1": "{coupon}", "thing2": "{program}"})

    template.full_clean()


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"wechat_fields": {"bogus": "x"}}, "wechat_fields"),
        ({"wechat_fields": {"thing1": "{points}"}}, "wechat_fields"),  # not a parameter of a coupon issued
        ({"wechat_fields": {}}, "wechat_fields"),
    ],
)
def test_wechat_templates_name_their_problem(fields, error_field):
    with pytest.raises(ValidationError) as caught:
        wechat(**fields).full_clean()

    assert error_field in caught.value.message_dict


def test_an_sms_template_with_an_unknown_field_is_refused():
    template = MessageTemplate(kind=Kind.POINTS_EXPIRING, channel="sms", locale="en", body="Hi {nickname}")

    with pytest.raises(ValidationError) as caught:
        template.full_clean()

    assert caught.value.message_dict["body"] == ["Unknown fields: nickname."]


def test_the_preview_fills_member_fields_and_parameters():
    template = MessageTemplate(
        kind=Kind.POINTS_EXPIRING, channel="email", locale="zh-hant", subject="{program}",
        body="{name}，你的 {points} 積分將於 {expires_on} 到期。",
    )  # fmt: skip

    preview = template_preview(template)

    assert preview.subject == "Loyalty Club"
    assert preview.text == "陳大文 Chan Tai Man，你的 1,200 積分將於 2026-12-31 到期。"


def test_the_preview_names_the_merchants_program_top_tier_and_a_coupon_in_the_templates_language():
    program = ProgramSettings.load()
    program.program_name, program.program_name_zh_hant = "Tasty Club", "美味會"
    program.save()
    TierFactory(rank=1, name="Silver", name_zh_hant="銀卡")
    TierFactory(rank=2, name="Gold", name_zh_hant="金卡")
    template = MessageTemplate(
        kind=Kind.COUPON_ISSUED, channel="sms", locale="zh-hant", body="{program}：{tier} 會員獲贈 {coupon}"
    )

    assert template_preview(template).text == "美味會：金卡 會員獲贈 滿 HK$300 減 HK$50"
    assert template_preview(template, locale="en").text == "Tasty Club：Gold 會員獲贈 HK$50 off HK$300"


@pytest.fixture
def sms_templates():
    bodies = {"en": "{points} points expire", "zh-hant": "{points} 積分將到期", "zh-hans": "{points} 积分将到期"}
    return {
        locale: MessageTemplate.objects.create(kind=Kind.POINTS_EXPIRING, channel="sms", locale=locale, body=body)
        for locale, body in bodies.items()
    }


def test_the_console_previews_the_template_in_every_language(client, sms_templates):
    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN))

    response = client.get(reverse("admin:campaigns_messagetemplate_change", args=[sms_templates["en"].pk]))

    content = response.content.decode()
    assert "1,200 points expire" in content
    assert "1,200 積分將到期" in content
    assert "1,200 积分将到期" in content


def test_a_test_send_goes_to_the_staff_members_phone_through_the_gateway(client, sms_templates, fake_sms):
    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN))
    url = reverse("admin:campaigns_messagetemplate_test_send", args=[sms_templates["zh-hant"].pk])

    response = client.post(url, {"address": "+85291234567"})

    assert response.status_code == 302
    [body] = fake_sms.accepted.values()
    assert (body["to"], body["text"], body["category"]) == ("+85291234567", "[TEST] 1,200 積分將到期", "transactional")


def test_a_clerk_may_not_test_send(client, sms_templates, fake_sms):
    client.force_login(UserFactory(role=Role.CLERK))
    url = reverse("admin:campaigns_messagetemplate_test_send", args=[sms_templates["en"].pk])

    response = client.post(url, {"address": "+85291234567"})

    assert response.status_code in (302, 403)
    assert fake_sms.requests == []
