"""Console of the outbound webhooks: endpoints (merchant configuration) and the delivery log (read-only). Both are
scoped to the staff member's store: staff limited to a store see their store's endpoints and deliveries, and an
endpoint they make receives their store's events only (one without a store receives every member's)."""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from campaigns.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from members.console import (
    ConsoleHistoryAdmin,
    ConsoleModelAdmin,
    ReadOnlyAdminMixin,
    ScopedRelatedFieldListFilter,
    StoreScopedAdminMixin,
)


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=_("events"), choices=WebhookEvent.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("name", "url", "events", "store", "is_active")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(StoreScopedAdminMixin, ConsoleHistoryAdmin):
    store_scope_field = "store"
    form = WebhookEndpointForm
    list_display = ("name", "url", "store", "is_active", "created_at")
    list_select_related = ("store",)
    list_filter = ("is_active", ("store", ScopedRelatedFieldListFilter))
    readonly_fields = ("secret",)

    def get_fields(self, request, obj=None):
        # The secret is made at creation; the merchant copies it into the receiver from the saved endpoint.
        return (
            ("name", "url", "events", "store", "is_active", "secret")
            if obj
            else ("name", "url", "events", "store", "is_active")
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, StoreScopedAdminMixin, ConsoleModelAdmin):
    store_scope_field = "store"
    list_display = ("created_at", "event", "endpoint", "status", "attempts", "last_status_code", "sent_at")
    list_select_related = ("endpoint",)
    list_filter = ("status", "event")
    search_fields = ("=event_key",)
    ordering = ("-pk",)
    show_full_result_count = False
    fields = (
        "endpoint", "event", "event_key", "payload", "store", "status", "attempts", "next_attempt_at",
        "last_status_code", "last_error", "sent_at", "created_at",
    )  # fmt: skip
    readonly_fields = fields
