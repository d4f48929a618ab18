"""The audit log's reads: every manual change of money-like state, tiers, consent, programme settings and staff
permissions, newest first, joined from where each change is already recorded (nothing is copied):

- `history:<model>`, every model with django-simple-history (settings, policies, rules, rewards, coupons, members'
  profiles and consents, stores, staff accounts and roles: `console.HistoricalUser` and `HistoricalGroup`): every
  version. Who: `history_user` (empty: a job, an import without a user, or the member in the mini program).
  Store: a member's version belongs to the member's home store in that version; a store's to that store; a staff
  account's, a segment's, a webhook's to its `store`; other models are brand-wide.
- `points` and `stored_value`, the ledgers: the entries made by staff (`created_by` set), with their reason.
  Store: the store of the staff member who made the entry (where the change was made, which that store's manager
  answers for), not the member's home store: an entry holds no store, and reaching the member's would walk every
  staff entry of the brand for a store with few of them. A change by staff without a store (head office) is
  brand-wide. Every change of one member is found with `?member=`, for staff allowed to see all stores.
- `tier`, tier history: the moves made by staff (overrides). Store: as the ledgers, the staff member's store.
- `consent`, `campaigns.ConsentRecord`: every withdrawal (unsubscribe link or reply), made by the member.
  Store: the member's home store.

Brand-wide rows (programme settings, tiers, policies, roles) belong to no store: staff limited to a store do not see
them. Before and after: a ledger row carries them (balance before and after its amount); a history row is diffed
with the object's previous version (`diff_against`), only for the rows of the page shown.

Built for size: each source answers one bounded query, `ORDER BY date DESC, key DESC LIMIT n + 1` under the
page's keyset cursor (an index on the date serves it), with every filter pushed into it; the sources' answers are
merged in Python. The order of the log is (date, source key, row key), descending, so a cursor is exact across
sources and a page never costs an OFFSET. A page costs one query per source, then, for the sources on the page, one
query for their rows and (history) two for the previous versions.

Adding a source (campaign launches when the campaigns engine records who launched one): a model with
django-simple-history joins by itself; anything else is an `EntrySource` appended to `ENTRY_SOURCES` with its date
field, staff field and store path, and a `describe` that says what changed.
"""

from __future__ import annotations

import heapq
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from django.db import models
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from simple_history.models import registered_models
from simple_history.utils import get_m2m_reverse_field_name

from campaigns.models import ConsentRecord
from infra.translation import translated_fields
from members.formats import is_ascii_digits
from members.models import Member, PointsEntry, Store, StoredValueEntry, TierHistory, User

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class AuditFilters:
    """What the log is narrowed to. `store_id` is forced to a store's staff's own store by the view."""

    staff_id: int | None = None
    store_id: int | None = None
    source: str | None = None  # a source key (the object type)
    object_id: str | None = None  # the object's key within that source (with `source` only)
    member_id: int | None = None
    # The staff accounts of `store_id`, read once per page (audit_log_page) and passed to the ledgers' queries as
    # literal keys: PostgreSQL then plans with the staff members' own figures instead of walking every staff entry.
    store_staff_ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class AuditCursor:
    """The last row shown: the next page holds the rows strictly after it in the log's order."""

    at: datetime
    source: str
    pk: int

    def encode(self) -> str:
        return f"{self.at.isoformat()}~{self.source}~{self.pk}"

    @classmethod
    def decode(cls, text: str | None) -> AuditCursor | None:
        """Return the cursor a page link carries, or None for a missing or malformed one (the first page)."""
        if not text:
            return None
        parts = text.split("~")
        if len(parts) != 3 or not is_ascii_digits(parts[2]) or len(parts[2]) > 18:
            return None
        at = parse_datetime(parts[0])
        if at is None or timezone.is_naive(at):
            return None
        return cls(at=at, source=parts[1], pk=int(parts[2]))


@dataclass(frozen=True)
class AuditChange:
    field: str
    before: str
    after: str


@dataclass
class AuditRow:
    at: datetime
    source: str
    pk: int
    object_type: str
    object_id: str
    object_repr: str
    action: str
    staff_id: int | None = None
    staff: str = ""
    member_id: int | None = None
    member_number: str = ""
    reason: str = ""
    changes: list[AuditChange] = field(default_factory=list)
    object_model: str = ""  # "app_label.model_name" of the object, for a link to it

    @property
    def cursor(self) -> AuditCursor:
        return AuditCursor(at=self.at, source=self.source, pk=self.pk)


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    next_cursor: AuditCursor | None


def _text(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, (dict, list)):  # a JSON field: a segment's rules, a schedule
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def _hashable(value) -> bool:
    return not isinstance(value, (dict, list))


class Source:
    """One place changes are recorded. Subclasses give the filtered queryset and turn page rows into AuditRows."""

    key: str
    label: str
    date_field: str
    pk_field: str

    def queryset(self, filters: AuditFilters) -> models.QuerySet | None:
        """The source's rows under the filters, or None when the filters exclude the whole source."""
        raise NotImplementedError

    def rows(self, pks: list[int]) -> list[AuditRow]:
        raise NotImplementedError

    def keys(self, filters: AuditFilters, cursor: AuditCursor | None, limit: int) -> list[tuple[datetime, str, int]]:
        """The (date, source, key) of the first `limit` rows after the cursor: one indexed, bounded query."""
        queryset = self.queryset(filters)
        if queryset is None:
            return []
        date, pk = self.date_field, self.pk_field
        if cursor is not None:
            # `date <= t` first, so the date index bounds the scan; the tie-break on the key only within t.
            queryset = queryset.filter(**{f"{date}__lte": cursor.at})
            if self.key > cursor.source:
                queryset = queryset.filter(**{f"{date}__lt": cursor.at})
            elif self.key == cursor.source:
                queryset = queryset.filter(Q(**{f"{date}__lt": cursor.at}) | Q(**{f"{pk}__lt": cursor.pk}))
        found = queryset.order_by(f"-{date}", f"-{pk}").values_list(date, pk)[:limit]
        return [(at, self.key, key) for at, key in found]


class HistorySource(Source):
    """The versions django-simple-history records of one model."""

    date_field = "history_date"
    pk_field = "history_id"
    ACTIONS = {"+": gettext_lazy("Created"), "~": gettext_lazy("Changed"), "-": gettext_lazy("Deleted")}

    def __init__(self, model):
        self.model = model
        self.history = getattr(model, model._meta.simple_history_manager_attribute).model
        self.key = f"history:{model._meta.label_lower}"
        self.label = str(model._meta.verbose_name).capitalize()
        self.store_field = self._store_field(model)
        # A translated field's own column holds whichever language was active at the save (infra.translation): its
        # languages' columns ("name [zh-hant]") say what changed; the original column would repeat one of them.
        self.untracked = set(translated_fields(model))

    @staticmethod
    def _store_field(model):
        """The history row's column naming the store its object belongs to (see the module's table), or None."""
        if model is Member:
            return "home_store_id"
        if model is Store:
            return "id"
        try:
            store = model._meta.get_field("store")
        except Exception:  # noqa: BLE001 - FieldDoesNotExist: a brand-wide model
            return None
        return "store_id" if getattr(store, "related_model", None) is Store else None

    def queryset(self, filters):
        queryset = self.history._default_manager.all()
        if filters.store_id is not None:
            if self.store_field is None:
                return None
            queryset = queryset.filter(**{self.store_field: filters.store_id})
        if filters.member_id is not None:
            if self.model is not Member:
                return None
            queryset = queryset.filter(id=filters.member_id)
        if filters.staff_id is not None:
            queryset = queryset.filter(history_user_id=filters.staff_id)
        if filters.object_id is not None:
            queryset = queryset.filter(id=filters.object_id)
        return queryset

    def rows(self, pks):
        manager = self.history._default_manager
        earlier = manager.filter(id=OuterRef("id")).filter(
            Q(history_date__lt=OuterRef("history_date"))
            | Q(history_date=OuterRef("history_date"), history_id__lt=OuterRef("history_id"))
        )
        versions = list(
            manager.filter(history_id__in=pks)
            .select_related("history_user")
            .annotate(previous_id=Subquery(earlier.order_by("-history_date", "-history_id").values("history_id")[:1]))
        )
        previous = manager.in_bulk([v.previous_id for v in versions if v.previous_id is not None])
        related = self._related_ids([*pks, *previous])
        resolver = _Resolver()
        rows = []
        for version in versions:
            changes = self._changes(version, previous.get(version.previous_id), related, resolver)
            user = version.history_user
            rows.append(
                AuditRow(
                    at=version.history_date,
                    source=self.key,
                    pk=version.history_id,
                    object_type=self.label,
                    object_id=str(version.id),
                    object_repr=self._repr(version),
                    object_model=self.model._meta.label_lower,
                    action=str(self.ACTIONS.get(version.history_type, version.history_type)),
                    staff_id=version.history_user_id,
                    staff=user.get_username() if user is not None else "",
                    member_id=version.id if self.model is Member else None,
                    member_number=getattr(version, "member_number", "") if self.model is Member else "",
                    reason=version.history_change_reason or "",
                    changes=changes,
                )
            )
        resolver.resolve()
        return rows

    def _related_ids(self, history_ids):
        """{(version, many-to-many field name): sorted related ids} for these versions: one query per field.

        simple-history's diff_against reads them with two queries per field and version; a page reads them at once.
        """
        found = defaultdict(list)
        for m2m_field in self.history._history_m2m_fields:
            rows_model = getattr(self.history, m2m_field.name).model  # the rows each version copied
            column = f"{get_m2m_reverse_field_name(m2m_field)}_id"
            rows = rows_model._default_manager.filter(history_id__in=history_ids).values_list("history_id", column)
            for history_id, related_id in rows:
                found[(history_id, m2m_field.name)].append(related_id)
        return {key: sorted(ids) for key, ids in found.items()}

    def _changes(self, version, previous, related, resolver):
        """What changed against the previous version; a creation lists what was set, a deletion what was lost."""
        m2m_names = [m2m_field.name for m2m_field in self.history._history_m2m_fields]
        if previous is not None and version.history_type != "-":
            delta = version.diff_against(previous, excluded_fields=[*m2m_names, *self.untracked])
            changes = [resolver.change(self.history, c.field, c.old, c.new) for c in delta.changes]
            for name in m2m_names:
                old = related.get((previous.history_id, name), [])
                new = related.get((version.history_id, name), [])
                if old != new:
                    changes.append(resolver.related_change(self.model, name, old, new))
            return changes
        changes = []
        for tracked in self.history.tracked_fields:
            if tracked.primary_key or tracked.name in self.untracked:
                continue
            value = getattr(version, tracked.attname, None)
            if value in (None, ""):
                continue
            if version.history_type == "-":
                changes.append(resolver.change(self.history, tracked.name, value, None))
            else:
                changes.append(resolver.change(self.history, tracked.name, None, value))
        for name in m2m_names:
            ids = related.get((version.history_id, name), [])
            if ids:
                gone = version.history_type == "-"
                changes.append(resolver.related_change(self.model, name, ids if gone else [], [] if gone else ids))
        return changes

    def _repr(self, version) -> str:
        """The object as it was, named by its own __str__ (from the version's columns, without a query)."""
        values = {tracked.attname: getattr(version, tracked.attname) for tracked in self.history.tracked_fields}
        try:
            return str(self.model(**values))
        except Exception:  # noqa: BLE001 - a __str__ reading a relation: fall back to the key
            return f"#{version.id}"


class _Resolver:
    """Turn a page's raw values (foreign keys, many-to-many rows, choices) into names, with one query per model."""

    def __init__(self):
        self.pending = defaultdict(list)  # related model -> [(change dict, side, ids)]

    def related_change(self, model, name, old_ids, new_ids):
        """A many-to-many field's change (the related objects' ids before and after)."""
        model_field = model._meta.get_field(name)
        slot = {"field": str(model_field.verbose_name), "before": old_ids, "after": new_ids}
        for side in ("before", "after"):
            self.pending[model_field.related_model].append((slot, side, slot[side]))
        return slot

    def change(self, history_model, name, old, new):
        model_field = history_model._meta.get_field(name)
        label = str(getattr(model_field, "verbose_name", name))
        slot = {"field": label, "before": old, "after": new}
        if model_field.is_relation and model_field.related_model is not None:
            for side in ("before", "after"):
                if slot[side] is not None:
                    self.pending[model_field.related_model].append((slot, side, [slot[side]]))
        else:
            choices = dict(model_field.flatchoices) if getattr(model_field, "choices", None) else {}
            for side in ("before", "after"):
                value = slot[side]
                slot[side] = _text(choices.get(value, value) if choices and _hashable(value) else value)
        return slot

    def resolve(self):
        for model, wanted in self.pending.items():
            ids = {pk for _slot, _side, pks in wanted for pk in pks}
            names = {pk: str(obj) for pk, obj in model._default_manager.in_bulk(ids).items()}
            for slot, side, pks in wanted:
                if pks:
                    slot[side] = ", ".join(sorted(names.get(pk, f"#{pk}") for pk in pks))
                else:
                    slot[side] = "—"

    @staticmethod
    def freeze(slot):
        return AuditChange(field=slot["field"], before=_text(slot["before"]), after=_text(slot["after"]))


@dataclass(frozen=True)
class EntrySource(Source):
    """Rows of an append-only record that says who made each one (ledgers, tier moves, consent records)."""

    key: str
    label: str
    model: type[models.Model]
    date_field: str
    describe: Callable[[models.Model], tuple[str, list[AuditChange], str]]  # (action, changes, reason)
    staff_field: str | None = "created_by"  # None: made by the member, not by staff
    store_path: str | None = None  # None: the store of the staff member who made the row (see the module's docstring)
    base: Q = Q()
    pk_field: str = "id"

    def queryset(self, filters):
        queryset = self.model._default_manager.filter(self.base)
        if self.staff_field is not None:
            queryset = queryset.filter(**{f"{self.staff_field}__isnull": False})
        if filters.staff_id is not None:
            if self.staff_field is None:
                return None
            queryset = queryset.filter(**{f"{self.staff_field}_id": filters.staff_id})
        if filters.store_id is not None:
            if self.store_path is not None:
                queryset = queryset.filter(**{self.store_path: filters.store_id})
            elif not filters.store_staff_ids:
                return None
            else:
                queryset = queryset.filter(**{f"{self.staff_field}_id__in": filters.store_staff_ids})
        if filters.member_id is not None:
            queryset = queryset.filter(member_id=filters.member_id)
        if filters.object_id is not None:
            queryset = queryset.filter(pk=filters.object_id)
        return queryset

    def rows(self, pks):
        related = ["member"] + ([self.staff_field] if self.staff_field else [])
        rows = []
        for entry in self.model._default_manager.filter(pk__in=pks).select_related(*related):
            action, changes, reason = self.describe(entry)
            staff = getattr(entry, self.staff_field) if self.staff_field else None
            member = entry.member
            rows.append(
                AuditRow(
                    at=getattr(entry, self.date_field),
                    source=self.key,
                    pk=entry.pk,
                    object_type=self.label,
                    object_id=str(entry.pk),
                    object_repr=member.member_number if member is not None else getattr(entry, "member_number", ""),
                    object_model=self.model._meta.label_lower,
                    action=action,
                    staff_id=staff.pk if staff is not None else None,
                    staff=staff.get_username() if staff is not None else "",
                    member_id=entry.member_id,
                    member_number=member.member_number if member is not None else "",
                    reason=reason,
                    changes=changes,
                )
            )
        return rows


def _points(entry):
    after = entry.balance_after - entry.debt_after  # what the member has: the balance less any debt
    return (
        f"{entry.get_kind_display()} {entry.delta:+d}",
        [AuditChange(field=_("Points (balance less debt)"), before=str(after - entry.delta), after=str(after))],
        entry.reason_shown,
    )


def _stored_value(entry):
    before = entry.balance_after - entry.amount
    return (
        f"{entry.get_kind_display()} {entry.amount:+f}",
        [AuditChange(field=_("Stored value"), before=f"{before:f}", after=f"{entry.balance_after:f}")],
        entry.reason_shown,
    )


def _tier(entry):
    changes = [
        AuditChange(
            field=_("Tier"),
            before=str(entry.old_tier) if entry.old_tier_id else "—",
            after=str(entry.new_tier) if entry.new_tier_id else "—",
        )
    ]
    if entry.override_until is not None:
        changes.append(AuditChange(field=_("Set by hand until"), before="—", after=_text(entry.override_until)))
    return entry.get_reason_display(), changes, entry.note


def _consent(record):
    channel = record.get_channel_display()
    consented = record.consented
    return (
        _("Consent withdrawn") if not record.consented else _("Consent given"),
        [AuditChange(field=_("Consent: %(channel)s") % {"channel": channel}, before="—", after=_text(consented))],
        record.get_source_display(),
    )


ENTRY_SOURCES: list[EntrySource] = [
    EntrySource(
        key="points", label=gettext_lazy("Points ledger"), model=PointsEntry, date_field="created_at",
        describe=_points,
    ),
    EntrySource(
        key="stored_value", label=gettext_lazy("Stored value"), model=StoredValueEntry, date_field="created_at",
        describe=_stored_value,
    ),
    EntrySource(
        key="tier", label=gettext_lazy("Tier changes"), model=TierHistory, date_field="created_at", describe=_tier,
    ),
    EntrySource(
        key="consent", label=gettext_lazy("Consent"), model=ConsentRecord, date_field="recorded_at",
        describe=_consent, staff_field=None, store_path="member__home_store_id",
    ),
]  # fmt: skip


def audit_sources() -> list[Source]:
    """Every source of the log: the ledgers and records, then each model with history, in key order."""
    history = [
        HistorySource(model)
        for model in registered_models.values()
        if hasattr(model._meta, "simple_history_manager_attribute")  # not the many-to-many tables' histories
    ]
    return sorted([*ENTRY_SOURCES, *history], key=lambda source: source.key)


def audit_source_choices() -> list[tuple[str, str]]:
    """(key, label) of each source, for the object-type filter."""
    return sorted(((source.key, str(source.label)) for source in audit_sources()), key=lambda choice: choice[1])


def audit_log_page(*, filters: AuditFilters, cursor: AuditCursor | None = None, limit: int = PAGE_SIZE) -> AuditPage:
    """Return the rows of one page of the log, newest first, after `cursor` (None: the first page).

    Each source gives at most `limit + 1` keys; the merge keeps the first `limit + 1` of all of them, so whether a
    next page exists is known without counting.
    """
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    if filters.store_id is not None and filters.store_staff_ids is None:
        staff_ids = User.objects.filter(store_id=filters.store_id).order_by("pk").values_list("pk", flat=True)
        filters = replace(filters, store_staff_ids=tuple(staff_ids))
    sources = {source.key: source for source in audit_sources()}
    if filters.source is not None:
        sources = {filters.source: sources[filters.source]} if filters.source in sources else {}
    elif filters.object_id is not None:
        sources = {}  # an object's key means nothing without its type
    keys = heapq.nlargest(
        limit + 1, (key for source in sources.values() for key in source.keys(filters, cursor, limit + 1))
    )
    shown = keys[:limit]
    by_source = defaultdict(list)
    for _at, source_key, pk in shown:
        by_source[source_key].append(pk)
    found = {}
    for source_key, pks in by_source.items():
        for row in sources[source_key].rows(pks):
            row.changes = [
                change if isinstance(change, AuditChange) else _Resolver.freeze(change) for change in row.changes
            ]
            found[(source_key, row.pk)] = row
    rows = [found[(source_key, pk)] for _at, source_key, pk in shown if (source_key, pk) in found]
    next_cursor = rows[-1].cursor if len(keys) > limit and rows else None
    return AuditPage(rows=rows, next_cursor=next_cursor)


def audit_log_rows(*, filters: AuditFilters, chunk: int = MAX_PAGE_SIZE) -> Iterator[AuditRow]:
    """Every row of the log under the filters, newest first, a page at a time (the CSV export streams it)."""
    cursor = None
    while True:
        page = audit_log_page(filters=filters, cursor=cursor, limit=chunk)
        yield from page.rows
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
