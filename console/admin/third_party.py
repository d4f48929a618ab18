"""Third-party admins in the console's theme: Django's roles (groups) and django-celery-beat's schedules.

Their packages register them with Django's plain ModelAdmin; they are registered again here on Unfold's, with the
same behaviour. Our own apps' admins derive from the theme's classes directly (members.console).
"""

import django_celery_beat.admin as beat_admin
from django.contrib import admin
from django.contrib.auth import admin as auth_admin  # registers Group before it is replaced below
from django.contrib.auth.models import Group
from django.utils.translation import gettext_lazy as _
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule

from console.schedule_labels import schedule_label
from members.console import ConsoleModelAdmin
from members.models import Role

for model in (Group, PeriodicTask, ClockedSchedule, CrontabSchedule, SolarSchedule, IntervalSchedule):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


@admin.register(Group)
class GroupAdmin(auth_admin.GroupAdmin, ConsoleModelAdmin):
    """Roles. The built-in ones (members.models.Role) take their permissions from members/roles.py at every migrate,
    so they are shown read-only: an edit here would be undone by the next deploy. A merchant's own roles (say, a
    marketing team's) are added and edited here; no migrate touches them."""

    list_display = ("role_name", "is_built_in")

    @admin.display(description=_("name"), ordering="name")
    def role_name(self, obj):
        return Role(obj.name).label if self.is_built_in(obj) else obj.name

    @admin.display(description=_("built-in role"), boolean=True)
    def is_built_in(self, obj):
        return obj.name in Role.values

    def has_change_permission(self, request, obj=None):
        return not (obj is not None and self.is_built_in(obj)) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not (obj is not None and self.is_built_in(obj)) and super().has_delete_permission(request, obj)


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(beat_admin.PeriodicTaskAdmin, ConsoleModelAdmin):
    list_display = ("name", "job", *beat_admin.PeriodicTaskAdmin.list_display[1:])

    @admin.display(description=_("what it does"), ordering="task")
    def job(self, obj):
        return schedule_label(obj.task)


@admin.register(ClockedSchedule)
class ClockedScheduleAdmin(beat_admin.ClockedScheduleAdmin, ConsoleModelAdmin):
    pass


@admin.register(CrontabSchedule)
class CrontabScheduleAdmin(beat_admin.CrontabScheduleAdmin, ConsoleModelAdmin):
    pass


@admin.register(SolarSchedule)
class SolarScheduleAdmin(beat_admin.SolarScheduleAdmin, ConsoleModelAdmin):
    pass


@admin.register(IntervalSchedule)
class IntervalScheduleAdmin(beat_admin.IntervalScheduleAdmin, ConsoleModelAdmin):
    pass
