"""The unsubscribe link of marketing SMS and e-mail is a page for a person: opening it (as a mail scanner or a link
preview does) changes nothing and asks to confirm, in the member's language; the button's POST, or a mail client's
one-click POST (RFC 8058), withdraws the consent with a dated record; a damaged or expired link gets a friendly
page, never a server error or the API's JSON. The STOP reply keeps working beside it."""

from datetime import timedelta

import pytest
from django.core import signing
from django.test import Client

from campaigns.channels.unsubscribe import SALT, unsubscribe_by_reply, unsubscribe_token, unsubscribe_url
from campaigns.models import ConsentRecord
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser():
    # A real browser's CSRF rules: the one-click POST must work without a cookie or a token all the same.
    return Client(enforce_csrf_checks=True)


def link_of(member, channel="email"):
    return "/unsubscribe/" + unsubscribe_token(member_id=member.pk, channel=channel)


def test_the_link_in_messages_is_the_page_not_the_api():
    member = MemberFactory()
    assert unsubscribe_url(member_id=member.pk, channel="sms").startswith("http://127.0.0.1:8000/unsubscribe/")


def test_opening_the_link_only_asks_to_confirm_and_changes_nothing(browser):
    # given a member who gets marketing e-mail
    member = MemberFactory(consent_email=True, email="m@example.com", locale="en")

    # when the link is opened, twice (a mail scanner, then the member)
    first, second = browser.get(link_of(member)), browser.get(link_of(member))

    # then the page asks, with a button that posts, and nothing changed
    assert (first.status_code, second.status_code) == (200, 200)
    assert first["Content-Type"].startswith("text/html")
    page = first.content.decode()
    assert "Stop Email messages?" in page
    assert '<form method="post">' in page
    assert "<button" in page
    member.refresh_from_db()
    assert member.consent_email is True
    assert not ConsentRecord.objects.exists()


def test_the_button_unsubscribes_and_records_the_withdrawal_with_its_date(browser):
    member = MemberFactory(consent_sms=True, locale="en")

    response = browser.post(link_of(member, "sms"), {"confirm": "1"})
    again = browser.post(link_of(member, "sms"), {"confirm": "1"})

    assert (response.status_code, again.status_code) == (200, 200)
    assert "You are unsubscribed" in response.content.decode()
    member.refresh_from_db()
    assert member.consent_sms is False
    record = ConsentRecord.objects.get()  # posting again records nothing more
    assert (record.member_number, record.channel, record.consented, record.source, record.address) == (
        member.member_number, "sms", False, "link", member.phone,
    )  # fmt: skip
    assert record.recorded_at is not None


def test_a_one_click_post_from_a_mail_client_unsubscribes(browser):
    member = MemberFactory(consent_email=True, email="m@example.com", locale="en")

    response = browser.post(
        link_of(member), "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 200
    member.refresh_from_db()
    assert member.consent_email is False
    assert ConsentRecord.objects.get().channel == "email"


@pytest.mark.parametrize(("locale", "channel"), [("zh-hant", "電郵"), ("zh-hans", "电子邮件")])
def test_the_pages_are_in_the_members_language_whatever_the_browser_says(browser, locale, channel):
    # (The pages' own sentences reach the catalogues with this round's merge; the channel's name is there already.)
    member = MemberFactory(consent_email=True, email="m@example.com", locale=locale)

    confirm = browser.get(link_of(member), headers={"Accept-Language": "en"})
    finished = browser.post(link_of(member), headers={"Accept-Language": "en"})

    for page in (confirm.content.decode(), finished.content.decode()):
        assert f'lang="{locale}"' in page
        assert channel in page


@pytest.mark.parametrize("token", ["forged:token", "x" * 300, "%00", "eyJtIjoxfQ:abc:def"])
def test_a_damaged_link_gets_a_friendly_page_not_a_server_error_or_json(browser, token):
    for response in (browser.get(f"/unsubscribe/{token}"), browser.post(f"/unsubscribe/{token}")):
        assert response.status_code == 404
        assert response["Content-Type"].startswith("text/html")
        assert "This link is not valid" in response.content.decode()
        assert "reply STOP" in response.content.decode()


def test_a_link_for_a_channel_or_member_that_does_not_exist_is_not_valid(browser):
    member = MemberFactory()
    bad_channel = signing.dumps({"m": member.pk, "c": "pigeon"}, salt=SALT)
    no_member = signing.dumps({"m": member.pk + 1000, "c": "sms"}, salt=SALT)

    for token in (bad_channel, no_member):
        response = browser.post(f"/unsubscribe/{token}")
        assert response.status_code == 404
        assert "This link is not valid" in response.content.decode()
    assert not ConsentRecord.objects.exists()


def test_an_expired_link_says_so_and_what_else_works(browser, monkeypatch):
    member = MemberFactory(consent_sms=True, locale="en")
    url = link_of(member, "sms")
    monkeypatch.setattr("campaigns.channels.unsubscribe.LINK_MAX_AGE", timedelta(seconds=-1))

    response = browser.post(url)

    assert response.status_code == 410
    assert "This link has expired" in response.content.decode()
    member.refresh_from_db()
    assert member.consent_sms is True


def test_the_old_api_address_is_gone():
    member = MemberFactory(consent_sms=True)
    token = unsubscribe_token(member_id=member.pk, channel="sms")

    assert Client().get(f"/api/v1/unsubscribe/{token}").status_code == 404


def test_the_stop_reply_keeps_working(now):
    member = MemberFactory(consent_sms=True, phone="+85291234567")

    assert unsubscribe_by_reply(phone=member.phone, text=" stop ", now=now) is True

    member.refresh_from_db()
    assert member.consent_sms is False
    assert ConsentRecord.objects.get().source == "reply"
