"""Console for what the services record: purchases, points entries and member import jobs (all read-only)."""

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from infra.paginator import EstimatedCountPaginator
from members.console import (
    ConsoleModelAdmin,
    ConsoleTabularInline,
    ReadOnlyAdminMixin,
    ScopedRelatedFieldListFilter,
    StoreScopedAdminMixin,
    member_exact_lookup_q,
)
from members.models import MemberImportJob, PointsEntry, Purchase, PurchaseItem

MAX_ERRORS_SHOWN = 500


class PurchaseItemInline(ReadOnlyAdminMixin, ConsoleTabularInline):
    model = PurchaseItem
    fields = ("sku", "name", "category", "quantity", "unit_price", "amount")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdminMixin, StoreScopedAdminMixin, ConsoleModelAdmin):
    """Purchases of the staff member's store. Recording one goes through the services (POS API, checkout)."""

    store_scope_field = "store"
    list_display = (
        "external_id",
        "purchased_at",
        "store",
        "member",
        "channel",
        "payment_method",
        "gross_amount",
        "discount_amount",
        "paid_amount",
        "status",
    )
    list_select_related = ("store", "member")
    list_filter = (("store", ScopedRelatedFieldListFilter), "channel", "payment_method", "status")
    search_fields = ("external_id", "=member__member_number", "=member__phone")
    search_help_text = _("External id, or a member's exact member number or phone (+852…).")
    # Served by (purchased_at, member) for all stores and (store, purchased_at) for one (members 0017).
    ordering = ("-purchased_at", "-pk")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    inlines = (PurchaseItemInline,)
    fieldsets = (
        (None, {"fields": ("store", "channel", "external_id", "purchased_at", "member", "status")}),
        (
            _("Amounts"),
            {
                "fields": (
                    "gross_amount",
                    "discount_amount",
                    "points_value_amount",
                    "stored_value_amount",
                    "paid_amount",
                    "payment_method",
                )
            },
        ),
        (_("Record"), {"fields": ("created_at",)}),
    )
    readonly_fields = (
        "store",
        "channel",
        "external_id",
        "purchased_at",
        "member",
        "status",
        "gross_amount",
        "discount_amount",
        "points_value_amount",
        "stored_value_amount",
        "paid_amount",
        "payment_method",
        "created_at",
    )


@admin.register(PointsEntry)
class PointsEntryAdmin(ReadOnlyAdminMixin, StoreScopedAdminMixin, ConsoleModelAdmin):
    """The points ledger of the staff member's store's members; append-only, so read-only here."""

    store_scope_field = "member__home_store"
    list_display = (
        "created_at",
        "member",
        "kind",
        "delta",
        "balance_after",
        "debt_after",
        "reason_shown",
        "source",
        "created_by",
    )
    list_select_related = ("member", "created_by")
    list_filter = ("kind",)
    # Searched by get_search_results below; search_fields just turns the search box on.
    search_fields = ("=member__member_number",)
    search_help_text = _("A member's exact phone (+852… or 8 digits), member number or card code.")
    # Newest first in the order the ledger was written (its primary key): the busiest table gets no date index
    # for the console (a member's entries by date are read through (member, created_at)).
    ordering = ("-pk",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    fields = (
        "member",
        "kind",
        "delta",
        "balance_after",
        "debt_after",
        "purchase",
        "source",
        "reason_shown",
        "breakdown",
        "idempotency_key",
        "created_by",
        "created_at",
    )
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        """The entries of the member an exact identifier names, through the members' unique indexes and the ledger's
        (member, created_at) index; words of a reason are not searched: no index serves LIKE '%word%' on the
        ledger, the console's largest table."""
        if not search_term.strip():
            return queryset, False
        exact = member_exact_lookup_q(search_term, prefix="member__")
        return (queryset.none() if exact is None else queryset.filter(exact)), False


@admin.register(MemberImportJob)
class MemberImportJobAdmin(ReadOnlyAdminMixin, StoreScopedAdminMixin, ConsoleModelAdmin):
    """Import runs with their progress and row errors; the import itself starts from the member list."""

    store_scope_field = "store"
    list_display = (
        "__str__",
        "status",
        "progress",
        "total_rows",
        "created_count",
        "updated_count",
        "error_count",
        "created_by",
        "created_at",
        "finished_at",
    )
    list_select_related = ("created_by",)
    list_filter = ("status",)
    ordering = ("-created_at", "-pk")
    fields = (
        "status",
        "progress",
        "file",
        "encoding",
        "total_rows",
        "processed_rows",
        "created_count",
        "updated_count",
        "error_count",
        "message",
        "error_list",
        "created_by",
        "created_at",
        "finished_at",
    )
    readonly_fields = fields

    @admin.display(description=_("progress"))
    def progress(self, obj):
        percent = obj.progress_percent
        return format_html('<progress value="{}" max="100">{}%</progress> {}%', percent, percent, percent)

    @admin.display(description=_("row errors"))
    def error_list(self, obj):
        errors = obj.errors or []
        if not errors:
            return obj.errors_retention_note or "—"
        rows = []
        for error in errors[:MAX_ERRORS_SHOWN]:
            if isinstance(error, dict):
                rows.append(
                    (
                        error.get("row", ""),
                        error.get("column", error.get("field", "")),
                        error.get("message", error.get("messages", error.get("error", ""))),
                    )
                )
            else:
                rows.append(("", "", error))
        header = format_html(
            "<thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead>", _("row"), _("column"), _("error")
        )
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        table = format_html("<table>{}<tbody>{}</tbody></table>", header, body)
        if len(errors) > MAX_ERRORS_SHOWN:
            more = _("… and %(count)d more.") % {"count": len(errors) - MAX_ERRORS_SHOWN}
            table = format_html("{}<p>{}</p>", table, more)
        return format_html("{}<p>{}</p>", table, obj.errors_retention_note)
