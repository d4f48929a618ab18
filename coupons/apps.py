from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CouponsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "coupons"
    verbose_name = _("Coupons")

    def ready(self):
        from coupons.schedules import coupons_beat_schedules_register

        # After every migrate (sender=self: once per run), so a fresh database gets the schedules.
        post_migrate.connect(
            coupons_beat_schedules_register, sender=self, dispatch_uid="coupons_beat_schedules_register"
        )
