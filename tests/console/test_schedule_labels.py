"""The console's schedules say what each job does in the staff member's language: the schedule's own name is the
key beat keeps (English, or as the merchant renamed it)."""

import pytest
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from console.schedule_labels import SCHEDULE_LABELS
from members.models import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_every_job_scheduled_after_migrate_says_what_it_does():
    scheduled = set(PeriodicTask.objects.values_list("task", flat=True))

    assert scheduled, "the apps register their schedules after migrate"
    assert scheduled - set(SCHEDULE_LABELS) == set()


def test_the_schedules_list_says_what_each_job_does_in_the_staff_members_language(client):
    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN))

    page = client.get(reverse("admin:django_celery_beat_periodictask_changelist"), HTTP_ACCEPT_LANGUAGE="zh-hant")

    content = page.content.decode()
    assert page.status_code == 200
    assert "令已到期的積分失效" in content
    assert "points: expire points" in content  # the schedule's own name, as beat keys it
