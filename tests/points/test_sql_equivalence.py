"""On PostgreSQL, each statement of points/sql.py gives exactly the result of its ORM reference."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from members.models import PointsEntry
from points import reports, sql
from tests.factories import MemberFactory, StoreFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

NOW = datetime(2026, 12, 4, 4, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=30)


@pytest.fixture
def store():
    """Accrual entries whose breakdowns share points among rules, around the period's edges, in two stores."""
    rng = random.Random(20261204)
    store, elsewhere = StoreFactory(code="here"), StoreFactory(code="there")
    members = [MemberFactory(home_store=rng.choice([store, elsewhere, None])) for _ in range(12)]
    moments = [SINCE, SINCE - timedelta(seconds=1), NOW, NOW + timedelta(seconds=1), NOW - timedelta(days=3)]
    for index in range(150):
        shares = [
            {"rule_id": rule_id, "name": f"Rule {rule_id}", "points": rng.randint(1, 300)}
            for rule_id in rng.sample(range(1, 12), k=rng.randint(0, 4))
        ]
        if rng.random() < 0.1:
            shares.append({"name": "a share without a rule", "points": 99})
        PointsEntry.objects.create(
            member=rng.choice(members), kind=rng.choice(["accrual"] * 4 + ["addition"]),
            delta=sum(share["points"] for share in shares) or 1, balance_after=0, idempotency_key=f"eq:{index}",
            breakdown=rng.choice([{"rules": shares}, {"rules": shares, "total": 1}, {}]),
            created_at=rng.choice(moments),
        )  # fmt: skip
    return store


@pytest.mark.parametrize("limit", [3, 50])
@pytest.mark.parametrize("in_store", [False, True], ids=["programme", "one store"])
def test_the_top_rules_statement_gives_the_totals_of_the_orm(store, in_store, limit):
    arguments = {"since": SINCE, "now": NOW, "store_id": store.pk if in_store else None, "limit": limit}

    fast = sql.top_rules_totals(**arguments)
    reference = reports._top_rules_totals_orm(**arguments)

    assert fast == reference
    assert len(reference) >= 3  # the population really ranks rules
