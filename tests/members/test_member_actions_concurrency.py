"""Member page actions at the same moment (PostgreSQL row locks): of many anonymisations of one member, one is
recorded and the others are refused."""

import pytest

from members.errors import MemberAlreadyAnonymised
from members.models import Member, MemberAnonymisation, Role
from members.services.member_actions import member_anonymise
from tests.concurrency import run_in_threads
from tests.factories import MemberFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_anonymisations_of_one_member_record_one_and_refuse_the_rest(now):
    member = MemberFactory(name="Alice Chan", email="alice@example.com")
    staff = UserFactory(role=Role.MERCHANT_ADMIN)

    results = run_in_threads(
        [
            lambda number=number: member_anonymise(
                member_id=member.pk, reason=f"Request {number}", requested_by=staff, now=now
            )  # fmt: skip
            for number in range(8)
        ],
        workers=8,
    )

    assert sum(isinstance(result, MemberAnonymisation) for result in results) == 1
    assert sum(isinstance(result, MemberAlreadyAnonymised) for result in results) == 7
    member.refresh_from_db()
    assert (member.status, member.phone, member.email) == (Member.Status.CLOSED, None, "")
    assert MemberAnonymisation.objects.filter(member=member).count() == 1
