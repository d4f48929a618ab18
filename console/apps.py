from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ConsoleConfig(AppConfig):
    """The merchant console: its theme, navigation by task and the dashboard (the console's home page).

    At the top of the import order: it reads members, coupons and points; no app imports it.
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "console"
    verbose_name = _("Console")

    def ready(self):
        from console.schedules import console_beat_schedules_register

        # After every migrate (sender=self: once per run), so a fresh database gets the schedule.
        post_migrate.connect(
            console_beat_schedules_register, sender=self, dispatch_uid="console_beat_schedules_register"
        )


class ConsoleAdminConfig(admin_apps.AdminConfig):
    """Django's admin app, on the console's own site class (django-unfold's site with the dashboard)."""

    default = False
    default_site = "console.sites.ConsoleAdminSite"
