import pytest

from coupons.models import Coupon
from coupons.services import coupon_template_issue_to_member
from tests.factories import StoreFactory


@pytest.fixture
def issue(now):
    """Issue a coupon of a template to a member the way staff would (no claim rules)."""

    def make(template, member, *, at=None, **kwargs):
        return coupon_template_issue_to_member(
            template_id=template.pk, member_id=member.pk, source=Coupon.Source.MANUAL, now=at or now, **kwargs
        )

    return make


@pytest.fixture
def till_store():
    return StoreFactory(code="central", name="Central")


@pytest.fixture
def pos_client(till_store, pos_client_for):
    return pos_client_for(till_store)
