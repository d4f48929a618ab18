"""The points report's place in the console (a proxy: no table, only a page and its view permission)."""

from django.utils.translation import gettext_lazy as _

from members.models import PointsEntry


class PointsReport(PointsEntry):
    class Meta:
        proxy = True
        verbose_name = _("points report")
        verbose_name_plural = _("points report")
        default_permissions = ("view",)
