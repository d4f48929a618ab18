"""Helpers for set-based writes: one array parameter per column instead of one placeholder per value.

Used by the bulk paths (member import, opening balances, expiry) that must send thousands of values per
statement; the ORM stays the default everywhere else.
"""

from django.db import connection
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL


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
    if connection.vendor != "postgresql":
        return Q(**{f"{name}__in": values})
    field = model._meta.get_field(name)
    qn = connection.ops.quote_name
    return RawSQL(
        f"{qn(model._meta.db_table)}.{qn(field.column)} = ANY(%s::{field.db_type(connection)}[])",
        [pg_array(list(values))],
        output_field=BooleanField(),
    )
