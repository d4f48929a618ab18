import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from coupons.models import Coupon
from coupons.services import coupon_template_issue_to_member
from members.services.tokens import member_token_issue, store_api_key_create
from tests.factories import StoreFactory


@pytest.fixture(autouse=True)
def _empty_cache():
    """Throttle counters live in the cache: start every test without them."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def issue(now):
    """Issue a coupon of a template to a member the way staff would (no claim rules)."""

    def make(template, member, *, at=None, **kwargs):
        return coupon_template_issue_to_member(
            template_id=template.pk, member_id=member.pk, source=Coupon.Source.MANUAL, now=at or now, **kwargs
        )

    return make


@pytest.fixture
def member_client(now):
    def make(member):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {member_token_issue(member_id=member.pk, now=now)}")
        return client

    return make


@pytest.fixture
def till_store():
    return StoreFactory(code="central", name="Central")


@pytest.fixture
def pos_client(till_store):
    _key, raw = store_api_key_create(store_id=till_store.pk, name="till 1")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


@pytest.fixture
def api_client_anonymous():
    return APIClient()
