"""Bulk points grants: one idempotent job per list of members."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from infra.csv_uploads.decoding import AUTO, decode
from infra.csv_uploads.forms import checked_upload, csv_file_field, encoding_field
from infra.errors import LoyaltyError
from members.console import ConsoleModelAdmin, StoreScopedAdminMixin, staff_store_id
from points.models import (
    PointsGrantJob,
)
from points.services.grants import grant_list_check, points_grant_job_create


class PointsGrantJobForm(forms.ModelForm):
    member_file = csv_file_field(
        required=False,
        help_text=_("Phones or member numbers in the first column; added to the list above."),
    )
    encoding = encoding_field(required=False)

    class Meta:
        model = PointsGrantJob
        fields = ("audience", "member_list", "tier", "tag", "points", "reason")
        widgets = {"member_list": forms.Textarea(attrs={"rows": 6})}

    def clean_member_file(self):
        return checked_upload(self.cleaned_data.get("member_file"))

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("member_file")
        if upload:
            if cleaned.get("member_list", "").strip():
                # One list, so that the row numbers of its errors are the file's (or the box's) own.
                raise ValidationError({"member_file": _("Type the list or upload it as a file, not both.")})
            # Excel on Chinese Windows saves CSV in Big5 or GB18030: read as the member import reads.
            try:
                text, _used = decode(upload.read(), cleaned.get("encoding") or AUTO)
            except LoyaltyError as exc:
                raise ValidationError({"member_file": str(exc.message)}) from None
            cleaned["member_list"] = text
        if cleaned.get("audience") == PointsGrantJob.Audience.LIST and cleaned.get("member_list", "").strip():
            try:
                grant_list_check(cleaned["member_list"])
            except LoyaltyError as exc:
                listed = cleaned["member_list"]
                self.add_error("member_file" if upload else "member_list", exc.fields["member_list"][0])
                # add_error drops the field; the model's own check would then find the list empty and say so again
                cleaned["member_list"] = listed
        return cleaned


@admin.register(PointsGrantJob)
class PointsGrantJobAdmin(StoreScopedAdminMixin, ConsoleModelAdmin):
    """Bulk grants: staff with `points.grant_points` start one; progress and row errors show on its page. Staff
    limited to a store grant to their store's members and see their store's grants (the job's `store`)."""

    store_scope_field = "store"
    form = PointsGrantJobForm
    list_display = ("pk", "audience", "points", "reason_shown", "store", "status", "members_done", "members_total",
                    "members_granted", "created_by", "created_at")  # fmt: skip
    list_select_related = ("store", "created_by")
    list_filter = ("status", "audience")
    ordering = ("-pk",)
    readonly_fields = ("store", "status", "members_total", "members_done", "members_granted", "row_errors_display",
                       "created_by", "created_at", "started_at", "finished_at")  # fmt: skip

    def _may_grant(self, request):
        return request.user.has_perm("points.grant_points")

    def has_view_permission(self, request, obj=None):
        return self._may_grant(request)

    def has_add_permission(self, request):
        return self._may_grant(request)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_module_permission(self, request):
        return self._may_grant(request)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        store_id = staff_store_id(request.user)
        if obj is None and store_id is not None:
            form.base_fields["audience"].help_text = _(
                "Only members whose home store is %(store)s receive the points."
            ) % {"store": request.user.store}
        return form

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("audience", "member_list", "member_file", "encoding", "tier", "tag", "points", "reason")
        return ("audience", "member_list", "tier", "tag", "points", "reason_shown", *self.readonly_fields)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("audience", "member_list", "tier", "tag", "points", "reason_shown", *self.readonly_fields)

    @admin.display(description=_("row errors"))
    def row_errors_display(self, obj):
        if not obj.row_errors:
            return "-"
        return "; ".join(
            str(_("row %(row)s (%(value)s): %(error)s") % {**error, "error": obj.row_error_shown(error)})
            for error in obj.row_errors[:200]
        )

    def save_model(self, request, obj, form, change):
        try:
            job = points_grant_job_create(
                created_by=request.user,
                audience=obj.audience,
                member_list=form.cleaned_data.get("member_list", ""),
                tier_id=obj.tier_id,
                tag_id=obj.tag_id,
                points=obj.points,
                reason=obj.reason,
                now=timezone.now(),
            )
        except LoyaltyError as error:
            self.message_user(request, str(error.message), level=messages.ERROR)
            raise PermissionDenied from error
        obj.pk = job.pk
        obj.created_at = job.created_at
        obj.created_by = job.created_by
