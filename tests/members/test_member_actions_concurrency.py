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


def test_visitors_binding_one_new_phone_at_once_bind_it_once_and_the_others_are_told_it_is_taken(now):
    # given eight visitors whose WeChat phone codes resolve to one phone that no member has yet
    from members.errors import PhoneTaken
    from members.services.membership import member_bind_phone

    visitors = [MemberFactory(phone=None, status=Member.Status.VISITOR, wechat_openid=f"o-{n}") for n in range(8)]

    results = run_in_threads(
        [lambda visitor=visitor: member_bind_phone(member_id=visitor.pk, phone="+85291230000", now=now)
         for visitor in visitors],
        workers=8,
    )  # fmt: skip

    assert sum(isinstance(result, Member) for result in results) == 1
    assert sum(isinstance(result, PhoneTaken) for result in results) == 7
    assert Member.objects.filter(phone="+85291230000").count() == 1
