"""The schema tells the truth: schemathesis drives every operation of /api/schema/ against a loopback server.

Each operation gets a bounded, deterministic number of generated requests (valid and invalid ones), sent with a
member's Bearer token, or a store's POS `Api-Key` under /pos/, to pytest-django's live server. Every answer
must be documented: no server error, a status the operation declares, a body matching the declared schema
(the error shape included), the declared content type and headers. State-changing operations may refuse
(insufficient points, unknown ids): that is fine when the refusal is documented.
"""

import json
from decimal import Decimal

import pytest
import schemathesis
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis.checks import load_all_checks, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.api_conformance, pytest.mark.django_db(transaction=True)]

EXAMPLES_PER_OPERATION = 10


def _served_schema() -> dict:
    # Loaded once at import (collection), as a mini-program developer downloads it: no database needed.
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200, response.content[:500]
    return json.loads(response.content)


load_all_checks()
schema = schemathesis.openapi.from_dict(_served_schema())


# Conformance: what the API answers is what the schema says. (Whether a schema-valid request is accepted is a
# business question: a cart may be refused for a rule the schema can't express, with a documented 4xx.)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def callers(fake_wechat_server, wechat_pay):
    """A member with points and stored value, and a store's POS key: the two kinds of API callers."""
    from members.services.ledger import points_adjust
    from members.services.stored_value import stored_value_adjust
    from members.services.tokens import member_token_issue, store_api_key_create
    from tests.factories import MemberFactory, StoreFactory, UserFactory

    now = timezone.now()
    staff = UserFactory(is_superuser=True)
    store = StoreFactory(code="central")
    _key, pos_key = store_api_key_create(store_id=store.pk, name="till 1")
    member = MemberFactory(wechat_openid="o-conformance")
    points_adjust(member_id=member.pk, points=5000, reason="seed", created_by=staff, idempotency_key="p", now=now)
    stored_value_adjust(
        member_id=member.pk, amount=Decimal("500.00"), reason="seed", created_by=staff, idempotency_key="sv", now=now
    )
    token = member_token_issue(member_id=member.pk, now=now)
    return {"member": f"Bearer {token}", "pos": f"Api-Key {pos_key}"}


@pytest.fixture
def fake_wechat_server(settings):
    from tests.fakes import FakeWechat

    server = FakeWechat(appid="wx-test-app", secret="wx-test-secret").start()
    settings.WECHAT_API_BASE = server.base_url
    settings.WECHAT_APPID = server.appid
    settings.WECHAT_SECRET = server.secret
    settings.WECHAT_TIMEOUT_SECONDS = 2.0
    yield server
    server.stop()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_documented(case, live_server, callers):
    caller = "pos" if case.path.startswith("/api/v1/pos/") else "member"
    case.call_and_validate(base_url=live_server.url, headers={"Authorization": callers[caller]}, checks=CHECKS)
