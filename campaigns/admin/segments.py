"""Console for segments: the rule editor (a JSON field with the schema's help and a small builder), its live count
and sample (a JSON endpoint), recent freezes, and using a segment as the audience of a coupon bulk issue or a
points grant.

Scoped like the rest of the console (members.console): staff of a store see, edit, count and use only their
store's segments, and the count and sample hold only members they may list.
"""

import json
import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from campaigns.errors import SegmentRuleInvalid
from campaigns.models import Segment
from campaigns.segments.schema import rule_errors, schema_for_editor
from campaigns.selectors.segments import segment_preview
from campaigns.services.segments import segment_coupon_issue, segment_points_grant, segment_rule_check, segment_save
from infra.api_errors import error_json_response, loyalty_error_json_response
from infra.errors import LoyaltyError
from members.console import ConsoleHistoryAdmin, ScopedRelatedFieldListFilter, StoreScopedAdminMixin, staff_store_id

MAX_PREVIEW_BODY = 64 * 1024
FREEZES_SHOWN = 10


class SegmentForm(forms.ModelForm):
    rule = forms.JSONField(
        label=_("rule"),
        widget=forms.Textarea(attrs={"rows": 14, "cols": 90, "class": "vLargeTextField segment-rule"}),
        help_text=_(
            'A group {"match": "all" or "any", "conditions": [...]} of conditions {"field", "op", "value", ...} and '
            "nested groups; the fields, their operators and parameters are listed below the form."
        ),
    )

    class Meta:
        model = Segment
        fields = ("name", "description", "store", "rule")

    def clean_rule(self):
        rule = self.cleaned_data["rule"]
        errors = rule_errors(rule)
        if errors:
            raise ValidationError(errors)
        return rule


@admin.register(Segment)
class SegmentAdmin(StoreScopedAdminMixin, ConsoleHistoryAdmin):
    form = SegmentForm
    store_scope_field = "store"
    history_revert_allowed = True  # configuration: a revert goes through the form (the rule is checked again)
    list_display = ("name", "store", "updated_at")
    list_filter = (("store", ScopedRelatedFieldListFilter),)
    search_fields = ("name",)
    readonly_fields = ("recent_freezes",)
    change_form_template = "admin/campaigns/segment/change_form.html"

    def get_fields(self, request, obj=None):
        return (
            ("name", "description", "store", "rule", "recent_freezes")
            if obj
            else ("name", "description", "store", "rule")
        )

    def save_model(self, request, obj, form, change):
        saved = segment_save(
            segment_id=obj.pk if change else None,
            name=obj.name,
            description=obj.description,
            store_id=obj.store_id,
            rule=obj.rule,
            user=request.user,
        )
        obj.pk, obj.created_by_id = saved.pk, saved.created_by_id

    @admin.display(description=_("recent freezes"))
    def recent_freezes(self, obj):
        freezes = obj.freezes.order_by("-frozen_at")[:FREEZES_SHOWN] if obj and obj.pk else []
        rows = format_html_join(
            "", "<li>{} · {} · {}</li>",
            ((timezone.localtime(f.frozen_at).strftime("%Y-%m-%d %H:%M"), f.key,
              ngettext("%(count)d member", "%(count)d members", f.member_count) % {"count": f.member_count})
             for f in freezes),
        )  # fmt: skip
        return format_html("<ul>{}</ul>", rows) if freezes else gettext("None yet.")

    # -- pages ---------------------------------------------------------------------------------------------------

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path("preview/", view(require_POST(self.preview_view)), name=f"{prefix}_preview"),
            path("<path:object_id>/issue-coupons/", view(self.issue_coupons_view), name=f"{prefix}_issue_coupons"),
            path("<path:object_id>/grant-points/", view(self.grant_points_view), name=f"{prefix}_grant_points"),
            *super().get_urls(),
        ]

    def _editor_context(self, request, obj=None):
        info = self.opts.app_label, self.opts.model_name
        context = {
            "segment_schema": schema_for_editor(),
            "segment_preview_url": reverse("admin:{}_{}_preview".format(*info)),
        }
        if obj is not None and obj.pk:
            if request.user.has_perm("coupons.add_couponissuejob"):
                context["issue_coupons_url"] = reverse("admin:{}_{}_issue_coupons".format(*info), args=[obj.pk])
            if request.user.has_perm("points.grant_points"):
                context["grant_points_url"] = reverse("admin:{}_{}_grant_points".format(*info), args=[obj.pk])
        return context

    def add_view(self, request, form_url="", extra_context=None):
        return super().add_view(request, form_url, {**(extra_context or {}), **self._editor_context(request)})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        extra = {**(extra_context or {}), **self._editor_context(request, obj)}
        return super().change_view(request, object_id, form_url, extra)

    def preview_view(self, request):
        """POST {"rule": ..., "store": id or null} -> {"count", "sample"}, or the error shape naming each problem."""
        if not self.has_view_or_change_permission(request):
            return error_json_response(
                code="permission_denied", message=gettext("You may not view segments."), status_code=403
            )
        if len(request.body) > MAX_PREVIEW_BODY:
            return error_json_response(code="invalid_input", message=gettext("The rule is too long."))
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return error_json_response(code="invalid_json", message=gettext("The rule is not valid JSON."))
        if not isinstance(body, dict):
            return error_json_response(code="invalid_json", message=gettext("The rule is not valid JSON."))
        rule, store_id = body.get("rule"), body.get("store")
        if store_id is not None and (not isinstance(store_id, int) or isinstance(store_id, bool)):
            return error_json_response(code="invalid_input", message=gettext("The store is not valid."))
        try:
            segment_rule_check(rule=rule)
        except SegmentRuleInvalid as refusal:
            return loyalty_error_json_response(refusal)
        scoped = staff_store_id(request.user)
        if scoped is not None:
            store_id = scoped
        return JsonResponse(segment_preview(rule=rule, now=timezone.now(), store_id=store_id, user=request.user))

    def _usable_segment(self, request, object_id, permission):
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self.has_view_or_change_permission(request, obj) or not request.user.has_perm(permission):
            raise PermissionDenied
        return obj

    def issue_coupons_view(self, request, object_id):
        obj = self._usable_segment(request, object_id, "coupons.add_couponissuejob")
        form = SegmentCouponIssueForm(request.POST or None, initial={"key": uuid.uuid4().hex})
        if request.method == "POST" and form.is_valid():
            try:
                freeze, job_id = segment_coupon_issue(
                    segment_id=obj.pk, template_id=form.cleaned_data["template"].pk, key=form.cleaned_data["key"],
                    user=request.user, now=timezone.now(),
                )  # fmt: skip
            except LoyaltyError as exc:
                self.message_user(request, str(exc.message), messages.ERROR)
            else:
                self.message_user(
                    request,
                    ngettext(
                        "%(count)d member frozen; the coupons are being issued (job #%(job)s).",
                        "%(count)d members frozen; the coupons are being issued (job #%(job)s).",
                        freeze.member_count,
                    )
                    % {"count": freeze.member_count, "job": job_id},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:coupons_couponissuejob_changelist"))
        return self._use_page(request, obj, form, gettext("Issue coupons to %(segment)s"))

    def grant_points_view(self, request, object_id):
        obj = self._usable_segment(request, object_id, "points.grant_points")
        form = SegmentPointsGrantForm(request.POST or None, initial={"key": uuid.uuid4().hex})
        if request.method == "POST" and form.is_valid():
            try:
                freeze, job_ids = segment_points_grant(
                    segment_id=obj.pk, points=form.cleaned_data["points"], reason=form.cleaned_data["reason"],
                    key=form.cleaned_data["key"], user=request.user, now=timezone.now(),
                )  # fmt: skip
            except LoyaltyError as exc:
                self.message_user(request, str(exc.message), messages.ERROR)
            else:
                self.message_user(
                    request,
                    ngettext(
                        "%(count)d member frozen; the points are being granted (jobs %(jobs)s).",
                        "%(count)d members frozen; the points are being granted (jobs %(jobs)s).",
                        freeze.member_count,
                    )
                    % {"count": freeze.member_count, "jobs": ", ".join(f"#{pk}" for pk in job_ids) or "-"},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:points_pointsgrantjob_changelist"))
        return self._use_page(request, obj, form, gettext("Grant points to %(segment)s"))

    def _use_page(self, request, obj, form, title):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            "title": title % {"segment": obj},
            "form": form,
            "change_url": reverse("admin:campaigns_segment_change", args=[obj.pk]),
        }
        return TemplateResponse(request, "admin/campaigns/segment/use.html", context)


class SegmentCouponIssueForm(forms.Form):
    template = forms.ModelChoiceField(label=_("coupon template"), queryset=None)
    key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, **kwargs):
        from coupons.models import CouponTemplate

        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = CouponTemplate.objects.filter(is_active=True).order_by("name")


class SegmentPointsGrantForm(forms.Form):
    points = forms.IntegerField(label=_("points per member"), min_value=1, max_value=1_000_000_000)
    reason = forms.CharField(label=_("reason"), max_length=255)
    key = forms.CharField(widget=forms.HiddenInput, max_length=64)
