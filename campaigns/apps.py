from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _ensure_schedules(sender, using="default", **kwargs):
    """Register the channels' jobs in beat's tables once they exist (infrastructure, not business logic)."""
    from campaigns.schedules import schedules_ensure

    schedules_ensure(using=using)


class CampaignsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self):
        from campaigns import receivers

        receivers.connect()
        post_migrate.connect(_ensure_schedules, sender=self, dispatch_uid="campaigns_ensure_schedules")
