from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _ensure_schedules(sender, using="default", **kwargs):
    """Register the points jobs in beat's tables once they exist (infrastructure, not business logic)."""
    from points.schedules import schedules_ensure

    schedules_ensure(using=using)


class PointsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "points"
    verbose_name = _("Points")

    def ready(self):
        post_migrate.connect(_ensure_schedules, sender=self, dispatch_uid="points_ensure_schedules")
