"""The signed-in member: profile, phone binding (with the merge into an imported member), joining, card."""

from datetime import timedelta
from io import BytesIO

import pytest
from django.utils import timezone
from PIL import Image

from members.models import Member, MemberToken
from members.services.membership import member_login_wechat
from tests.factories import MemberFactory, StoreFactory, TierFactory

ME_URL = "/api/v1/me"
PHONE_URL = "/api/v1/me/phone"
JOIN_URL = "/api/v1/me/join"
CARD_URL = "/api/v1/me/card"
QR_URL = "/api/v1/me/card/qr.png"

pytestmark = pytest.mark.django_db


@pytest.fixture
def visitor(now):
    return member_login_wechat(openid="o-visitor", unionid="", session_key="sk", now=now)


# -- GET / PATCH /me -------------------------------------------------------------------------------------------
def test_me_returns_the_members_own_profile(member_client):
    tier = TierFactory(code="V1", name="Silver", rank=1)
    store = StoreFactory(code="tst", name="Tsim Sha Tsui")
    member = MemberFactory(name="Alice", phone="+85291234567", tier=tier, home_store=store)

    response = member_client(member).get(ME_URL)

    assert response.status_code == 200
    body = response.json()
    assert body["member_number"] == member.member_number
    assert body["name"] == "Alice"
    assert body["phone"] == "+85291234567"
    assert body["status"] == "active"
    assert body["tier"] == {"code": "V1", "name": "Silver"}
    assert body["home_store"] == {"code": "tst", "name": "Tsim Sha Tsui"}
    assert body["points_balance"] == 0


def test_each_member_sees_only_their_own_data(member_client):
    alice = MemberFactory(name="Alice", phone="+85291234567")
    bob = MemberFactory(name="Bob", phone="+85298765432")

    alice_view = member_client(alice).get(ME_URL).content.decode()
    bob_view = member_client(bob).get(ME_URL).content.decode()

    assert alice.member_number in alice_view
    assert bob.member_number not in alice_view
    assert "+85298765432" not in alice_view
    assert bob.member_number in bob_view
    assert alice.member_number not in bob_view


def test_patch_me_changes_profile_and_consents(member_client):
    store = StoreFactory(code="mk")
    member = MemberFactory(name="Old", consent_sms=False)

    response = member_client(member).patch(
        ME_URL,
        {"name": "New", "birthday": "1990-05-17", "locale": "en", "home_store": "mk", "consent_sms": True},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["name"] == "New"
    member.refresh_from_db()
    assert (member.name, str(member.birthday), member.locale) == ("New", "1990-05-17", "en")
    assert member.home_store == store
    assert member.consent_sms is True
    assert member.consent_updated_at is not None
    assert member.history.latest().history_user is None  # a member is not a staff user


def test_patch_me_changes_nobody_else(member_client):
    alice = MemberFactory(name="Alice")
    bob = MemberFactory(name="Bob")

    member_client(alice).patch(ME_URL, {"name": "Alicia"}, format="json")

    bob.refresh_from_db()
    assert bob.name == "Bob"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("phone", "+85290000001"),
        ("status", "active"),
        ("points_balance", 999),
        ("tier", "V9"),
        ("member_number", "1234567897"),
    ],
)
def test_patch_me_refuses_fields_a_member_cannot_change(member_client, field, value):
    member = MemberFactory(name="Alice", phone="+85291234567")

    response = member_client(member).patch(ME_URL, {field: value, "name": "Changed"}, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert list(error["fields"]) == [field]
    member.refresh_from_db()
    assert (member.name, member.phone, member.points_balance) == ("Alice", "+85291234567", 0)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"home_store": "nowhere"}, "home_store"),
        ({"birthday": (timezone.localdate() + timedelta(days=2)).isoformat()}, "birthday"),
        ({"email": "not-an-email"}, "email"),
        ({"gender": "x"}, "gender"),
    ],
)
def test_patch_me_with_invalid_values_names_the_field(member_client, payload, field):
    member = MemberFactory()

    response = member_client(member).patch(ME_URL, payload, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]


def test_an_inactive_store_cannot_be_chosen_as_home_store(member_client):
    StoreFactory(code="closed", is_active=False)
    member = MemberFactory()

    response = member_client(member).patch(ME_URL, {"home_store": "closed"}, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["home_store"]


# -- POST /me/phone --------------------------------------------------------------------------------------------
def test_binding_a_phone_stores_it_on_the_visitor(member_client, visitor, fake_wechat):
    fake_wechat.add_phone_code("p-1", country_code=852, pure_phone_number="91234567")

    response = member_client(visitor).post(PHONE_URL, {"code": "p-1"}, format="json")

    assert response.status_code == 200
    assert response.json()["phone"] == "+85291234567"
    assert response.json()["status"] == "visitor"
    visitor.refresh_from_db()
    assert visitor.phone == "+85291234567"


def test_binding_the_phone_of_an_imported_member_merges_the_visitor_into_it(member_client, visitor, fake_wechat):
    # given a member imported from the old system, without WeChat
    imported = MemberFactory(phone="+85291234567", wechat_openid=None, join_source=Member.JoinSource.IMPORT)
    fake_wechat.add_phone_code("p-1", country_code=852, pure_phone_number="91234567")
    client = member_client(visitor)

    # when
    response = client.post(PHONE_URL, {"code": "p-1"}, format="json")

    # then the login is now the imported member, and the visitor row is gone
    assert response.status_code == 200
    assert response.json()["member_number"] == imported.member_number
    assert response.json()["status"] == "active"
    assert not Member.objects.filter(pk=visitor.pk).exists()
    imported.refresh_from_db()
    assert imported.wechat_openid == "o-visitor"
    assert client.get(ME_URL).json()["member_number"] == imported.member_number
    assert MemberToken.objects.get().member == imported


def test_binding_a_phone_that_belongs_to_another_wechat_member_is_phone_taken(member_client, visitor, fake_wechat):
    MemberFactory(phone="+85291234567", wechat_openid="o-someone-else")
    fake_wechat.add_phone_code("p-1", country_code=852, pure_phone_number="91234567")

    response = member_client(visitor).post(PHONE_URL, {"code": "p-1"}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "phone_taken"
    visitor.refresh_from_db()
    assert visitor.phone is None


def test_binding_an_invalid_phone_is_invalid_phone(member_client, visitor, fake_wechat):
    fake_wechat.add_phone_code("p-1", country_code=852, pure_phone_number="123")

    response = member_client(visitor).post(PHONE_URL, {"code": "p-1"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_phone"


def test_binding_with_a_code_wechat_refuses_is_wechat_phone_failed(member_client, visitor, fake_wechat):
    response = member_client(visitor).post(PHONE_URL, {"code": "forged"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "wechat_phone_failed"


def test_binding_when_wechat_is_down_is_wechat_unavailable(member_client, visitor, fake_wechat):
    fake_wechat.stop()

    response = member_client(visitor).post(PHONE_URL, {"code": "p-1"}, format="json")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "wechat_unavailable"


def test_phone_binding_is_throttled_per_member(member_client, visitor, fake_wechat, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"login": "1/min"}}
    client = member_client(visitor)
    client.post(PHONE_URL, {"code": "x"}, format="json")

    response = client.post(PHONE_URL, {"code": "y"}, format="json")

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"


# -- POST /me/join ---------------------------------------------------------------------------------------------
def test_joining_with_a_bound_phone_makes_the_member_active_in_the_entry_tier(member_client, visitor):
    # given
    TierFactory(code="V2", name="Gold", rank=2)
    TierFactory(code="V1", name="Silver", rank=1)
    StoreFactory(code="mk")
    Member.objects.filter(pk=visitor.pk).update(phone="+85291234567")

    # when
    response = member_client(visitor).post(
        JOIN_URL,
        {"source": "home_popup", "name": "Alice", "home_store": "mk", "consent_marketing": True},
        format="json",
    )

    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["name"], body["tier"]["code"]) == ("active", "Alice", "V1")
    visitor.refresh_from_db()
    assert visitor.join_source == "home_popup"
    assert visitor.joined_at is not None
    assert visitor.consent_marketing is True


def test_joining_without_a_phone_is_refused_with_phone_required(member_client, visitor):
    response = member_client(visitor).post(JOIN_URL, {"source": "home_popup"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "phone_required"
    visitor.refresh_from_db()
    assert visitor.status == "visitor"


@pytest.mark.parametrize("source", ["console", "import", "nowhere", ""])
def test_joining_with_a_source_a_member_cannot_claim_is_invalid_input(member_client, visitor, source):
    Member.objects.filter(pk=visitor.pk).update(phone="+85291234567")

    response = member_client(visitor).post(JOIN_URL, {"source": source}, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["source"]


# -- GET /me/card, /me/card/qr.png -----------------------------------------------------------------------------
def test_card_returns_a_code_of_the_member_valid_for_the_current_minute(member_client):
    member = MemberFactory()
    before = timezone.now()

    response = member_client(member).get(CARD_URL)

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["member_number"] == member.member_number
    assert len(body["card_code"]) == 18
    assert body["card_code"].startswith(member.member_number)
    assert body["qr_png_url"] == "http://testserver/api/v1/me/card/qr.png"
    valid_until = timezone.datetime.fromisoformat(body["valid_until"])
    assert before < valid_until <= before + timedelta(seconds=61)


def test_card_of_a_visitor_is_member_not_active(member_client, visitor):
    response = member_client(visitor).get(CARD_URL)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "member_not_active"


def test_card_qr_is_a_png_never_cached(member_client):
    member = MemberFactory()

    response = member_client(member).get(QR_URL)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "no-store"
    image = Image.open(BytesIO(response.content))
    assert image.format == "PNG"
    assert image.width == image.height > 100


def test_card_qr_of_a_visitor_is_a_json_error_even_when_a_png_is_asked(member_client, visitor):
    response = member_client(visitor).get(QR_URL, HTTP_ACCEPT="image/png")

    assert response.status_code == 409
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "member_not_active"


def test_card_qr_without_credentials_is_401(api_client):
    response = api_client.get(QR_URL)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
