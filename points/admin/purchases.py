"""Checkouts and refunds as the POS posted them: read-only, scoped to the staff member's store."""

from django.contrib import admin

from members.console import ConsoleModelAdmin, ReadOnlyAdminMixin, ScopedRelatedFieldListFilter, StoreScopedAdminMixin
from points.models import (
    PurchaseCheckout,
    PurchaseRefund,
)


@admin.register(PurchaseRefund)
class PurchaseRefundAdmin(ReadOnlyAdminMixin, StoreScopedAdminMixin, ConsoleModelAdmin):
    """Refunds of the staff member's store, as the POS posted them (recorded by the refund service)."""

    store_scope_field = "purchase__store"
    list_display = (
        "external_id",
        "purchase",
        "amount",
        "points_returned",
        "points_reversed",
        "points_pending_cancelled",
        "points_forgiven",
        "points_debt_recorded",
        "created_at",
    )
    list_select_related = ("purchase", "purchase__store")
    list_filter = (("purchase__store", ScopedRelatedFieldListFilter),)
    search_fields = ("external_id", "purchase__external_id")
    ordering = ("-created_at", "-pk")
    show_full_result_count = False
    exclude = ("request_hash",)


@admin.register(PurchaseCheckout)
class PurchaseCheckoutAdmin(ReadOnlyAdminMixin, StoreScopedAdminMixin, ConsoleModelAdmin):
    """What each checkout spent and earned, with the rules that priced it."""

    store_scope_field = "purchase__store"
    list_display = ("purchase", "points_spent", "points_earned", "earn_is_pending", "earn_expires_at", "created_at")
    list_select_related = ("purchase", "purchase__store")
    list_filter = (("purchase__store", ScopedRelatedFieldListFilter), "earn_is_pending")
    search_fields = ("purchase__external_id",)
    ordering = ("-created_at", "-pk")
    show_full_result_count = False
    exclude = ("request_hash", "earn_lot", "spend_entry")
