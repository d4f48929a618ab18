"""Coupon templates, designed by the merchant: the form, issuing a template to members, its partner code pool and
the per-template report."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from console.reports import coupon_report_figures
from coupons.models import CouponIssueJob, CouponTemplate, PartnerCode
from coupons.pricing import discount_for
from coupons.selectors import redemption_rate
from coupons.services.bulk import coupon_issue_job_create
from coupons.services.claim_hints import claim_hints_clear_on_commit
from coupons.services.partner_codes import partner_codes_import
from infra.csv_uploads.forms import CsvUploadForm, csv_file_field
from infra.errors import LoyaltyError
from infra.translation_admin import TranslatedFieldsAdminMixin
from members.console import (
    ConsoleHistoryAdmin,
    staff_store_id,
)
from members.models import PurchaseChannel, Tag, Tier

ISSUE_PERMISSION = "coupons.add_couponissuejob"
PARTNER_CODE_PERMISSION = "coupons.add_partnercode"
REPORT_ROWS = 200


class CommaSeparatedField(forms.CharField):
    """A list of names typed as `shoes, bags`, stored as a JSON list."""

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(value)
        return value

    def to_python(self, value):
        if isinstance(value, list | tuple):
            return list(value)
        text = super().to_python(value)
        return [part.strip() for part in text.split(",") if part.strip()]


class CouponTemplateForm(forms.ModelForm):
    channels = forms.MultipleChoiceField(
        label=_("channels"), choices=PurchaseChannel.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    categories = CommaSeparatedField(
        label=_("categories"), required=False, help_text=_("Separate with commas. Empty means any category.")
    )
    skus = CommaSeparatedField(
        label=_("SKUs"), required=False, help_text=_("Separate with commas. Empty means any SKU.")
    )

    class Meta:
        model = CouponTemplate
        fields = (
            "name",
            "description",
            "is_active",
            "kind",
            "amount",
            "percent",
            "max_discount",
            "min_spend",
            "gift_description",
            "stores",
            "channels",
            "categories",
            "skus",
            "stacks_with_points",
            "valid_from",
            "valid_until",
            "valid_days",
            "reminder_days",
            "is_claimable",
            "claim_starts_at",
            "claim_ends_at",
            "quota",
            "per_member_limit",
            "audience",
            "tiers",
            "tags",
            "code_prefix",
            "code_length",
            "code_source",
            "refund_policy",
        )


class IssueToMembersForm(CsvUploadForm):
    audience = forms.ChoiceField(label=_("Issue to"), choices=CouponIssueJob.Audience.choices, widget=forms.RadioSelect)
    tier = forms.ModelChoiceField(label=_("tier"), queryset=Tier.objects.order_by("rank"), required=False)
    tag = forms.ModelChoiceField(label=_("tag"), queryset=Tag.objects.order_by("name"), required=False)
    file = csv_file_field(
        label=_("list of members (CSV)"),
        required=False,
        help_text=_("One phone number or member number per line; rows naming no member are reported by number."),
    )

    field_order = ("audience", "tier", "tag", "file", "encoding")

    def clean(self):
        cleaned = super().clean()
        audience = cleaned.get("audience")
        required = {
            CouponIssueJob.Audience.TIER: ("tier", _("Choose a tier.")),
            CouponIssueJob.Audience.TAG: ("tag", _("Choose a tag.")),
            CouponIssueJob.Audience.MEMBER_LIST: ("file", _("Upload a list of members.")),
        }
        if audience in required:
            field, message = required[audience]
            if not cleaned.get(field) and field not in self.errors:
                self.add_error(field, message)
        return cleaned


@admin.register(CouponTemplate)
class CouponTemplateAdmin(TranslatedFieldsAdminMixin, ConsoleHistoryAdmin):
    """Templates are brand-wide; `clean()` refusals (percent above 100, quota below issued, ...) show on the form."""

    history_revert_allowed = False  # the quota and issued count move with the coupons issued
    form = CouponTemplateForm
    list_display = (
        "name",
        "kind",
        "offer",
        "issued",
        "per_member_limit",
        "claim_starts_at",
        "claim_ends_at",
        "is_active",
    )
    list_filter = ("kind", "is_active", "is_claimable", "audience")
    search_fields = ("name",)
    ordering = ("-pk",)
    readonly_fields = ("issued_count", "created_at", "updated_at")
    filter_horizontal = ("stores", "tiers", "tags")
    fieldsets = (
        (None, {"fields": ("name", "description", "is_active")}),
        (_("Discount"), {"fields": ("kind", "amount", "percent", "max_discount", "min_spend", "gift_description")}),
        (_("Where it applies"), {"fields": ("stores", "channels", "categories", "skus", "stacks_with_points")}),
        (_("Validity"), {"fields": ("valid_from", "valid_until", "valid_days", "reminder_days")}),
        (
            _("Claiming and stock"),
            {
                "fields": (
                    "is_claimable",
                    "claim_starts_at",
                    "claim_ends_at",
                    "quota",
                    "issued_count",
                    "per_member_limit",
                )
            },
        ),
        (_("Audience"), {"fields": ("audience", "tiers", "tags")}),
        (_("Codes and refunds"), {"fields": ("code_prefix", "code_length", "code_source", "refund_policy")}),
        (_("Record"), {"fields": ("created_at", "updated_at")}),
    )
    actions = ("issue_to_members", "upload_partner_codes")
    change_list_template = "admin/coupons/coupontemplate/change_list.html"

    # bulk issue, partner codes, report ------------------------------------------------------------------
    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("report/", wrap(self.report_view), name="coupons_coupontemplate_report"),
            path("<int:template_id>/issue/", wrap(self.issue_view), name="coupons_coupontemplate_issue"),
            path(
                "<int:template_id>/partner-codes/",
                wrap(self.partner_codes_view),
                name="coupons_coupontemplate_partner_codes",
            ),
            *super().get_urls(),
        ]

    def has_issue_permission(self, request):
        return request.user.has_perm(ISSUE_PERMISSION)

    def has_partner_codes_permission(self, request):
        return request.user.has_perm(PARTNER_CODE_PERMISSION)

    def _one_selected(self, request, queryset, url_name):
        if queryset.count() != 1:
            self.message_user(request, gettext("Choose exactly one template."), messages.WARNING)
            return None
        return HttpResponseRedirect(reverse(url_name, args=[queryset.get().pk]))

    @admin.action(description=_("Issue to members…"), permissions=("issue",))
    def issue_to_members(self, request, queryset):
        return self._one_selected(request, queryset, "admin:coupons_coupontemplate_issue")

    @admin.action(description=_("Upload partner codes…"), permissions=("partner_codes",))
    def upload_partner_codes(self, request, queryset):
        return self._one_selected(request, queryset, "admin:coupons_coupontemplate_partner_codes")

    def _context(self, request, **extra):
        return {**self.admin_site.each_context(request), "opts": self.opts, **extra}

    def _upload_page(self, request, template, **context):
        """The template's upload page (bulk issue, partner codes): the form, and what the view adds."""
        return TemplateResponse(
            request,
            "admin/coupons/coupontemplate/upload.html",
            # Unfold's header trail names the template (`original`).
            self._context(request, original=template, template_obj=template, **context),
        )

    def issue_view(self, request, template_id):
        """Choose a tier, a tag or a CSV list of members and start a bulk issue job."""
        if not self.has_issue_permission(request):
            raise PermissionDenied
        template = get_object_or_404(CouponTemplate, pk=template_id)
        form = IssueToMembersForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                job = coupon_issue_job_create(
                    template_id=template.pk,
                    audience=data["audience"],
                    tier_id=data["tier"].pk if data.get("tier") else None,
                    tag_id=data["tag"].pk if data.get("tag") else None,
                    member_list=data["file"].read() if data.get("file") else None,
                    encoding=data["encoding"],
                    store_id=staff_store_id(request.user),
                    created_by_id=request.user.pk,
                    now=timezone.now(),
                )
            except LoyaltyError as exc:
                form.add_error(None, str(exc.message))
            else:
                self.message_user(
                    request,
                    gettext("Issuing to %(total)d members started; this page shows its progress.")
                    % {"total": job.total},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:coupons_couponissuejob_change", args=[job.pk]))
        return self._upload_page(
            request,
            template,
            title=gettext("Issue “%(name)s” to members") % {"name": template.name},
            form=form,
            submit_label=gettext("Start issuing"),
        )

    def partner_codes_view(self, request, template_id):
        """Upload a partner's CSV of codes into the template's pool; show what was refused, by row."""
        if not self.has_partner_codes_permission(request):
            raise PermissionDenied
        template = get_object_or_404(CouponTemplate, pk=template_id)
        form = CsvUploadForm(request.POST or None, request.FILES or None)
        result = None
        if request.method == "POST" and form.is_valid():
            try:
                result = partner_codes_import(
                    template_id=template.pk,
                    data=form.cleaned_data["file"].read(),
                    encoding=form.cleaned_data["encoding"],
                    now=timezone.now(),
                )
            except LoyaltyError as exc:
                form.add_error(None, str(exc.message))
            else:
                self.message_user(
                    request,
                    ngettext("%(count)d code added to the pool.", "%(count)d codes added to the pool.", result.imported)
                    % {"count": result.imported},
                    messages.SUCCESS if not result.errors else messages.WARNING,
                )
        pool = PartnerCode.objects.filter(template=template)
        return self._upload_page(
            request,
            template,
            title=gettext("Partner codes of “%(name)s”") % {"name": template.name},
            form=form,
            submit_label=gettext("Upload codes"),
            row_errors=result.errors if result else None,
            pool_total=pool.count(),
            pool_unused=pool.filter(used_at__isnull=True).count(),
        )

    def report_view(self, request):
        """Issued, claimed, redeemed, expired, redemption rate, discount and sales per template (one query)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        store_id = staff_store_id(request.user)
        # From the nightly refresh's daily figures plus today's coupons (console.reports).
        templates = coupon_report_figures(list(CouponTemplate.objects.order_by("-pk")[:REPORT_ROWS]), store_id=store_id)
        rows = [(template, redemption_rate(template)) for template in templates]
        return TemplateResponse(
            request,
            "admin/coupons/coupontemplate/report.html",
            self._context(
                request,
                title=gettext("Coupon report"),
                rows=rows,
                cut=len(templates) == REPORT_ROWS,
                store=request.user.store if store_id is not None else None,
            ),
        )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change:  # a raised quota or limit, a reopened window or a reactivated offer gives claims back
            claim_hints_clear_on_commit(template_id=obj.pk)

    @admin.display(description=_("offer"))
    def offer(self, obj):
        return discount_for(obj, 0).label

    @admin.display(description=_("issued / quota"), ordering="issued_count")
    def issued(self, obj):
        return f"{obj.issued_count} / {obj.quota if obj.quota is not None else '∞'}"
