"""Roles in the console: the built-in roles' permissions come from members/roles.py at every migrate, so the console
shows them read-only; a merchant's own roles are theirs to edit, and a migrate leaves them as they are."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from members.models import Role
from members.roles import sync_roles
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchant_admin():
    return UserFactory(role=Role.MERCHANT_ADMIN)


@pytest.mark.parametrize("role", Role.values)
def test_a_built_in_role_opens_read_only_and_a_post_changes_nothing(client, merchant_admin, role):
    group = Group.objects.get(name=role)
    before = set(group.permissions.values_list("pk", flat=True))
    client.force_login(merchant_admin)
    url = reverse("admin:auth_group_change", args=[group.pk])

    shown = client.get(url)
    posted = client.post(url, {"name": role, "permissions": [Permission.objects.first().pk]})
    deleted = client.post(reverse("admin:auth_group_delete", args=[group.pk]), {"post": "yes"})

    assert shown.status_code == 200
    assert shown.context["has_change_permission"] is False
    assert (posted.status_code, deleted.status_code) == (403, 403)
    assert set(group.permissions.values_list("pk", flat=True)) == before


def test_a_merchants_own_role_is_edited_in_the_console_and_kept_by_a_migrate(client, merchant_admin):
    # given a role the merchant made for their marketing team
    client.force_login(merchant_admin)
    view_campaign = Permission.objects.get(codename="view_campaign")
    client.post(reverse("admin:auth_group_add"), {"name": "Marketing", "permissions": [view_campaign.pk]})
    marketing = Group.objects.get(name="Marketing")

    # when they give it one more permission, and the next deploy migrates
    launch = Permission.objects.get(codename="launch_campaign")
    changed = client.post(
        reverse("admin:auth_group_change", args=[marketing.pk]),
        {"name": "Marketing", "permissions": [view_campaign.pk, launch.pk]},
    )
    sync_roles()

    # then the role keeps what the merchant gave it
    assert changed.status_code == 302
    assert set(marketing.permissions.values_list("codename", flat=True)) == {"view_campaign", "launch_campaign"}


def test_the_roles_list_says_which_roles_are_built_in(client, merchant_admin):
    Group.objects.create(name="Marketing")
    client.force_login(merchant_admin)

    response = client.get(reverse("admin:auth_group_changelist"))

    built_in = {group.name: response.context["cl"].model_admin.is_built_in(group) for group in Group.objects.all()}
    assert built_in == {**dict.fromkeys(Role.values, True), "Marketing": False}


def test_the_built_in_roles_are_named_in_the_staff_members_language(client, merchant_admin):
    client.force_login(merchant_admin)

    page = client.get(reverse("admin:auth_group_changelist"), HTTP_ACCEPT_LANGUAGE="zh-hant").content.decode()

    assert "分店經理" in page
    assert "store_manager" not in page
