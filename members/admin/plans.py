"""Console for paid membership plans and the plan (tier) periods members bought or got with a top-up.

Plans are configuration (audited with django-simple-history); subscriptions are a record of payments and are
read-only here: they are written by the purchase API and the top-up service only.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from infra.translation_admin import TranslatedFieldsAdminMixin
from members.console import ConsoleHistoryAdmin, ConsoleModelAdmin, ReadOnlyAdminMixin, StoreScopedAdminMixin
from members.models import MemberPlanSubscription, MembershipPlan


@admin.register(MembershipPlan)
class MembershipPlanAdmin(TranslatedFieldsAdminMixin, ConsoleHistoryAdmin):
    history_revert_allowed = True  # configuration: a revert is an edit by staff who may change it
    list_display = ("name", "tier", "price", "duration_value", "duration_unit", "is_active", "sale_starts_at",
                    "sale_ends_at", "sort_order")  # fmt: skip
    list_select_related = ("tier",)
    list_filter = ("is_active", "tier")
    ordering = ("sort_order", "price", "pk")
    fieldsets = (
        (None, {"fields": ("name", "description", "price", "tier")}),
        (_("Duration"), {"fields": ("duration_value", "duration_unit")}),
        (_("Sale"), {"fields": ("is_active", "sale_starts_at", "sale_ends_at", "sort_order")}),
    )

    def has_delete_permission(self, request, obj=None):
        return False  # sold plans are referenced by subscriptions: deactivate instead


@admin.register(MemberPlanSubscription)
class MemberPlanSubscriptionAdmin(ReadOnlyAdminMixin, StoreScopedAdminMixin, ConsoleModelAdmin):
    """Plan and tier periods (read-only: the purchase API and top-ups write them)."""

    store_scope_field = "member__home_store"
    list_display = ("created_at", "member", "source", "plan", "tier", "price", "starts_at", "ends_at", "provider",
                    "transaction_id", "expiry_processed_at")  # fmt: skip
    list_select_related = ("member", "plan", "tier")
    list_filter = ("source", "plan", "tier")
    search_fields = ("=member__member_number", "=member__phone", "=transaction_id")
    ordering = ("-created_at", "-pk")
    show_full_result_count = False
