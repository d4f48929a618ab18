"""Freezing a segment for a run: one INSERT ... SELECT, idempotent per run key, unmoved by later changes."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import Segment, SegmentFreeze, SegmentMember
from campaigns.selectors.segments import freeze_member_ids, segment_members_of
from campaigns.services.segments import segment_freeze
from members.models import Member
from members.services.membership import member_bind_phone
from tests.concurrency import run_in_threads
from tests.factories import MemberFactory, StoreFactory, TierFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def gold():
    return TierFactory()


def gold_segment(tier, **kwargs):
    return Segment.objects.create(
        name="Gold", rule={"match": "all", "conditions": [{"field": "tier", "op": "in", "value": [tier.pk]}]}, **kwargs
    )


def test_a_freeze_holds_the_segments_members_at_that_moment(gold, now):
    members = MemberFactory.create_batch(3, tier=gold)
    MemberFactory()
    segment = gold_segment(gold)

    freeze, created = segment_freeze(segment_id=segment.pk, key="campaign-run:1", now=now)

    assert created
    assert freeze.member_count == 3
    assert list(freeze_member_ids(freeze=freeze)) == sorted(member.pk for member in members)
    assert freeze.rule == segment.rule
    assert sorted(segment_members_of(segment=segment, now=now).values_list("pk", flat=True)) == sorted(
        freeze_member_ids(freeze=freeze)
    )


def test_freezing_again_with_the_same_key_changes_nothing(gold, now):
    # given a frozen run, then a new member of the segment, one who left it, and an edited rule
    first, leaving = MemberFactory(tier=gold), MemberFactory(tier=gold)
    segment = gold_segment(gold)
    frozen, _created = segment_freeze(segment_id=segment.pk, key="campaign-run:7", now=now)
    MemberFactory(tier=gold)
    Member.objects.filter(pk=leaving.pk).update(tier=None)
    segment.rule = {"match": "all", "conditions": [{"field": "age", "op": "gte", "value": 0}]}
    segment.save()

    # when the run asks again
    again, created = segment_freeze(segment_id=segment.pk, key="campaign-run:7", now=now)

    # then it gets the same freeze and members; another run sees the segment as it is now
    assert (created, again.pk, again.member_count) == (False, frozen.pk, 2)
    assert list(freeze_member_ids(freeze=again)) == sorted([first.pk, leaving.pk])
    assert SegmentMember.objects.count() == 2
    other, created = segment_freeze(segment_id=segment.pk, key="campaign-run:8", now=now)
    assert (created, other.member_count) == (True, 0)  # nobody has a birthday: the new rule selects no one


def test_a_store_segment_freezes_only_its_stores_members(gold, now):
    store = StoreFactory()
    ours = MemberFactory(tier=gold, home_store=store)
    MemberFactory(tier=gold, home_store=StoreFactory())

    freeze, _created = segment_freeze(segment_id=gold_segment(gold, store=store).pk, key="k", now=now)

    assert list(freeze_member_ids(freeze=freeze)) == [ours.pk]
    assert freeze.store_id == store.pk


def test_an_empty_segment_freezes_with_no_members(gold, now):
    freeze, created = segment_freeze(segment_id=gold_segment(gold).pk, key="empty", now=now)

    assert (created, freeze.member_count, list(freeze_member_ids(freeze=freeze))) == (True, 0, [])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_run_frozen_from_many_connections_at_once_is_frozen_once(gold, now):
    members = MemberFactory.create_batch(30, tier=gold)
    segment = gold_segment(gold)

    results = run_in_threads(
        [lambda: segment_freeze(segment_id=segment.pk, key="campaign-run:race", now=now)] * 8, workers=8
    )

    assert not [result for result in results if isinstance(result, Exception)]
    assert [created for _freeze, created in results].count(True) == 1
    assert {freeze.pk for freeze, _created in results} == {SegmentFreeze.objects.get().pk}
    assert list(SegmentMember.objects.order_by("member_id").values_list("member_id", flat=True)) == sorted(
        member.pk for member in members
    )


def test_a_visitor_is_never_frozen_and_merging_one_into_a_member_reads_no_freeze(gold, now):
    # given a member in a frozen segment, and a WeChat visitor of the same tier who then binds the member's phone
    owner = MemberFactory(tier=gold, phone="+85291234567", wechat_openid=None)
    visitor = MemberFactory(tier=gold, phone=None, wechat_openid="o-visitor", status=Member.Status.VISITOR)
    freeze, _created = segment_freeze(segment_id=gold_segment(gold).pk, key="campaign-run:1", now=now)
    assert list(freeze_member_ids(freeze=freeze)) == [owner.pk]

    # when the visitor is merged into the member (a login: the visitor's row is deleted)
    with CaptureQueriesContext(connection) as queries:
        member_bind_phone(member_id=visitor.pk, phone=owner.phone, now=now)

    # then no statement looked for the visitor among the frozen members (no index could find it: a scan of every
    # freeze), and the freeze is as it was
    table = SegmentMember._meta.db_table
    assert not [query["sql"] for query in queries.captured_queries if table in query["sql"]]
    assert not Member.objects.filter(pk=visitor.pk).exists()
    assert list(freeze_member_ids(freeze=freeze)) == [owner.pk]
