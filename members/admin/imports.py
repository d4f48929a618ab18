"""Console import/export of members, mixed into MemberAdmin (`class MemberAdmin(MemberImportExportMixin, ...)`).

Upload (with an encoding choice) -> preview (decoded first rows, every row error, counts) -> confirm.
The upload is kept in the private storage between preview and confirm (every server sees it, no URL serves
it); the preview is recomputed from it, never cached in one process. Confirming creates a MemberImportJob: small
files run in the request, big ones on Celery, and the job page shows progress. Export is a CSV of the members the
staff user may list (their store), with formulae escaped.
"""

import re

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from infra.csv_exports import EXCEL_BOM
from infra.csv_uploads.decoding import AUTO, ENCODINGS, ImportFileRefused, check_size
from infra.csv_uploads.forms import csv_file_field, encoding_field
from members.imports.columns import COLUMNS, EXPORT_ONLY_COLUMNS, template_csv
from members.models import Member, MemberImportJob
from members.resources import MemberResource
from members.services.member_import import (
    import_files,
    member_import_preview,
    member_import_start,
    member_import_store_upload,
)

IMPORT_PERMISSION = "members.import_member"
EXPORT_PERMISSION = "members.export_member"
PREVIEW_MAX_ERRORS = 1000
UPLOAD_NAME_RE = re.compile(r"^imports/(?P<owner>\d+)-[\w.-]+\.csv$")


class MemberImportForm(forms.Form):
    file = csv_file_field(required=False)
    file_name = forms.CharField(widget=forms.HiddenInput, required=False)
    encoding = encoding_field()

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("file") and not cleaned.get("file_name"):
            raise forms.ValidationError(gettext("Choose a CSV file to upload."))
        return cleaned


def _csv_response(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(EXCEL_BOM + text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class MemberImportExportMixin:
    """CSV import (upload, preview, confirm, progress), export and template for the member admin."""

    change_list_template = "admin/members/member/change_list.html"

    # permissions -----------------------------------------------------------------------------------------
    def has_import_permission(self, request):
        return request.user.has_perm(IMPORT_PERMISSION)

    def has_export_permission(self, request):
        return request.user.has_perm(EXPORT_PERMISSION)

    # urls ------------------------------------------------------------------------------------------------
    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(self.import_view), name="{}_{}_import".format(*info)),
            path("import/confirm/", wrap(self.import_confirm_view), name="{}_{}_import_confirm".format(*info)),
            path("import/template/", wrap(self.import_template_view), name="{}_{}_import_template".format(*info)),
            path("import/jobs/<int:job_id>/", wrap(self.import_job_view), name="{}_{}_import_job".format(*info)),
            path("export/", wrap(self.export_view), name="{}_{}_export".format(*info)),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "has_import_permission": self.has_import_permission(request),
            "has_export_permission": self.has_export_permission(request),
        }
        return super().changelist_view(request, extra_context=extra_context)

    def _context(self, request, **extra):
        return {**self.admin_site.each_context(request), "opts": self.opts, **extra}

    def _require(self, request, allowed):
        if not allowed(request):
            raise PermissionDenied

    def _owned_upload(self, request, file_name):
        """Return the storage name of an upload this user made, or raise Http404."""
        match = UPLOAD_NAME_RE.match(file_name or "")
        if not match or match["owner"] != str(request.user.pk) or not import_files().exists(file_name):
            raise Http404(gettext("This upload is no longer available; upload the file again."))
        return file_name

    # import ----------------------------------------------------------------------------------------------
    def import_view(self, request):
        """Upload a file (or re-read a stored one with another encoding) and show the preview."""
        self._require(request, self.has_import_permission)
        form = MemberImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            encoding = form.cleaned_data["encoding"]
            try:
                if upload:
                    check_size(upload.size)
                    data = upload.read()
                    file_name = member_import_store_upload(data=data, user=request.user)
                else:
                    file_name = self._owned_upload(request, form.cleaned_data["file_name"])
                    with import_files().open(file_name, "rb") as handle:
                        data = handle.read()
                preview = member_import_preview(data=data, encoding=encoding, user=request.user, now=timezone.now())
            except ImportFileRefused as exc:
                form.add_error(None, str(exc.message))
            else:
                return TemplateResponse(
                    request,
                    "admin/members/member/import_preview.html",
                    self._context(
                        request,
                        title=gettext("Import members: preview"),
                        preview=preview,
                        errors=preview.errors[:PREVIEW_MAX_ERRORS],
                        errors_cut=len(preview.errors) > PREVIEW_MAX_ERRORS,
                        can_confirm=bool(preview.new_count or preview.update_count),
                        file_name=file_name,
                        encoding=encoding,
                        reread_form=MemberImportForm(initial={"file_name": file_name, "encoding": encoding}),
                    ),
                )
        return TemplateResponse(
            request,
            "admin/members/member/import.html",
            self._context(
                request,
                title=gettext("Import members"),
                form=form,
                columns=COLUMNS.items(),
                export_only_columns=EXPORT_ONLY_COLUMNS,
            ),
        )

    def import_confirm_view(self, request):
        """Import the previewed upload: at once when small, in the background when big."""
        self._require(request, self.has_import_permission)
        return require_POST(self._import_confirm)(request)

    def _import_confirm(self, request):
        file_name = self._owned_upload(request, request.POST.get("file_name"))
        encoding = request.POST.get("encoding", AUTO)
        if encoding not in ENCODINGS:
            encoding = AUTO
        try:
            job = member_import_start(file_name=file_name, encoding=encoding, user=request.user, now=timezone.now())
        except ImportFileRefused as exc:
            self.message_user(request, str(exc.message), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:members_member_import"))
        if job.status == MemberImportJob.Status.DONE:
            self.message_user(
                request,
                gettext("Import finished: %(created)s new, %(updated)s updated, %(errors)s rows with errors.")
                % {"created": job.created_count, "updated": job.updated_count, "errors": job.error_count},
                messages.SUCCESS if not job.error_count else messages.WARNING,
            )
        elif job.status == MemberImportJob.Status.FAILED:
            self.message_user(request, job.message, messages.ERROR)
        else:
            self.message_user(
                request,
                gettext("The import of %(rows)s rows runs in the background; this page shows its progress.")
                % {"rows": job.total_rows},
                messages.INFO,
            )
        return HttpResponseRedirect(reverse("admin:members_member_import_job", args=[job.pk]))

    def import_job_view(self, request, job_id):
        """Show an import job's progress and row errors (refreshing while it runs)."""
        self._require(request, self.has_import_permission)
        jobs = MemberImportJob.objects.all()
        if request.user.scope_store_id is not None:
            jobs = jobs.filter(store_id=request.user.scope_store_id)
        job = get_object_or_404(jobs, pk=job_id)
        return TemplateResponse(
            request,
            "admin/members/member/import_job.html",
            self._context(
                request,
                title=gettext("Member import #%(id)s") % {"id": job.pk},
                job=job,
                is_running=job.status in (MemberImportJob.Status.QUEUED, MemberImportJob.Status.RUNNING),
            ),
        )

    def import_template_view(self, request):
        self._require(request, self.has_import_permission)
        return _csv_response(template_csv(), "members-template.csv")

    # export ----------------------------------------------------------------------------------------------
    def export_view(self, request):
        """Download the members this staff user may list (their store's) as CSV, formulae escaped."""
        self._require(request, self.has_export_permission)
        text = MemberResource().export_csv(Member.objects.for_staff(request.user))
        return _csv_response(text, f"members-{timezone.localdate():%Y%m%d}.csv")
