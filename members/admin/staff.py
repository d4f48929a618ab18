"""Console for staff accounts: only superusers and merchant admins manage staff.

A merchant admin who is not a superuser cannot see or edit superusers, nor grant superuser status or
individual permissions (roles are the groups); one limited to a store manages that store's staff.
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from members.console import ConsoleModelAdmin, ScopedRelatedFieldListFilter, StoreScopedAdminMixin
from members.models import Role, User

SUPERUSER_ONLY_FIELDS = frozenset({"is_superuser", "user_permissions"})


def can_manage_staff(request):
    user = request.user
    if not (user.is_active and user.is_staff):
        return False
    if user.is_superuser:
        return True
    cached = getattr(request, "_can_manage_staff", None)
    if cached is None:
        cached = request._can_manage_staff = user.groups.filter(name=Role.MERCHANT_ADMIN).exists()
    return cached


@admin.register(User)
class StaffUserAdmin(StoreScopedAdminMixin, UserAdmin, ConsoleModelAdmin):
    # The console theme's versions of Django's user forms (the same fields and checks, styled widgets).
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    store_scope_field = "store"
    list_display = ("username", "first_name", "last_name", "store", "roles", "is_active", "is_superuser", "last_login")
    list_select_related = ("store",)
    list_filter = (("store", ScopedRelatedFieldListFilter), "groups", "is_active", "is_superuser")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "email")}),
        (_("Store and role"), {"fields": ("store", "groups")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "user_permissions")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "usable_password", "password1", "password2", "store", "groups", "is_staff"),
            },
        ),
    )

    def get_queryset(self, request):
        queryset = super().get_queryset(request).prefetch_related("groups")
        if not request.user.is_superuser:
            queryset = queryset.filter(is_superuser=False)
        return queryset

    @admin.display(description=_("roles"))
    def roles(self, obj):
        # the built-in roles by their names in the staff member's language, not their codes
        return ", ".join(sorted(str(Role(group.name).label) if group.name in Role.values else group.name
                                for group in obj.groups.all()))  # fmt: skip

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        return tuple(
            (name, {**options, "fields": tuple(f for f in options["fields"] if f not in SUPERUSER_ONLY_FIELDS)})
            for name, options in fieldsets
        )

    def get_changeform_initial_data(self, request):
        return {"is_staff": True, **super().get_changeform_initial_data(request)}

    def has_module_permission(self, request):
        return can_manage_staff(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return can_manage_staff(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return can_manage_staff(request) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return can_manage_staff(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return can_manage_staff(request) and super().has_delete_permission(request, obj)
