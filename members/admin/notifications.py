"""Console for member notifications and the outbox: read-only (services write them, campaigns deliver them)."""

from django.contrib import admin
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from members.console import ConsoleModelAdmin, ConsoleTabularInline, ReadOnlyAdminMixin, StoreScopedAdminMixin
from members.models import Notification, OutboxMessage


@admin.display(description=_("last error"))
def _last_error_shown(admin_self, obj):
    return gettext(obj.last_error) if obj.last_error else ""  # the sender's own reasons are kept in English


class OutboxMessageInline(ReadOnlyAdminMixin, ConsoleTabularInline):
    model = OutboxMessage
    fields = ("channel", "status", "attempts", "next_attempt_at", "sent_at", "last_error_shown")
    readonly_fields = fields
    last_error_shown = _last_error_shown
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, StoreScopedAdminMixin, ConsoleModelAdmin):
    """Notifications of the staff member's store's members (by home store)."""

    store_scope_field = "member__home_store"
    list_display = ("created_at", "member", "kind", "title", "locale", "read_at")
    list_select_related = ("member",)
    list_filter = ("kind", ("read_at", admin.EmptyFieldListFilter))
    search_fields = ("=member__member_number", "=member__phone", "dedupe_key")
    search_help_text = _("A member's exact member number or phone (+852…), or a deduplication key.")
    ordering = ("-pk",)
    show_full_result_count = False
    fields = ("member", "kind", "title", "body", "params", "locale", "dedupe_key", "created_at", "read_at")
    readonly_fields = fields
    inlines = (OutboxMessageInline,)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdminMixin, StoreScopedAdminMixin, ConsoleModelAdmin):
    """Messages waiting for (or done with) a channel, for the staff member's store's members."""

    store_scope_field = "notification__member__home_store"
    list_display = ("created_at", "member", "kind", "channel", "status", "attempts", "next_attempt_at", "sent_at")
    list_select_related = ("notification__member",)
    list_filter = ("status", "channel", "notification__kind")
    search_fields = ("=notification__member__member_number", "=notification__member__phone")
    search_help_text = _("A member's exact member number or phone (+852…).")
    ordering = ("-pk",)
    show_full_result_count = False
    fields = (
        "notification",
        "channel",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error_shown",
        "sent_at",
        "created_at",
    )
    readonly_fields = fields
    last_error_shown = _last_error_shown

    @admin.display(description=_("member"), ordering="notification__member")
    def member(self, obj):
        return obj.notification.member

    @admin.display(description=_("kind"), ordering="notification__kind")
    def kind(self, obj):
        return obj.notification.get_kind_display()
