"""The members app's raw SQL: PostgreSQL statements that do in one round trip what the ORM does in several, on
paths a benchmark shows they pay (bench/pos_purchase.py for the purchase).

Each statement has its portable ORM twin beside its caller, which is the reference, and a test that runs both on
the same data on PostgreSQL and compares every row written (tests/members/test_sql_equivalence.py).
"""

from django.db import connection

from members.models import Member, Purchase, PurchaseItem


def _columns_and_values(obj, *, exclude: tuple[str, ...] = ()) -> tuple[list[str], list]:
    """The columns of an unsaved model instance (primary key aside) and their values as the database takes them."""
    fields = [f for f in type(obj)._meta.concrete_fields if not f.primary_key and f.attname not in exclude]
    return [f.column for f in fields], [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]


def purchase_insert(*, purchase: Purchase, items: list[PurchaseItem]) -> None:
    """Insert `purchase` and its `items` and, for a member, move their purchase statistics, in one statement.

    The same rows as the ORM's save, bulk_create and UPDATE in members.services.purchases (data-modifying CTEs:
    the till's sale pays one round trip, and no query compilation, instead of three). Sets `purchase.pk`.
    Raises IntegrityError as the ORM would (an external id already taken).
    """
    qn = connection.ops.quote_name
    columns, values = _columns_and_values(purchase)
    params = {f"p{index}": value for index, value in enumerate(values)}
    placeholders = ", ".join(f"%(p{index})s" for index in range(len(values)))
    ctes = [
        f"p AS (INSERT INTO {qn(Purchase._meta.db_table)} ({', '.join(map(qn, columns))}) "
        f"VALUES ({placeholders}) RETURNING id)"
    ]
    if items:
        item_columns = _columns_and_values(items[0], exclude=("purchase_id",))[0]
        rows = []
        for row, item in enumerate(items):
            item_values = _columns_and_values(item, exclude=("purchase_id",))[1]
            params.update({f"i{row}_{index}": value for index, value in enumerate(item_values)})
            rows.append("(" + ", ".join(f"%(i{row}_{index})s" for index in range(len(item_values))) + ")")
        names = ", ".join(map(qn, item_columns))
        ctes.append(
            f"i AS (INSERT INTO {qn(PurchaseItem._meta.db_table)} (purchase_id, {names}) "
            f"SELECT p.id, v.* FROM p, (VALUES {', '.join(rows)}) AS v({names}))"
        )
    if purchase.member_id:
        # members.services.purchases.purchase_member_updates, in SQL
        params.update(member=purchase.member_id, paid=purchase.paid_amount, at=purchase.purchased_at)
        ctes.append(
            f"m AS (UPDATE {qn(Member._meta.db_table)} SET purchase_count = purchase_count + 1, "
            f"total_spend = total_spend + %(paid)s, "
            f"first_purchase_at = LEAST(COALESCE(first_purchase_at, %(at)s), %(at)s), "
            f"last_purchase_at = GREATEST(COALESCE(last_purchase_at, %(at)s), %(at)s) WHERE id = %(member)s)"
        )
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(ctes)} SELECT id FROM p", params)
        purchase.pk = cursor.fetchone()[0]
    # The instance is now a saved row, as Model.save() leaves it (Model._state, documented).
    purchase._state.adding, purchase._state.db = False, connection.alias
