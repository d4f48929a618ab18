"""Hot reads whose SQL is compiled once per process.

Django builds and compiles a queryset's SQL on every call, although the SQL of a given read never changes, only
its parameters: on a till's purchase that compiling was a fifth of the request's Python time. A PreparedRead
builds its queryset once, with marker values in place of the parameters, keeps the compiled SQL and where each
marker landed, and on each call runs that SQL with the real values, turning the rows into model instances the way
the queryset would (select_related and annotations included).

Only parameters that reach the SQL unchanged can be prepared (exact lookups on integer and text columns); a
marker that the compiler transformed (an `icontains`, a date) is not found and compiling fails loudly.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import connections
from django.db.models import QuerySet
from django.db.models.query import get_related_populators
from django.db.transaction import TransactionManagementError

# Marker values no real parameter equals: large negative integers, and strings no client sends.
_INT_MARKER_BASE = -(2**62)
_MARKERS = {int: lambda index: _INT_MARKER_BASE + index, str: lambda index: f"\x00prepared-{index}\x00"}


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple  # a constant, or a _Slot naming the call's parameter
    needs_transaction: bool
    model: type
    init_list: list[str]
    fields_start: int
    fields_end: int
    related_populators: list
    annotation_col_map: dict
    converters: list  # (position, (converters, expression)) as SQLCompiler.get_converters gives them


def _converted(row, converters, connection) -> list:
    """The row with the fields' from-database conversions applied, as SQLCompiler.apply_converters does."""
    row = list(row)
    for position, (functions, expression) in converters:
        value = row[position]
        for function in functions:
            value = function(value, expression, connection)
        row[position] = value
    return row


@dataclass(frozen=True)
class _Slot:
    name: str


class PreparedRead:
    """A read compiled once per database connection alias: `build(**params)` returns its queryset.

    `params` names each parameter and its type (int or str), e.g.
    PreparedRead(lambda pk: Member.objects.filter(pk=pk), pk=int).one(pk=7).
    """

    def __init__(self, build: Callable[..., QuerySet], **params: type):
        unsupported = {name: kind for name, kind in params.items() if kind not in _MARKERS}
        if unsupported:
            raise TypeError(f"only int and str parameters can be prepared: {unsupported}")
        self._build = build
        self._params = params
        self._compiled: dict[str, _Compiled] = {}

    def one(self, using: str = "default", **params):
        """Return the first row's instance, or None (for lookups that match at most one row)."""
        rows = self.all(using=using, **params)
        return rows[0] if rows else None

    def all(self, using: str = "default", **params) -> list:
        compiled = self._compiled.get(using) or self._compile(using)
        connection = connections[using]
        if compiled.needs_transaction and connection.get_autocommit():
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        values = tuple(self._value(slot.name, params[slot.name]) if isinstance(slot, _Slot) else slot
                       for slot in compiled.params)  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, values)
            rows = cursor.fetchall()
        if compiled.converters:
            rows = [_converted(row, compiled.converters, connection) for row in rows]
        instances = []
        for row in rows:
            instance = compiled.model.from_db(
                using, compiled.init_list, row[compiled.fields_start : compiled.fields_end]
            )
            for populator in compiled.related_populators:
                populator.populate(row, instance)
            for name, position in compiled.annotation_col_map.items():
                setattr(instance, name, row[position])
            instances.append(instance)
        return instances

    def _value(self, name: str, value):
        """The parameter as its declared type, as the field would prepare it ("7" -> 7; None stays None)."""
        return value if value is None else self._params[name](value)

    def _compile(self, using: str) -> _Compiled:
        markers = {name: _MARKERS[kind](index) for index, (name, kind) in enumerate(self._params.items())}
        queryset = self._build(**markers).using(using)
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        by_marker = {(type(value), value): name for name, value in markers.items()}
        slots = tuple(_Slot(by_marker[type(value), value]) if (type(value), value) in by_marker else value
                      for value in params)  # fmt: skip
        missing = set(markers) - {slot.name for slot in slots if isinstance(slot, _Slot)}
        if missing:
            raise ValueError(f"parameters {sorted(missing)} did not reach the SQL unchanged: they cannot be prepared")
        klass_info = compiler.klass_info
        select_fields = klass_info["select_fields"]
        start, end = select_fields[0], select_fields[-1] + 1
        columns = [column[0] for column in compiler.select]
        compiled = _Compiled(
            sql=sql,
            params=slots,
            needs_transaction=queryset.query.select_for_update,
            model=klass_info["model"],
            init_list=[column.target.attname for column in columns[start:end]],
            fields_start=start,
            fields_end=end,
            related_populators=get_related_populators(klass_info, compiler.select, using),
            annotation_col_map=compiler.annotation_col_map or {},
            converters=list(compiler.get_converters(columns[: compiler.col_count]).items()),
        )
        self._compiled[using] = compiled
        return compiled
