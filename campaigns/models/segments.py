"""Segments: saved rules that select members, and the frozen memberships of runs that use them.

Invariants:
- a segment's rule is valid against the one schema in campaigns/segments/schema.py (checked at every save by
  campaigns.services.segments; the console and the services refuse anything else, naming the condition);
- a segment of a store selects only members whose home store it is;
- a freeze is written once, in one transaction with its members (one INSERT ... SELECT), under a unique key:
  a visible freeze is complete, and asking again for the same key returns it unchanged (no member added or
  dropped while a campaign sends).
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


def empty_rule() -> dict:
    return {"match": "all", "conditions": []}


class Segment(models.Model):
    """A saved rule over members (conditions in AND / OR groups), compiled to one SQL query when used."""

    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    store = models.ForeignKey(
        "members.Store",
        verbose_name=_("store"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Set: only members whose home store it is. Empty: members of every store."),
    )
    rule = models.JSONField(_("rule"), default=empty_rule)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")

    def __str__(self):
        return str(self.name)


class SegmentFreeze(models.Model):
    """The members of a segment at one moment, kept for one run (a campaign run, a bulk issue, a grant).

    `key` names the run (`campaign-run:42`, `coupon-issue:<form token>`): freezing again with the same key
    returns this freeze and its members unchanged. The rule and store are copied, so the freeze says what
    selected its members even after the segment is edited.
    """

    segment = models.ForeignKey(
        Segment, verbose_name=_("segment"), on_delete=models.PROTECT, related_name="freezes", db_index=False
    )
    key = models.CharField(_("run"), max_length=120, unique=True)
    rule = models.JSONField(_("rule"))
    store = models.ForeignKey(
        "members.Store", verbose_name=_("store"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    member_count = models.PositiveIntegerField(_("members"), default=0)
    frozen_at = models.DateTimeField(_("frozen at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("frozen by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # What the run made of it (the jobs it started), so that a repeated request starts nothing twice.
    result = models.JSONField(_("result"), default=dict, blank=True)

    class Meta:
        verbose_name = _("segment freeze")
        verbose_name_plural = _("segment freezes")
        indexes = [models.Index(fields=["segment", "-frozen_at"], name="segment_freeze_newest")]

    def __str__(self):
        return f"{self.segment} @ {self.key}"


class SegmentMember(models.Model):
    """One member of a freeze. The composite key is the only index: writing a million rows builds one B-tree.

    No foreign-key constraints in the database: rows are written only by segment_freeze's one INSERT ... SELECT
    of existing members, in the transaction that creates their freeze, and active members are never deleted (they
    are closed). A constraint checks every row at commit with a lookup and a KEY SHARE lock on the member's row, which
    dirties the page of every member frozen: bench/segment_count.py froze 720,206 members in 47.9 s with them and
    in 8.2 s without (on the same loaded machine).
    """

    pk = models.CompositePrimaryKey("freeze", "member")
    freeze = models.ForeignKey(
        SegmentFreeze, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    # DO_NOTHING: the one member ever deleted is a WeChat visitor merged into the member who owns its phone
    # (members.services.membership), and a freeze holds active members only (campaigns.selectors.segments), so no
    # row can point at it. CASCADE would make that merge, a login, look for the visitor's rows with no index to
    # find them by: a scan of every freeze ever written.
    member = models.ForeignKey(
        "members.Member", on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False
    )

    class Meta:
        verbose_name = _("member of a segment freeze")
        verbose_name_plural = _("members of segment freezes")

    def __str__(self):
        return f"{self.freeze_id}:{self.member_id}"
