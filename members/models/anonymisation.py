"""The record of a member anonymised on request (Hong Kong's PDPO): who, when, why, under which pseudonym.

One row per member at most (the one-to-one key): a member is anonymised once. The member row stays, scrubbed of
personal data, so its ledgers and purchases keep adding up for the accounts under the pseudonym.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class MemberAnonymisation(models.Model):
    member = models.OneToOneField(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="anonymisation"
    )
    pseudonym = models.CharField(_("pseudonym"), max_length=40, unique=True)
    reason = models.CharField(_("reason"), max_length=255)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("anonymised by"), on_delete=models.PROTECT, related_name="+"
    )
    anonymised_at = models.DateTimeField(_("anonymised at"))

    class Meta:
        verbose_name = _("member anonymisation")
        verbose_name_plural = _("member anonymisations")

    def __str__(self):
        return str(self.pseudonym)
