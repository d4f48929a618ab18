"""The audit log's pages: the log (filters, keyset pages) and its CSV export. Reads come from console.audit_log."""

from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from console.audit_log import (
    AuditCursor,
    AuditFilters,
    audit_log_page,
    audit_log_rows,
    audit_source_choices,
)
from infra.csv_exports import EXCEL_BOM, ExportWriter
from members.console import staff_store_id
from members.formats import is_ascii_digits
from members.models import Member, Store, User

AUDIT_LOG_PERMISSION = "console.view_audit_log"
FILTER_PARAMS = ("staff", "store", "type", "object", "member")


def _number(request, name):
    value = (request.GET.get(name) or "").strip()
    if not value:
        return None
    if not is_ascii_digits(value) or len(value) > 18:
        raise PermissionDenied  # a hand-made address: refused rather than guessed at
    return int(value)


def audit_filters(request) -> AuditFilters:
    """The filters the query string asks for, with a store's staff held to their store (another store: 403)."""
    store_id = _number(request, "store")
    own = staff_store_id(request.user)
    if own is not None:
        if store_id is not None and store_id != own:
            raise PermissionDenied
        store_id = own
    source = (request.GET.get("type") or "").strip() or None
    object_id = _number(request, "object")
    return AuditFilters(
        staff_id=_number(request, "staff"),
        store_id=store_id,
        source=source,
        object_id=str(object_id) if object_id is not None else None,
        member_id=_number(request, "member"),
    )


def _object_url(row):
    app_label, _dot, model_name = row.object_model.partition(".")
    try:
        if row.source.startswith("history:"):
            return reverse(f"admin:{app_label}_{model_name}_history", args=[row.object_id])
        return reverse(f"admin:{app_label}_{model_name}_change", args=[row.object_id])
    except NoReverseMatch:
        return None


def audit_log(request, *, site):
    """The log: newest first, a page at a time (`?after=` is the last row of the page before)."""
    filters = audit_filters(request)
    page = audit_log_page(filters=filters, cursor=AuditCursor.decode(request.GET.get("after")))
    kept = {name: request.GET[name] for name in FILTER_PARAMS if request.GET.get(name)}
    own_store = staff_store_id(request.user)
    staff = User.objects.filter(is_staff=True).order_by("username")
    if own_store is not None:
        staff = staff.filter(store_id=own_store)
    context = {
        **site.each_context(request),
        "title": _("Audit log"),
        "subtitle": None,
        "rows": [(row, _object_url(row)) for row in page.rows],
        "filters": filters,
        "kept": kept,
        "staff_choices": staff.values_list("pk", "username"),
        "store_choices": None if own_store is not None else Store.objects.order_by("name").values_list("pk", "name"),
        "own_store": Store.objects.filter(pk=own_store).first() if own_store is not None else None,
        "type_choices": audit_source_choices(),
        # named only when in the store scope: the filter takes any id, and the header must not turn ids into numbers
        "member": Member.objects.for_staff(request.user).filter(pk=filters.member_id).only("member_number").first()
        if filters.member_id is not None
        else None,
        "next_url": f"?{urlencode({**kept, 'after': page.next_cursor.encode()})}" if page.next_cursor else None,
        "first_url": f"?{urlencode(kept)}" if request.GET.get("after") else None,
        "export_url": f"{reverse('admin:console_audit_log_export')}?{urlencode(kept)}",
    }
    request.current_app = site.name
    return TemplateResponse(request, "console/audit_log.html", context)


def audit_log_export(request, *, site):
    """The filtered log as CSV, one line per changed field, streamed a page at a time."""
    filters = audit_filters(request)
    writer = ExportWriter()

    def lines():
        yield EXCEL_BOM
        yield writer.writerow(
            [_("When"), _("Staff"), _("Action"), _("Type"), _("Object"), _("Object id"), _("Member number"),
             _("Field"), _("Before"), _("After"), _("Reason")]
        )  # fmt: skip
        for row in audit_log_rows(filters=filters):
            start = [timezone.localtime(row.at).isoformat(), row.staff, row.action, row.object_type, row.object_repr,
                     row.object_id, row.member_number]  # fmt: skip
            for change in row.changes or [None]:
                fields = [change.field, change.before, change.after] if change else ["", "", ""]
                yield writer.writerow([*start, *fields, row.reason])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.csv"'
    return response
