"""The coupon jobs are registered once in django-celery-beat's tables, and console edits survive."""

import pytest
from django_celery_beat.models import PeriodicTask

from coupons.schedules import EXPIRE_TASK_NAME, RELEASE_TASK_NAME, REMIND_TASK_NAME, coupons_beat_schedules_register

pytestmark = pytest.mark.django_db


def test_migrate_registered_every_coupon_job_and_running_the_hook_twice_adds_nothing():
    first = coupons_beat_schedules_register()
    second = coupons_beat_schedules_register()

    assert (first, second) == ([], [])  # migrate (the test database's) already ran the hook
    tasks = PeriodicTask.objects.filter(task__startswith="coupons.tasks.").order_by("name")
    assert [(task.name, task.task, task.enabled) for task in tasks] == [
        (EXPIRE_TASK_NAME, "coupons.tasks.coupons_expire_task", True),
        (RELEASE_TASK_NAME, "coupons.tasks.coupons_release_stale_reservations_task", True),
        (REMIND_TASK_NAME, "coupons.tasks.coupons_remind_expiring_task", True),
    ]
    expire = tasks.get(name=EXPIRE_TASK_NAME)
    assert (expire.crontab.minute, expire.crontab.hour) == ("5", "*")
    release = tasks.get(name=RELEASE_TASK_NAME)
    assert (release.interval.every, release.interval.period) == (1, "minutes")


def test_a_deleted_job_is_registered_again_and_an_edited_one_is_kept():
    PeriodicTask.objects.filter(name=RELEASE_TASK_NAME).delete()
    PeriodicTask.objects.filter(name=EXPIRE_TASK_NAME).update(enabled=False)

    created = coupons_beat_schedules_register()
    created_again = coupons_beat_schedules_register()

    assert (created, created_again) == ([RELEASE_TASK_NAME], [])
    assert PeriodicTask.objects.get(name=EXPIRE_TASK_NAME).enabled is False
    assert PeriodicTask.objects.filter(task__startswith="coupons.tasks.").count() == 3
