"""Console for members: the member list and page (read-only points ledger), manual points adjustments,
and member API tokens."""

import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from infra.errors import LoyaltyError
from infra.paginator import EstimatedCountPaginator
from members.admin.imports import MemberImportExportMixin
from members.console import (
    ConsoleHistoryAdmin,
    ConsoleModelAdmin,
    ConsoleTabularInline,
    ScopedRelatedFieldListFilter,
    StoreScopedAdminMixin,
    member_exact_lookup_q,
    member_partial_lookup_q,
    visitors_admit,
)
from members.errors import InvalidPhone
from members.formats import birthday_problem, normalize_phone
from members.models import Member, MemberToken, PointsEntry
from members.services.ledger import points_adjust
from members.services.membership import consents_stamp, entry_tier, member_create
from members.services.tokens import member_token_revoke

LEDGER_INLINE_ROWS = 50


def mask_phone(phone):
    """Return a phone with its middle digits hidden (+852****4567), for lists a clerk can glance at."""
    if not phone:
        return ""
    return f"{phone[:4]}****{phone[-4:]}" if len(phone) > 8 else "****" + phone[-4:]


class RecentEntriesFormSet(BaseInlineFormSet):
    """Show only the latest entries on the member page; the full ledger is a link away."""

    def get_queryset(self):
        if not hasattr(self, "_recent"):
            self._recent = super().get_queryset()[:LEDGER_INLINE_ROWS]
        return self._recent


class PointsEntryInline(ConsoleTabularInline):
    """The member's points ledger, read-only: ledgers are append-only and corrected by new entries."""

    model = PointsEntry
    formset = RecentEntriesFormSet
    fk_name = "member"
    fields = ("created_at", "kind", "delta", "balance_after", "reason_shown", "created_by")
    readonly_fields = fields
    ordering = ("-created_at", "-pk")
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name_plural = _("Points ledger (latest entries)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MemberAdminForm(forms.ModelForm):
    class Meta:
        model = Member
        fields = (
            "name",
            "phone",
            "email",
            "gender",
            "birthday",
            "locale",
            "status",
            "tier",
            "home_store",
            "tags",
            "join_source",
            "joined_at",
            "consent_marketing",
            "consent_sms",
            "consent_email",
            "consent_wechat",
        )

    def clean_birthday(self):
        birthday = self.cleaned_data.get("birthday")
        problem = birthday and birthday_problem(birthday, today=timezone.localdate())
        if problem:
            raise forms.ValidationError(problem, code="birthday")
        return birthday

    def clean_phone(self):
        phone = self.cleaned_data.get("phone")
        if not phone:
            return None
        try:
            return normalize_phone(phone)
        except InvalidPhone as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from None


class AdjustPointsForm(forms.Form):
    points = forms.IntegerField(
        label=_("points"),
        help_text=_("Positive to add points, negative to remove them."),
        min_value=-(10**7),
        max_value=10**7,
    )
    reason = forms.CharField(label=_("reason"), max_length=255, help_text=_("Required; kept on the ledger entry."))
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def clean_points(self):
        points = self.cleaned_data["points"]
        if points == 0:
            raise forms.ValidationError(_("Enter a number of points other than zero."), code="zero")
        return points


@admin.register(Member)
class MemberAdmin(MemberImportExportMixin, StoreScopedAdminMixin, ConsoleHistoryAdmin):
    # Tier, status and balances move only through services (tier history, ledgers): never by reverting a form.
    history_revert_allowed = False
    form = MemberAdminForm
    store_scope_field = "home_store"
    store_scope_objects_brand_wide = True
    list_display = (
        "member_number",
        "name",
        "masked_phone",
        "tier",
        "home_store",
        "status",
        "points_balance",
        "joined_at",
    )
    list_select_related = ("tier", "home_store")
    list_filter = (
        "tier",
        ("home_store", ScopedRelatedFieldListFilter),
        "tags",
        "join_source",
        "status",
    )
    # Searched by get_search_results below (indexes only); search_fields just turns the search box on.
    search_fields = ("member_number",)
    search_help_text = _(
        "An exact phone (+852… or 8 digits), member number or card code finds a member of any store; "
        "the start of a member number or phone (4 digits or more) or of a name searches your store's members."
    )
    ordering = ("-joined_at", "-pk")  # the index member_joined serves it (members 0017)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    filter_horizontal = ("tags",)
    inlines = (PointsEntryInline,)
    actions = ("adjust_points_action",)
    readonly_fields = (
        "member_page_link",
        "member_number",
        "points_balance",
        "points_debt",
        "points_pending",
        "purchase_count",
        "total_spend",
        "first_purchase_at",
        "last_purchase_at",
        "wechat_openid",
        "wechat_unionid",
        "consent_updated_at",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (
            None,
            {"fields": ("member_page_link", "member_number", "name", "phone", "email", "gender", "birthday", "locale")},
        ),
        (_("Membership"), {"fields": ("status", "tier", "home_store", "tags", "join_source", "joined_at")}),
        (_("Points"), {"fields": ("points_balance", "points_debt", "points_pending", "points_links")}),
        (_("Purchases"), {"fields": ("purchase_count", "total_spend", "first_purchase_at", "last_purchase_at")}),
        (
            _("Consents"),
            {"fields": ("consent_marketing", "consent_sms", "consent_email", "consent_wechat", "consent_updated_at")},
        ),
        (_("WeChat"), {"classes": ("collapse",), "fields": ("wechat_openid", "wechat_unionid")}),
        (_("Record"), {"classes": ("collapse",), "fields": ("created_at", "updated_at")}),
    )

    @admin.display(description=_("phone"), ordering="phone")
    def masked_phone(self, obj):
        return mask_phone(obj.phone)

    @admin.display(description=_("member page"))
    def member_page_link(self, obj):
        url = reverse("admin:console_member_360", args=[obj.pk])
        return format_html('<a id="member-360-link" href="{}">{}</a>', url, _("Open Member 360"))

    @admin.display(description=_("points ledger"))
    def ledger_link(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        url = reverse("admin:members_pointsentry_changelist") + f"?q={obj.member_number}"
        return format_html('<a href="{}">{}</a>', url, _("Full points ledger"))

    @admin.display(description=_("points ledger"))
    def ledger_and_adjust_links(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        url = reverse("admin:members_member_adjust_points", args=[obj.pk])
        return format_html(
            '{} &nbsp; <a class="button" id="adjust-points-link" href="{}">{}</a>',
            self.ledger_link(obj),
            url,
            _("Adjust points"),
        )

    def _links_field(self, request, obj):
        if obj is not None and self.has_adjust_points_permission(request, obj):
            return "ledger_and_adjust_links"
        return "ledger_link"

    def get_inline_instances(self, request, obj=None):
        # A member of another store opens read-only for the till's lookup; their ledgers and tier history stay with
        # their store, as on the ledger lists, the history page and the member's 360 page.
        if obj is not None and not self.is_in_store_scope(request, obj):
            return []
        return super().get_inline_instances(request, obj)

    def get_readonly_fields(self, request, obj=None):
        fields = (*super().get_readonly_fields(request, obj), self._links_field(request, obj))
        # Once a member exists, tier changes go through the audited override (tier history), not this form.
        return (*fields, "tier") if obj is not None else fields

    def get_fieldsets(self, request, obj=None):
        links = self._links_field(request, obj)
        # Member 360 (console/member_360) opens for members of the staff member's store scope only.
        in_scope = obj is not None and obj.pk is not None and self.is_in_store_scope(request, obj)
        hidden = set() if in_scope else {"member_page_link"}
        return tuple(
            (
                name,
                {
                    **options,
                    "fields": tuple(links if f == "points_links" else f for f in options["fields"] if f not in hidden),
                },
            )
            for name, options in super().get_fieldsets(request, obj)
        )

    def get_exact_lookup_q(self, request, search_term):
        return member_exact_lookup_q(search_term)

    def get_search_results(self, request, queryset, search_term):
        """An exact identifier finds its member brand-wide; otherwise a prefix of a number, phone or name, in scope.

        Each is an index lookup (the unique indexes of phone and member number, which also serve their prefixes, and
        the name's prefix index): Django's default search, LIKE '%term%' over several columns, read every member at
        each keystroke.
        """
        if not search_term.strip():
            return queryset, False
        exact = self.get_exact_lookup_q(request, search_term)
        if exact is not None:
            found_ids = list(self.unscoped_queryset(request).filter(exact).values_list("pk", flat=True)[:20])
            if found_ids:
                visitors_admit(request, found_ids)  # a visitor of another store opens for this session
                return self.unscoped_queryset(request).filter(pk__in=found_ids), False
        partial = member_partial_lookup_q(search_term)
        if partial is None:
            return queryset.none(), False
        return queryset.filter(partial), False

    def save_model(self, request, obj, form, change):
        if change:
            consents_stamp(obj, form.changed_data, now=timezone.now())
            super().save_model(request, obj, form, change)
            return
        now = timezone.now()
        if obj.status == Member.Status.ACTIVE:
            obj.joined_at = obj.joined_at or now
            obj.join_source = obj.join_source or Member.JoinSource.CONSOLE
            obj.tier = obj.tier or entry_tier()
        fields = {
            field.name: getattr(obj, field.name)
            for field in Member._meta.concrete_fields
            if field.editable and not field.primary_key and field.name in form.cleaned_data
        }
        fields.update(joined_at=obj.joined_at, join_source=obj.join_source, tier=obj.tier)
        created = member_create(now=now, **fields)
        # The form's instance becomes the created row, so the admin saves tags and logs on it.
        obj.pk = created.pk
        obj.member_number = created.member_number
        obj.created_at = created.created_at
        obj._state.adding = False
        obj._state.db = created._state.db

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        """The member's form, with a way to Member 360 that keeps the member list's filters (its link back)."""
        if obj is not None and obj.pk is not None and self.is_in_store_scope(request, obj):
            context["member_360_url"] = reverse("admin:console_member_360", args=[obj.pk])
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    # -- manual points adjustments ------------------------------------------------------------

    def has_adjust_points_permission(self, request, obj=None):
        if not request.user.has_perm("members.adjust_points"):
            return False
        # Members of another store can be looked up brand-wide but are adjusted by their own store.
        return obj is None or self.is_in_store_scope(request, obj)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/adjust-points/",
                self.admin_site.admin_view(self.adjust_points_view),
                name="{}_{}_adjust_points".format(*info),
            ),
            *super().get_urls(),
        ]

    @admin.action(description=_("Adjust points of the selected member"), permissions=["adjust_points"])
    def adjust_points_action(self, request, queryset):
        member_ids = list(queryset.values_list("pk", flat=True)[:2])
        if len(member_ids) != 1:
            self.message_user(request, _("Select exactly one member to adjust points."), messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:members_member_adjust_points", args=[member_ids[0]]))

    def adjust_points_view(self, request, object_id):
        member = self.get_object(request, unquote(object_id))
        if member is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_adjust_points_permission(request, member):
            raise PermissionDenied
        change_url = reverse("admin:members_member_change", args=[member.pk])
        if request.method == "POST":
            form = AdjustPointsForm(request.POST)
            if form.is_valid():
                try:
                    entry = points_adjust(
                        member_id=member.pk,
                        points=form.cleaned_data["points"],
                        reason=form.cleaned_data["reason"],
                        created_by=request.user,
                        idempotency_key=f"console:adjust:{form.cleaned_data['idempotency_key']}",
                        now=timezone.now(),
                    )
                except LoyaltyError as exc:
                    self.message_user(request, exc.message, messages.ERROR)
                else:
                    self.message_user(
                        request,
                        _("Points adjusted by %(delta)+d for %(member)s; the balance is now %(balance)d.")
                        % {"delta": entry.delta, "member": member, "balance": entry.balance_after},
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(change_url)
        else:
            form = AdjustPointsForm(initial={"idempotency_key": uuid.uuid4().hex})
        context = {
            **self.admin_site.each_context(request),
            "title": _("Adjust points"),
            "subtitle": str(member),
            "opts": self.opts,
            "original": member,
            "form": form,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/members/adjust_points.html", context)


@admin.register(MemberToken)
class MemberTokenAdmin(StoreScopedAdminMixin, ConsoleModelAdmin):
    """Member API tokens: listed and revocable, never created or shown here (only hashes are stored)."""

    store_scope_field = "member__home_store"
    list_display = ("member", "user_agent", "created_at", "last_used_at", "expires_at", "revoked_at")
    list_select_related = ("member",)
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("=member__member_number", "=member__phone")
    fields = ("member", "user_agent", "created_at", "last_used_at", "expires_at", "revoked_at")
    readonly_fields = fields
    ordering = ("-created_at",)
    show_full_result_count = False
    actions = ("revoke_tokens",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_revoke_permission(self, request):
        return request.user.has_perm("members.change_membertoken")

    @admin.action(description=_("Revoke the selected tokens"), permissions=["revoke"])
    def revoke_tokens(self, request, queryset):
        now = timezone.now()
        token_ids = list(queryset.filter(revoked_at__isnull=True).values_list("pk", flat=True))
        for token_id in token_ids:
            member_token_revoke(token_id=token_id, now=now)
        self.message_user(request, _("%(count)d tokens revoked.") % {"count": len(token_ids)}, messages.SUCCESS)
