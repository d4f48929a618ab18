"""The coupons app's raw SQL: the bulk issue's writes of a chunk of coupons on PostgreSQL (bench/bulk_issue.py).

Each has its portable ORM reference in coupons.services.bulk, and tests/coupons/test_bulk_sql_equivalence.py runs
both on the same data and compares every row written. The caller asks `infra.bulk_sql.set_based()` first; nothing
here runs on another database.
"""

from datetime import datetime

from django.db import connection

from coupons.models import Coupon

PER_ROW_COLUMNS = ("member_id", "member_sequence", "code", "issue_key")


def _constant_columns(common: dict) -> tuple[list[str], list]:
    """Return the columns other than the id and the per-row ones, with their values prepared for the database."""
    columns, values = [], []
    for field in Coupon._meta.concrete_fields:
        if field.primary_key or field.attname in PER_ROW_COLUMNS:
            continue
        value = common[field.attname] if field.attname in common else field.get_default()
        columns.append(connection.ops.quote_name(field.column))
        values.append(field.get_db_prep_save(value, connection))
    return columns, values


def _copy_text(value) -> str:
    """Render one value in COPY's text format."""
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def coupon_rows_copy(*, common: dict, member_ids, sequences, codes, keys) -> None:
    """COPY the rows into the coupon table (PostgreSQL); raises UniqueViolation if any row conflicts.

    Generated codes and issue keys use no character COPY would have to escape; the constant columns are
    escaped once for the whole chunk.
    """
    columns, values = _constant_columns(common)
    tail = "\t".join(_copy_text(value) for value in values)
    data = "".join(
        [
            f"{member_id}\t{sequence}\t{code}\t{key}\t{tail}\n"
            for member_id, sequence, code, key in zip(member_ids, sequences, codes, keys, strict=True)
        ]
    ).encode()
    sql = f"COPY {Coupon._meta.db_table} (member_id, member_sequence, code, issue_key, {', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        copy.write(data)


def coupon_rows_insert(*, common: dict, member_ids, sequences, codes, keys) -> set[str]:
    """INSERT the rows with ON CONFLICT DO NOTHING; return the codes of the rows this statement inserted.

    One INSERT ... SELECT FROM unnest(arrays) ... RETURNING code: four array parameters instead of a parameter per
    cell and no model instances, the bulk path's hot spot (reference: the bulk_create of
    coupons.services.bulk._insert_ignoring_conflicts).
    """
    columns, params = _constant_columns(common)
    sql = (
        f"INSERT INTO {Coupon._meta.db_table} (member_id, member_sequence, code, issue_key, {', '.join(columns)}) "
        f"SELECT row.member_id, row.member_sequence, row.code, row.issue_key, {', '.join(['%s'] * len(columns))} "
        "FROM unnest(%s::bigint[], %s::integer[], %s::text[], %s::text[]) "
        "AS row(member_id, member_sequence, code, issue_key) "
        "ON CONFLICT DO NOTHING RETURNING code"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, list(member_ids), list(sequences), list(codes), list(keys)])
        return {code for (code,) in cursor.fetchall()}
