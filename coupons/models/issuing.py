"""Bulk issue jobs (to a tier, a tag or an uploaded list of members) and pools of partner codes."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from coupons.codes import MAX_CODE_LENGTH


class CouponIssueJob(models.Model):
    """Coupons of one template issued to many members by a chunked Celery job, with progress for the console.

    Re-running a job issues nothing twice (issue keys); `last_member_id` lets a run resume where the last
    one stopped. Counters: `issued` counts coupons this job inserted, `skipped` members who already held
    as many as the per-member limit allows, `errors` the rows of an uploaded list that named no member.
    """

    class Audience(models.TextChoices):
        TIER = "tier", _("Members of a tier")
        TAG = "tag", _("Members with a tag")
        MEMBER_LIST = "member_list", _("A list of members (CSV)")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        STOPPED = "stopped", _("Stopped")
        FAILED = "failed", _("Failed")

    template = models.ForeignKey(
        "coupons.CouponTemplate", verbose_name=_("template"), on_delete=models.PROTECT, related_name="issue_jobs"
    )
    audience = models.CharField(_("audience"), max_length=12, choices=Audience.choices)
    tier = models.ForeignKey(
        "members.Tier", verbose_name=_("tier"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    tag = models.ForeignKey(
        "members.Tag", verbose_name=_("tag"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    store = models.ForeignKey(
        "members.Store",
        verbose_name=_("only members of store"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Set for a store manager's job: only members whose home store it is."),
    )
    member_ids = models.JSONField(_("members of the list"), default=list, blank=True, editable=False)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(_("members"), default=0)
    processed = models.PositiveIntegerField(_("processed"), default=0)
    issued = models.PositiveIntegerField(_("issued"), default=0)
    skipped = models.PositiveIntegerField(_("skipped (limit reached)"), default=0)
    error_count = models.PositiveIntegerField(_("rows with errors"), default=0)
    errors = models.JSONField(_("row errors"), default=list, blank=True)
    last_member_id = models.BigIntegerField(_("last member done"), default=0, editable=False)
    # How many chunks the running coordinator split the audience into: unknown (null) until it has sent the last
    # one, so the chunk that completes the job can tell it is the last (coupons.services.bulk).
    chunk_count = models.PositiveIntegerField(_("chunks"), null=True, blank=True, editable=False)
    message = models.TextField(_("message"), blank=True)
    # The language of the staff member who made it: its chunks run in it (a worker has none), so the message that
    # stops the job (the quota reached, the template ended) reads as the console does. Empty: the site's default.
    language = models.CharField(_("language"), max_length=10, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"))
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("coupon issue job")
        verbose_name_plural = _("coupon issue jobs")
        constraints = [
            models.CheckConstraint(
                condition=(Q(audience="tier") & Q(tier__isnull=False))
                | (Q(audience="tag") & Q(tag__isnull=False))
                | Q(audience="member_list"),
                name="coupon_issue_job_audience_given",
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.template} ({self.get_status_display()})"

    def issue_key(self, member_id: int) -> str:
        return f"job:{self.pk}:member:{member_id}"

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return min(100, int(100 * self.processed / self.total)) if self.total else 0


class CouponIssueChunk(models.Model):
    """One chunk of a job's audience (a range of member ids), claimed by the transaction that issues it.

    A chunk task inserts this row first, so a duplicated or redelivered task finds it and writes nothing; it
    holds the chunk's own counts, and the job's counters move by the difference when a chunk is redone. A chunk
    that stopped short (the quota or the partner codes ran out, the offer ended) stays `is_done=False` and a
    resumed job does it again (its members who got their coupon keep it: issue keys).
    """

    job = models.ForeignKey(CouponIssueJob, on_delete=models.CASCADE, related_name="chunks")
    number = models.PositiveIntegerField()
    processed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    is_done = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "number"], name="coupon_issue_chunk_once")]

    def __str__(self):
        return f"{self.job_id}:{self.number}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.STOPPED, self.Status.FAILED)


class PartnerCode(models.Model):
    """A code from a partner's file: given to one coupon of its template, then marked used."""

    template = models.ForeignKey(
        "coupons.CouponTemplate", verbose_name=_("template"), on_delete=models.CASCADE, related_name="partner_codes"
    )
    code = models.CharField(_("code"), max_length=MAX_CODE_LENGTH, unique=True)
    row_number = models.PositiveIntegerField(_("row in the file"))
    imported_at = models.DateTimeField(_("imported at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("partner code")
        verbose_name_plural = _("partner codes")
        indexes = [
            models.Index(fields=["template", "id"], condition=Q(used_at__isnull=True), name="partner_code_unused"),
        ]

    def __str__(self):
        return str(self.code)
