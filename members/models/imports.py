from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext


class MemberImportJob(models.Model):
    """A member CSV import run in the background, with progress the console shows."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    # The upload's name in the private storage (members.services.member_import.import_files): a name, not a
    # FileField, so that nothing renders a link to it.
    file = models.CharField(_("file"), max_length=100)
    encoding = models.CharField(_("encoding"), max_length=20, default="utf-8")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    processed_rows = models.PositiveIntegerField(_("processed"), default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    errors = models.JSONField(_("row errors"), default=list, blank=True)
    message = models.TextField(_("message"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The store the import was made for (its importer's at the time; none: staff of all stores): the store scope of
    # the job's pages, which quote the file's cells, whatever store the importer works for later.
    store = models.ForeignKey(
        "members.Store", verbose_name=_("store"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The language of the staff member who started it: its background chunks run in it (a worker has none), so its
    # row errors and messages read as the preview's did. Empty: the site's default.
    language = models.CharField(_("language"), max_length=10, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("member import")
        verbose_name_plural = _("member imports")

    def __str__(self):
        return f"#{self.pk} {self.get_status_display()}"

    @property
    def progress_percent(self):
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0

    @property
    def errors_retention_note(self) -> str:
        """What the pages showing the rows with errors say of how long they are kept (the import sweep deletes them,
        members.services.member_import.member_import_errors_expire), or "" when the job has none."""
        days = settings.MEMBER_IMPORT_ERRORS_KEEP_DAYS
        if self.errors:
            return ngettext(
                "These rows quote the file's cells; they are deleted %(days)d day after the import finishes.",
                "These rows quote the file's cells; they are deleted %(days)d days after the import finishes.",
                days,
            ) % {"days": days}
        if self.error_count and self.finished_at is not None:
            return ngettext(
                "The rows with errors were deleted %(days)d day after the import finished: they quoted members' data.",
                "The rows with errors were deleted %(days)d days after the import finished: they quoted members' data.",
                days,
            ) % {"days": days}
        return ""


class MemberImportChunk(models.Model):
    """One chunk of a job's rows, written: the row is inserted in the chunk's own transaction, so a chunk is
    written exactly once however many runners (a resumed job, two connections of one run) reach it."""

    job = models.ForeignKey(MemberImportJob, on_delete=models.CASCADE, related_name="chunks")
    number = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "number"], name="member_import_chunk_once")]

    def __str__(self):
        return f"{self.job_id}:{self.number}"
