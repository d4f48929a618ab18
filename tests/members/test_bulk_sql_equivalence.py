"""On PostgreSQL, the set-based paths of the chunked jobs write exactly the rows of their ORM reference: each runs on
the same data (the other's writes rolled back) and every row written is compared."""

from contextlib import nullcontext
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from infra.bulk_sql import orm_reference
from members.imports.scope import ImportScope
from members.imports.validation import parse_members_csv
from members.imports.writer import ImportContext, write_chunk
from members.models import Member, PointsAllocation, PointsEntry, PointsLot, TierHistory
from members.services import ledger
from members.services.ledger import points_credit, points_debit
from members.services.locks import lock_member
from tests.factories import MemberFactory, PurchaseFactory, StoreFactory, TagFactory, TierFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

NOW = datetime(2024, 6, 1, 4, 0, tzinfo=UTC)


class _Undo(Exception):
    pass


def rows_written_by(path, write, snapshot):
    """Run `write` on the given path ("orm": the portable reference; "sql": the PostgreSQL statements), take the
    snapshot of the rows, and roll the writes back."""
    try:
        with transaction.atomic(), orm_reference() if path == "orm" else nullcontext():
            write()
            rows = snapshot()
            raise _Undo()
    except _Undo:
        return rows


def ledger_rows(member_ids):
    entries = list(
        PointsEntry.objects.filter(member_id__in=member_ids)
        .order_by("idempotency_key")
        .values_list("member_id", "kind", "delta", "balance_after", "debt_after", "idempotency_key", "source",
                     "reason", "breakdown", "created_by_id", "created_at", "purchase_id")
    )  # fmt: skip
    allocations = sorted(
        PointsAllocation.objects.filter(lot__member_id__in=member_ids).values_list(
            "entry__idempotency_key", "lot_id", "points"
        )
    )
    lots = list(
        PointsLot.objects.filter(member_id__in=member_ids)
        .order_by("member_id", "entry__idempotency_key")
        .values_list("member_id", "entry__idempotency_key", "points", "remaining", "is_active", "activates_at",
                     "expires_at")
    )  # fmt: skip
    members = list(
        Member.objects.filter(pk__in=member_ids)
        .order_by("pk")
        .values_list("pk", "points_balance", "points_debt", "points_pending")
    )
    return entries, allocations, lots, members


def test_the_expiry_statement_writes_the_rows_of_the_orm():
    # given members with expired lots, partly spent, some in debt, and lots not yet due
    members = MemberFactory.create_batch(4)
    for index, member in enumerate(members):
        for key, points, days in (("a", 100, -3), ("b", 40 + index, -1), ("c", 30, 5)):
            points_credit(
                member_id=member.pk, points=points, idempotency_key=f"{key}:{member.pk}", now=NOW - timedelta(days=30),
                expires_at=NOW + timedelta(days=days),
            )  # fmt: skip
        if index % 2:
            points_debit(member_id=member.pk, points=25 * index, idempotency_key=f"spend:{member.pk}", now=NOW)
    Member.objects.filter(pk=members[3].pk).update(points_debt=7)
    member_ids = [member.pk for member in members]

    # when each path expires them
    def expire():
        ledger.points_expire_due_lots(now=NOW, member_ids=member_ids)

    reference = rows_written_by("orm", expire, lambda: ledger_rows(member_ids))
    fast = rows_written_by("sql", expire, lambda: ledger_rows(member_ids))

    # then
    assert fast == reference
    assert len([entry for entry in fast[0] if entry[1] == "expiration"]) == 8


@pytest.mark.parametrize("pending", [False, True], ids=["earned-now", "earned-later"])
def test_the_purchase_settle_statement_writes_the_rows_of_the_orm(pending):
    # given members with several lots (the spend crosses lots), one of them in debt
    members = MemberFactory.create_batch(3)
    for member in members:
        for key, points, days in (("a", 30, 2), ("b", 50, 9), ("c", 40, None)):
            points_credit(
                member_id=member.pk, points=points, idempotency_key=f"{key}:{member.pk}", now=NOW - timedelta(days=1),
                expires_at=None if days is None else NOW + timedelta(days=days),
            )  # fmt: skip
    Member.objects.filter(pk=members[2].pk).update(points_debt=15)
    purchases = {member.pk: PurchaseFactory(member=member) for member in members}
    member_ids = [member.pk for member in members]

    # when each path settles a purchase that spends across lots and earns
    def settle():
        for member_id in member_ids:
            ledger.points_purchase_settle(
                member=lock_member(member_id=member_id), purchase=purchases[member_id], now=NOW,
                spend=ledger.PurchaseSpend(points=60, key=f"spend:{member_id}", breakdown={"points": 60}),
                earn=ledger.PurchaseEarn(
                    points=25, key=f"earn:{member_id}", breakdown={"rules": [{"points": 25}]},
                    activates_at=NOW + timedelta(days=7) if pending else None, expires_at=NOW + timedelta(days=365),
                ),
            )  # fmt: skip

    reference = rows_written_by("orm", settle, lambda: ledger_rows(member_ids))
    fast = rows_written_by("sql", settle, lambda: ledger_rows(member_ids))

    # then
    assert fast == reference
    assert len(fast[1]) == 6  # each spend drew from two lots


def member_rows(phones):
    own = {"id", "member_number", "created_at", "updated_at"}  # drawn at random, or set by the clock
    fields = [f.attname for f in Member._meta.concrete_fields if f.attname not in own]
    members = list(Member.objects.filter(phone__in=phones).order_by("phone").values_list(*fields))
    history = list(
        Member.history.filter(phone__in=phones)
        .order_by("phone", "history_type")
        .values_list("phone", "name", "tier_id", "history_type", "history_change_reason", "history_date")
    )
    tags = sorted(
        Member.tags.through.objects.filter(member__phone__in=phones).values_list("member__phone", "tag__name")
    )  # a tag the file creates gets another id each time
    member_ids = list(Member.objects.filter(phone__in=phones).values_list("pk", flat=True))
    entries, _allocations, lots, _members = ledger_rows(member_ids)
    by_id = dict(Member.objects.filter(phone__in=phones).values_list("pk", "phone"))
    entries = [(by_id[entry[0]], *entry[1:]) for entry in entries]
    lots = [(by_id[lot[0]], *lot[1:]) for lot in lots]
    moves = sorted(
        TierHistory.objects.filter(member__phone__in=phones).values_list(
            "member__phone", "old_tier_id", "new_tier_id", "score", "reason", "note", "override_until",
            "created_by_id", "created_at",
        )
    )  # fmt: skip
    return members, history, tags, entries, lots, moves


def test_the_import_statements_write_the_rows_of_the_orm():
    # given a file of new members (tags, tiers, stores, opening points, consents) and of members who exist
    gold = TierFactory(code="GOLD", rank=5)
    StoreFactory(code="central")
    TierFactory(code="BASE", rank=1)
    TagFactory(name="vip")
    MemberFactory(phone="+85263000001", name="Old name", tier=None, status=Member.Status.VISITOR)
    MemberFactory(phone="+85263000002", name="Kept", tier=gold)
    text = (
        "phone,name,gender,birthday,email,locale,tier,store,tags,consent_sms,opening_points\r\n"
        "63000001,New name,f,1990-02-03,a@example.com,zh-hant,GOLD,central,vip;new,yes,50\r\n"
        "63000002,Kept,,,,,,,,,0\r\n"
        "63000003,Chan Tai Man,m,1985-12-31,b@example.com,en,GOLD,central,vip,no,120\r\n"
        "63000004,Wong,,,,,,,,,\r\n"
        "63000005,Lee,o,,,zh-hans,,,new,1,7\r\n"
    )
    parsed = parse_members_csv(text, today=NOW.date(), scope=ImportScope())
    assert not parsed.errors
    phones = [row.phone for row in parsed.rows]

    # when each path writes the chunk
    def write():
        write_chunk(parsed.rows, context=ImportContext.build(now=NOW, job_id=1))

    reference = rows_written_by("orm", write, lambda: member_rows(phones))
    fast = rows_written_by("sql", write, lambda: member_rows(phones))

    # then
    assert fast == reference
    assert len(fast[0]) == 5
    assert len(fast[3]) == 3  # opening entries: members 1, 3 and 5
    assert [move[:3] for move in fast[5]] == [("+85263000001", None, gold.pk), ("+85263000003", None, gold.pk)]
