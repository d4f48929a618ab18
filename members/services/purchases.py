"""Recording purchases and keeping a member's purchase statistics. Earning points is the points app's job."""

from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils.translation import gettext_lazy as _

from members.errors import IdempotencyKeyReused, InvalidInput
from members.models import Member, Purchase, PurchaseItem
from members.services.tiers import tier_evaluate_member
from members.signals import purchase_recorded, send_after_commit

CENT = Decimal("0.01")


def _amounts(*, gross_amount, discount_amount, points_value_amount, stored_value_amount) -> tuple[dict, Decimal]:
    amounts = {
        "gross_amount": Decimal(gross_amount).quantize(CENT),
        "discount_amount": Decimal(discount_amount).quantize(CENT),
        "points_value_amount": Decimal(points_value_amount).quantize(CENT),
        "stored_value_amount": Decimal(stored_value_amount).quantize(CENT),
    }
    paid = (
        amounts["gross_amount"]
        - amounts["discount_amount"]
        - amounts["points_value_amount"]
        - amounts["stored_value_amount"]
    )
    if any(value < 0 for value in amounts.values()) or paid < 0:
        raise InvalidInput(
            fields={"gross_amount": [str(_("Amounts must not be negative or exceed the gross amount."))]}
        )
    return amounts, paid


def _insert(*, store_id, channel, external_id, purchased_at, payment_method, member_id, amounts, paid, items):
    purchase = Purchase(
        member_id=member_id,
        store_id=store_id,
        channel=channel,
        external_id=external_id,
        purchased_at=purchased_at,
        paid_amount=paid,
        payment_method=payment_method,
        **amounts,
    )
    rows = [
        PurchaseItem(
            purchase=purchase,
            sku=item["sku"],
            name=item.get("name", ""),
            category=item.get("category", ""),
            quantity=item.get("quantity", 1),
            unit_price=Decimal(item["unit_price"]).quantize(CENT),
            amount=(Decimal(item["unit_price"]) * item.get("quantity", 1)).quantize(CENT),
        )
        for item in items or []
    ]
    if connection.vendor == "postgresql":
        _insert_postgres(purchase, rows)
        return purchase
    purchase.save(force_insert=True)
    PurchaseItem.objects.bulk_create(rows)
    return purchase


def _columns(obj) -> tuple[list[str], list]:
    """The concrete columns (primary key aside) of an unsaved model instance and their database values."""
    fields = [field for field in type(obj)._meta.concrete_fields if not field.primary_key]
    return [field.column for field in fields], [
        field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields
    ]


def _insert_postgres(purchase: Purchase, items: list[PurchaseItem]) -> None:
    """Insert the purchase and its items in one statement (one round trip whatever the number of items)."""
    qn = connection.ops.quote_name
    columns, values = _columns(purchase)
    table, names, placeholders = (
        qn(Purchase._meta.db_table),
        ", ".join(map(qn, columns)),
        ", ".join(["%s"] * len(values)),
    )
    sql = f"INSERT INTO {table} ({names}) VALUES ({placeholders}) RETURNING id"  # noqa: S608
    params = list(values)
    if items:
        item_columns = [column for column in _columns(items[0])[0] if column != "purchase_id"]
        rows = []
        for item in items:
            item_values = dict(zip(*_columns(item), strict=True))
            rows.append(f"({', '.join(['%s'] * len(item_columns))})")
            params += [item_values[column] for column in item_columns]
        sql = (
            f"WITH p AS ({sql}), i AS (INSERT INTO {qn(PurchaseItem._meta.db_table)} "
            f"(purchase_id, {', '.join(map(qn, item_columns))}) SELECT p.id, v.* FROM p, "
            f"(VALUES {', '.join(rows)}) AS v({', '.join(map(qn, item_columns))})) SELECT id FROM p"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        purchase.pk = cursor.fetchone()[0]
    purchase._state.adding, purchase._state.db = False, connection.alias


def purchase_member_updates(*, purchase: Purchase) -> dict:
    """Return the F() updates of a member's purchase statistics for one more purchase (for Member.update)."""
    purchased_at = purchase.purchased_at
    return {
        "purchase_count": F("purchase_count") + 1,
        "total_spend": F("total_spend") + purchase.paid_amount,
        "first_purchase_at": Least(Coalesce(F("first_purchase_at"), purchased_at), purchased_at),
        "last_purchase_at": Greatest(Coalesce(F("last_purchase_at"), purchased_at), purchased_at),
    }


def _after_member_purchase(purchase: Purchase, *, evaluate_tier: bool = True) -> None:
    send_after_commit(purchase_recorded, purchase_id=purchase.pk, member_id=purchase.member_id)
    if evaluate_tier:
        # A purchase that lifts the tier score over a higher tier's threshold upgrades at once (never down). The
        # member row is locked already: by the checkout's lock, or by purchase_record's UPDATE of the statistics.
        tier_evaluate_member(member_id=purchase.member_id, now=purchase.purchased_at, member_locked=True)


@transaction.atomic
def purchase_record(
    *,
    store_id: int,
    channel: str,
    external_id: str,
    purchased_at: datetime,
    gross_amount: Decimal,
    payment_method: str,
    member_id: int | None = None,
    discount_amount: Decimal = Decimal(0),
    points_value_amount: Decimal = Decimal(0),
    stored_value_amount: Decimal = Decimal(0),
    items: list[dict] | None = None,
) -> Purchase:
    """Record a sale once per (channel, store, external id); a replay returns the first record.

    Raises InvalidInput (amounts), IdempotencyKeyReused (same external id, different sale).
    """
    amounts, paid = _amounts(
        gross_amount=gross_amount,
        discount_amount=discount_amount,
        points_value_amount=points_value_amount,
        stored_value_amount=stored_value_amount,
    )
    existing = Purchase.objects.filter(channel=channel, store_id=store_id, external_id=external_id).first()
    if existing:
        if existing.member_id != member_id or existing.gross_amount != amounts["gross_amount"]:
            raise IdempotencyKeyReused(fields={"external_id": [str(_("Already used for a different purchase."))]})
        return existing
    purchase = _insert(
        store_id=store_id, channel=channel, external_id=external_id, purchased_at=purchased_at,
        payment_method=payment_method, member_id=member_id, amounts=amounts, paid=paid, items=items,
    )  # fmt: skip
    if member_id:
        Member.objects.filter(pk=member_id).update(**purchase_member_updates(purchase=purchase))
        _after_member_purchase(purchase)
    return purchase


def purchase_record_for_locked_member(
    *,
    store_id: int,
    channel: str,
    external_id: str,
    purchased_at: datetime,
    gross_amount: Decimal,
    payment_method: str,
    member_id: int,
    discount_amount: Decimal = Decimal(0),
    points_value_amount: Decimal = Decimal(0),
    stored_value_amount: Decimal = Decimal(0),
    items: list[dict] | None = None,
    evaluate_tier: bool = True,
) -> Purchase:
    """Record a member's sale whose external id the caller has just found unused, under that member's lock.

    The fast twin of purchase_record for checkout: no second look for the external id (its unique constraint
    is the backstop: a twin under another member committed first -> IdempotencyKeyReused, and the transaction
    must end), and the member's purchase statistics are NOT updated here: the caller applies
    `purchase_member_updates(purchase=...)` in its own UPDATE of the member row, in the same transaction.
    The instant tier upgrade and the purchase_recorded signal happen as with purchase_record; a caller that
    knows no tier exists passes evaluate_tier=False (the evaluation would find nothing to do).
    Raises InvalidInput, IdempotencyKeyReused.
    """
    amounts, paid = _amounts(
        gross_amount=gross_amount,
        discount_amount=discount_amount,
        points_value_amount=points_value_amount,
        stored_value_amount=stored_value_amount,
    )
    with transaction.atomic(savepoint=False):
        try:
            purchase = _insert(
                store_id=store_id, channel=channel, external_id=external_id, purchased_at=purchased_at,
                payment_method=payment_method, member_id=member_id, amounts=amounts, paid=paid, items=items,
            )  # fmt: skip
        except IntegrityError as exc:
            raise IdempotencyKeyReused(
                fields={"external_id": [str(_("Already used for a different purchase."))]}
            ) from exc
        _after_member_purchase(purchase, evaluate_tier=evaluate_tier)
    return purchase


@transaction.atomic
def purchase_mark_refunded(*, purchase_id: int, refunded_paid_amount: Decimal, is_fully_refunded: bool) -> None:
    """Mark a purchase (partially) refunded and take the refunded paid amount off the member's total spend.

    The refund itself (amount checks, points) is the points app's job; this keeps the purchase's status and
    the member's statistics right. Purchase count and dates are left as they were.
    """
    status = Purchase.Status.REFUNDED if is_fully_refunded else Purchase.Status.PARTIALLY_REFUNDED
    Purchase.objects.filter(pk=purchase_id).update(status=status)
    member_id = Purchase.objects.filter(pk=purchase_id).values_list("member_id", flat=True).first()
    amount = Decimal(refunded_paid_amount).quantize(CENT)
    if member_id and amount > 0:
        Member.objects.filter(pk=member_id).update(total_spend=Greatest(F("total_spend") - amount, Decimal("0.00")))
