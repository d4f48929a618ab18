"""Helpers for set-based writes: one array parameter per column instead of one placeholder per value.

Used by the bulk paths (member import, opening balances, expiry, bulk issue) that must send thousands of values per
statement; the ORM stays the default everywhere else. `set_based()` is the one question those paths ask before
taking their PostgreSQL statement instead of their portable ORM reference; `orm_reference()` makes them take the
reference on PostgreSQL too, so a test can run both on the same data and compare the rows they write.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import connection
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL

_reference_only: ContextVar[bool] = ContextVar("orm_reference_only", default=False)


def set_based() -> bool:
    """Whether a bulk path takes its PostgreSQL statement: on PostgreSQL, unless inside `orm_reference()`."""
    return connection.vendor == "postgresql" and not _reference_only.get()


@contextmanager
def orm_reference() -> Iterator[None]:
    """Make the bulk paths take their portable ORM reference, whatever the database (equivalence tests)."""
    token = _reference_only.set(True)
    try:
        yield
    finally:
        _reference_only.reset(token)


def pg_array(values) -> str:
    """Return the PostgreSQL array literal of `values` (None as NULL), to pass as one `%s::type[]` parameter.

    str.join builds it several times faster than psycopg dumps a Python list element by element, which
    was most of the cost of sending a chunk. Every element is quoted (valid for any element type).
    """
    if not values:
        return "{}"
    texts = [None if value is None else str(value) for value in values]
    present = [text for text in texts if text is not None]
    check = "".join(present)
    if "\\" in check or '"' in check:
        texts = [None if text is None else text.replace("\\", "\\\\").replace('"', '\\"') for text in texts]
    if len(present) == len(texts):
        return '{"' + '","'.join(texts) + '"}'
    return "{" + ",".join("NULL" if text is None else '"' + text + '"' for text in texts) + "}"


def field_in(model, name, values):
    """Return a filter `name IN values`; on PostgreSQL `= ANY(one array parameter)`, not one per value."""
    if not set_based():
        return Q(**{f"{name}__in": values})
    field = model._meta.get_field(name)
    qn = connection.ops.quote_name
    return RawSQL(
        f"{qn(model._meta.db_table)}.{qn(field.column)} = ANY(%s::{field.db_type(connection)}[])",
        [pg_array(list(values))],
        output_field=BooleanField(),
    )
