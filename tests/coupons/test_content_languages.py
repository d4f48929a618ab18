"""Coupon offers in English, Traditional and Simplified Chinese: the API answers in the request's language with the
merchant's default language as the fallback, notifications name the offer in the member's language, and the
migration that added the languages kept the text merchants had typed, in the default language."""

import importlib
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import translation

from coupons.models import Coupon
from coupons.services import coupon_template_issue_to_member
from coupons.services.reminders import coupons_expiry_remind
from members.models import Notification
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def offer():
    return CouponTemplateFactory(
        name_en="HK$20 off", name_zh_hant="減HK$20", name_zh_hans="减HK$20", description_en="Any purchase.",
        description_zh_hant="任何消費。",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("language", "name", "description"),
    [
        ("en", "HK$20 off", "Any purchase."),
        ("zh-hant", "減HK$20", "任何消費。"),
        ("zh-hans", "减HK$20", "Any purchase."),
    ],
)
def test_claimable_offers_answer_in_the_request_language(member_client, offer, language, name, description):
    client = member_client(MemberFactory())

    (row,) = client.get("/api/v1/coupons/claimable", HTTP_ACCEPT_LANGUAGE=language).json()

    assert (row["name"], row["description"]) == (name, description)


def test_an_issued_coupon_is_announced_with_the_offers_name_in_the_members_language(offer, now):
    member = MemberFactory(locale="zh-hans")

    with translation.override("en"):  # staff issue it from an English console
        coupon_template_issue_to_member(
            template_id=offer.pk, member_id=member.pk, source=Coupon.Source.MANUAL, issue_key="desk-1", now=now
        )

    note = Notification.objects.get(member=member, kind="coupon_issued")
    assert note.params == {"coupon": "减HK$20"}
    assert "减HK$20" in note.body


def test_an_expiry_reminder_names_the_offer_in_each_members_language(offer, now):
    english, chinese = MemberFactory(locale="en"), MemberFactory(locale="zh-hant")
    for member in (english, chinese):
        coupon_template_issue_to_member(
            template_id=offer.pk, member_id=member.pk, source=Coupon.Source.CLAIM, issue_key=f"k{member.pk}", now=now
        )

    coupons_expiry_remind(now=now + timedelta(days=28))

    reminders = Notification.objects.filter(kind="coupon_expiring")
    assert {note.member_id: note.params["coupon"] for note in reminders} == {
        english.pk: "HK$20 off",
        chinese.pk: "減HK$20",
    }


def test_the_migration_moves_existing_text_into_the_default_language():
    # The migration's data step, run on text typed before it (only the untranslated column filled) with the models as
    # the migrations describe them: migrating the database back and forth for it took half a minute of every run.
    data_step = importlib.import_module("coupons.migrations.0004_content_in_three_languages").texts_to_default_language
    apps = MigrationLoader(connection).project_state().apps
    template = apps.get_model("coupons", "CouponTemplate")
    typed = template.objects.create(
        name="Typed before", description="Old text", gift_description="", kind="amount_off", valid_days=30, channels=[]
    )

    data_step(apps, schema_editor=None)

    row = template.objects.get(pk=typed.pk)
    default = settings.MODELTRANSLATION_DEFAULT_LANGUAGE.replace("-", "_")
    others = [language for language in ("en", "zh_hant", "zh_hans") if language != default]
    assert (getattr(row, f"name_{default}"), getattr(row, f"description_{default}")) == ("Typed before", "Old text")
    assert [getattr(row, f"name_{language}") for language in others] == [None, None]
