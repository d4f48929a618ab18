"""The stable random bucket: the SQL expression and the Python function agree, on both databases."""

import pytest
from django.db.models import Count

from campaigns.segments.buckets import BUCKETS, member_bucket, member_bucket_expression
from members.models import Member
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("salt", [0, 1, 4242])
def test_sql_and_python_give_the_same_bucket(salt):
    # given members with small ids and ids near the limits of the arithmetic (2**31 - 1 and beyond)
    members = MemberFactory.create_batch(20)
    for pk in (2**31 - 2, 2**31 - 1, 2**31, 2**40 + 7):
        members.append(MemberFactory(pk=pk))

    # when the database computes the buckets
    computed = dict(Member.objects.annotate(bucket=member_bucket_expression(salt)).values_list("pk", "bucket"))

    # then they are Python's, in range
    assert computed == {member.pk: member_bucket(member.pk, salt) for member in members}
    assert all(0 <= bucket < BUCKETS for bucket in computed.values())


def test_buckets_are_spread_over_consecutive_ids():
    counts = [0] * 10
    for member_id in range(1, 100_001):
        counts[member_bucket(member_id) // 1000] += 1

    assert all(9_700 <= count <= 10_300 for count in counts), counts


def test_the_bucket_annotation_groups_in_the_database():
    MemberFactory.create_batch(5)

    rows = Member.objects.annotate(bucket=member_bucket_expression()).values("bucket").annotate(n=Count("pk"))

    assert sum(row["n"] for row in rows) == 5
