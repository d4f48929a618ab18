"""Bulk points grants: one idempotent job per list of members."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from infra.translation import text_shown
from members.models.ledger import MAX_POINTS_PER_ENTRY


class PointsGrantJob(models.Model):
    """A bulk grant of points by staff: the same points, with a reason, to a list of members or a tier or tag.

    Runs once as a chunked Celery job (points.services.grants); each member's credit carries the key
    `grant:<job>:<member>`, so a re-run (or a retried chunk) never grants twice. Rows of the list that name
    no member are kept in `row_errors` by row number and written not at all.
    """

    class Audience(models.TextChoices):
        LIST = "list", _("A list of phones or member numbers (CSV)")
        TIER = "tier", _("Every active member of a tier")
        TAG = "tag", _("Every active member with a tag")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    audience = models.CharField(_("members"), max_length=8, choices=Audience.choices, default=Audience.LIST)
    member_list = models.TextField(
        _("phones or member numbers"), blank=True, help_text=_("One per row; the first column of each row is read.")
    )
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
        help_text=_("Set when staff limited to a store start the grant: only members whose home store it is."),
    )
    points = models.PositiveBigIntegerField(
        _("points per member"), validators=[MinValueValidator(1), MaxValueValidator(MAX_POINTS_PER_ENTRY)]
    )
    reason = models.CharField(_("reason"), max_length=255)
    # Every language's reason of a grant the system starts (a monthly tier gift names the tier), given on to each
    # member's ledger entry (PointsEntry.reason_texts); NULL for the reason staff typed.
    reason_texts = models.JSONField(_("reason in every language"), null=True, blank=True, editable=False)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    members_total = models.PositiveIntegerField(_("members found"), default=0)
    members_done = models.PositiveIntegerField(_("members processed"), default=0)
    members_granted = models.PositiveIntegerField(_("members granted"), default=0)
    row_errors = models.JSONField(_("row errors"), default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Empty for grants started by a scheduled job (monthly tier gifts)."),
    )
    created_at = models.DateTimeField(_("created at"))
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("points grant")
        verbose_name_plural = _("points grants")
        permissions = [("grant_points", _("Can grant points to many members at once"))]
        constraints = [models.CheckConstraint(condition=Q(points__gt=0), name="points_grant_job_points_positive")]

    def __str__(self):
        return f"#{self.pk} +{self.points} ({self.get_audience_display()})"

    @property
    def reason_shown(self) -> str:
        """The reason in the reader's (active) language: infra.translation.text_shown."""
        return text_shown(self.reason, self.reason_texts)

    reason_shown.fget.short_description = _("reason")

    @staticmethod
    def row_error_shown(error: dict) -> str:
        """A row error's text in the reader's (active) language: kept in English, with the msgid and parameters of
        one that has any (points.services.grants._row_error)."""
        if "msgid" in error:
            return gettext(error["msgid"]) % error["params"]
        return gettext(error["error"])

    def clean(self):
        errors = {}
        if not (self.reason or "").strip():
            errors["reason"] = _("Give the reason for the grant.")
        if self.audience == self.Audience.LIST and not (self.member_list or "").strip():
            errors["member_list"] = _("Give at least one phone or member number.")
        if self.audience == self.Audience.TIER and self.tier_id is None:
            errors["tier"] = _("Choose the tier.")
        if self.audience == self.Audience.TAG and self.tag_id is None:
            errors["tag"] = _("Choose the tag.")
        if errors:
            raise ValidationError(errors)
