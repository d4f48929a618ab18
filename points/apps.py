from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _policy_expiry(earned_at):
    from points.models import PointsPolicy

    # Read, not created: a lot written before anyone saved the policy expires by the policy's defaults.
    policy = PointsPolicy.objects.filter(pk=1).first() or PointsPolicy()
    return policy.expires_at_for(earned_at=earned_at)


def _ensure_schedules(sender, using="default", **kwargs):
    """Register the points jobs in beat's tables once they exist (infrastructure, not business logic)."""
    from points.schedules import schedules_ensure

    schedules_ensure(using=using)


class PointsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "points"
    verbose_name = _("Points")

    def ready(self):
        from members.services.lot_expiry import lot_expiry_rule_register

        post_migrate.connect(_ensure_schedules, sender=self, dispatch_uid="points_ensure_schedules")
        lot_expiry_rule_register(_policy_expiry)
