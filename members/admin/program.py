"""Console for the program's configuration: the settings row, stores (with their POS keys), tiers, tags."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from infra.errors import LoyaltyError
from infra.translation_admin import TranslatedFieldsAdminMixin, TranslatedTabularInline
from members.console import (
    ConsoleHistoryAdmin,
    ConsoleModelAdmin,
    ConsoleTabularInline,
    StoreScopedAdminMixin,
    store_members_q,
)
from members.models import (
    ProgramSettings,
    Store,
    StoreApiKey,
    StoreHoursException,
    StoreOpeningHours,
    StorePhoto,
    Tag,
    Tier,
)
from members.models.stores import WeeklyInterval, opening_hours_check
from members.services.tokens import store_api_key_create


@admin.register(ProgramSettings)
class ProgramSettingsAdmin(TranslatedFieldsAdminMixin, ConsoleHistoryAdmin):
    """The singleton: the list goes straight to the one row; it can't be added twice or deleted."""

    history_revert_allowed = True  # configuration: a revert is an edit by staff who may change it
    list_display = ("program_name",)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not ProgramSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        settings_row = ProgramSettings.objects.only("pk").first()
        if settings_row is None:
            return HttpResponseRedirect(reverse("admin:members_programsettings_add"))
        return HttpResponseRedirect(reverse("admin:members_programsettings_change", args=[settings_row.pk]))


class StoreApiKeyInline(ConsoleTabularInline):
    """POS keys are created by the "create POS key" action (the key is shown once); here they are listed."""

    model = StoreApiKey
    fields = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-created_at",)
    verbose_name_plural = _("POS API keys (created by the “Create a POS API key” action)")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OpeningHoursFormSet(BaseInlineFormSet):
    """The week's intervals are checked together: none may overlap another (past midnight included)."""

    def clean(self):
        super().clean()
        intervals = [
            WeeklyInterval(**{name: form.cleaned_data[name] for name in ("weekday", "opens_at", "closes_at")})
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and all(form.cleaned_data.get(name) is not None for name in ("weekday", "opens_at", "closes_at"))
        ]
        try:
            opening_hours_check(intervals)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None


class StoreOpeningHoursInline(ConsoleTabularInline):
    """The store's weekly hours, edited on the store's page (so in its store scope)."""

    model = StoreOpeningHours
    formset = OpeningHoursFormSet
    fields = ("weekday", "opens_at", "closes_at")
    ordering = ("weekday", "opens_at")
    extra = 0
    verbose_name_plural = _("opening hours (an interval closing at or before its opening time ends the next day)")


class StoreHoursExceptionInline(TranslatedTabularInline, ConsoleTabularInline):
    """Dates with other hours (public holidays, special hours)."""

    model = StoreHoursException
    fields = ("date", "is_closed", "opens_at", "closes_at", "note")
    ordering = ("-date",)
    extra = 0


class StorePhotoInline(TranslatedTabularInline, ConsoleTabularInline):
    model = StorePhoto
    fields = ("image", "position", "caption")
    ordering = ("position", "pk")
    extra = 0


@admin.register(Store)
class StoreAdmin(TranslatedFieldsAdminMixin, StoreScopedAdminMixin, ConsoleHistoryAdmin):
    history_revert_allowed = True  # configuration: a revert is an edit by staff who may change it
    store_scope_field = "pk"
    list_display = ("code", "name", "address", "phone", "live_key_count", "is_active")
    list_filter = ("is_active",)
    search_fields = ("code", "name", "address")
    inlines = (StoreOpeningHoursInline, StoreHoursExceptionInline, StorePhotoInline, StoreApiKeyInline)
    actions = ("create_pos_key",)
    readonly_fields = ("previous_opening_hours",)
    fieldsets = (
        (None, {"fields": ("code", "name", "is_active")}),
        (_("Contact"), {"fields": ("address", "phone", "previous_opening_hours")}),
        (_("Location"), {"fields": ("latitude", "longitude")}),
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(live_key_count=Count("api_keys", filter=Q(api_keys__revoked_at__isnull=True)))
        )

    @admin.display(description=_("live POS keys"), ordering="live_key_count")
    def live_key_count(self, obj):
        return obj.live_key_count

    @admin.action(description=_("Create a POS API key"), permissions=["change"])
    def create_pos_key(self, request, queryset):
        for store in queryset.order_by("code"):
            try:
                _key, raw = store_api_key_create(store_id=store.pk, name=str(_("Created in the console")))
            except LoyaltyError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            self.message_user(
                request,
                _("POS API key for %(store)s: %(key)s — copy it now, it will not be shown again.")
                % {"store": store, "key": raw},
                messages.WARNING,
            )


@admin.register(Tier)
class TierAdmin(TranslatedFieldsAdminMixin, ConsoleHistoryAdmin):
    history_revert_allowed = True  # configuration: a revert is an edit by staff who may change it
    list_display = ("code", "name", "rank", "earn_multiplier")
    ordering = ("rank",)
    search_fields = ("code", "name")


@admin.register(Tag)
class TagAdmin(ConsoleModelAdmin):
    list_display = ("name", "member_count")
    search_fields = ("name",)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(member_count=Count("members", filter=store_members_q(request, "members")))
        )

    @admin.display(description=_("members"), ordering="member_count")
    def member_count(self, obj):
        return obj.member_count
