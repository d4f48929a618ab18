"""A real Celery worker consuming from the real broker runs the scheduled tier review: the review task fans the
members out in chunk tasks, and the chunk tasks upgrade the members."""

import functools
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from celery.signals import task_postrun
from django.utils import timezone

from members.models import Member, TierHistory, TierPolicy
from members.services import tiers as tier_services
from members.tasks import tier_evaluation_task
from tests.factories import MemberFactory, PurchaseFactory, TierFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, *, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_the_review_fans_out_chunk_tasks_on_the_worker_and_upgrades_members(monkeypatch, real_worker):
    # given 6 Silver members, 4 of whom spent enough for Gold, split into chunks of 2 member ids
    silver = TierFactory(code="V1", rank=1)
    gold = TierFactory(code="V2", rank=2, min_score_to_reach=1000, min_score_to_keep=800)
    TierPolicy.load()
    now = timezone.now()
    members = [MemberFactory(tier=silver) for _ in range(6)]
    for member in members[:4]:
        PurchaseFactory(member=member, gross_amount=Decimal("1500.00"), purchased_at=now - timedelta(days=2))
    monkeypatch.setattr(
        tier_services, "tier_evaluation_chunks", functools.partial(tier_services.tier_evaluation_chunks, chunk_size=2)
    )

    ran = []

    def record(sender=None, kwargs=None, retval=None, **_extra):
        ran.append((sender.name, kwargs, retval))

    task_postrun.connect(record, weak=False)
    try:
        # when the scheduled review task is sent to the broker
        tier_evaluation_task.delay()

        # then the worker ran the review and 3 chunk tasks, which upgraded exactly the 4 members
        assert wait_for(lambda: len(ran) == 4, seconds=30)
    finally:
        task_postrun.disconnect(record)
    assert ran[0] == ("members.tasks.tier_evaluation_task", {}, 3)
    chunk_runs = sorted((kwargs["first_id"], kwargs["last_id"], retval) for _name, kwargs, retval in ran[1:])
    first_id = members[0].pk
    assert chunk_runs == [
        (first_id, first_id + 1, {"upgrades": 2, "downgrades": 0}),
        (first_id + 2, first_id + 3, {"upgrades": 2, "downgrades": 0}),
        (first_id + 4, first_id + 5, {"upgrades": 0, "downgrades": 0}),
    ]
    assert TierHistory.objects.filter(reason="upgrade").count() == 4
    upgraded = set(Member.objects.filter(tier=gold).values_list("pk", flat=True))
    assert upgraded == {member.pk for member in members[:4]}
    assert TierPolicy.load().last_evaluated_at is not None
