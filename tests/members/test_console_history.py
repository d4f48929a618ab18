"""History pages in the console (django-simple-history): who may read an object's history, and who may revert it.

The policy (members.console.ConsoleHistoryAdmin):
- the history list and a past version are shown to staff who may view the object and whose store holds it;
- a past version is shown read-only unless the user may revert it; posting it then is refused (403), nothing saved;
- reverting needs the change permission, the object's store scope, and a model that is pure configuration: objects
  whose state services own (members, stock, money-like rows) are never reverted by a form, even by a superuser;
- a revert is validated and saved as the change form would, and recorded in the history as a change.
"""

import pytest
from django.contrib.auth import get_permission_codename
from django.test import RequestFactory
from django.urls import reverse

from tests.console_helpers import (
    HISTORY_OBJECT_MAKERS,
    NEVER_REVERTED,
    REVERTIBLE,
    ROLES,
    form_data,
    history_admins,
    make_staff,
    row_snapshot,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# Objects of a store: staff of another store may not read their history.
STORE_SCOPED = {
    "campaigns.Campaign", "campaigns.Segment", "campaigns.WebhookEndpoint", "members.Member", "members.Store",
}  # fmt: skip

HISTORY_LABELS = [model_admin.opts.label for model_admin in history_admins()]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # five staff users per test


def admin_for(label):
    return next(model_admin for model_admin in history_admins() if model_admin.opts.label == label)


def history_urls(model_admin, obj):
    info = model_admin.opts.app_label, model_admin.opts.model_name
    oldest = obj.history.order_by("history_date", "history_id").first()
    return (
        reverse("admin:{}_{}_history".format(*info), args=[obj.pk]),
        reverse("admin:{}_{}_simple_history".format(*info), args=[obj.pk, oldest.history_id]),
        oldest,
    )


def revert_data(model_admin, obj, oldest):
    """The old version's form as a user who may edit every field would post it (what an attacker sends too)."""
    request = RequestFactory().get("/")
    request.user = UserFactory(is_superuser=True)
    form_class = model_admin.get_form(request, obj, change=True)
    return form_data(form_class(instance=oldest.instance))


def has_perm(user, action, model_admin):
    return user.has_perm(f"{model_admin.opts.app_label}.{get_permission_codename(action, model_admin.opts)}")


def test_every_history_admin_has_a_revert_decision():
    assert set(HISTORY_LABELS) == REVERTIBLE | NEVER_REVERTED
    assert not REVERTIBLE & NEVER_REVERTED
    assert set(HISTORY_LABELS) <= set(HISTORY_OBJECT_MAKERS), "add a maker of a two-version object"
    decided = {label: admin_for(label).history_revert_allowed for label in HISTORY_LABELS}
    assert decided == {label: label in REVERTIBLE for label in HISTORY_LABELS}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("label", HISTORY_LABELS)
def test_history_pages_follow_permissions_scope_and_the_revert_policy(client, label, role):
    # given an object of store A with two versions, and a member of staff in a role
    staff = make_staff()
    user = staff[role]
    store_a = staff["clerk_a"].store
    model_admin = admin_for(label)
    obj, field = HISTORY_OBJECT_MAKERS[label](store_a)
    list_url, version_url, oldest = history_urls(model_admin, obj)
    data = revert_data(model_admin, obj, oldest)
    before, versions_before = row_snapshot(obj), obj.history.count()
    in_scope = label not in STORE_SCOPED or user.store_id in (None, store_a.pk)
    may_view = in_scope and (has_perm(user, "view", model_admin) or has_perm(user, "change", model_admin))
    may_revert = in_scope and label in REVERTIBLE and has_perm(user, "change", model_admin)
    client.force_login(user)

    # when they open the history, the old version, and post the old version's form
    listed = client.get(list_url)
    shown = client.get(version_url)
    posted = client.post(version_url, data)

    # then they read what they may view, and only a permitted revert saves (as a change by them)
    assert (listed.status_code, shown.status_code) == ((200, 200) if may_view else (403, 403))
    if may_view and not may_revert:
        page = shown.content.decode()
        assert 'name="_save"' not in page
        assert f'name="{field}"' not in page
    if may_revert:
        assert posted.status_code == 302, posted.context["adminform"].form.errors
        obj.refresh_from_db()
        assert getattr(obj, field) == getattr(oldest.instance, field)
        newest = obj.history.order_by("-history_date", "-history_id").first()
        assert (newest.history_type, newest.history_user) == ("~", user)
    else:
        assert posted.status_code == 403
        assert (row_snapshot(obj), obj.history.count()) == (before, versions_before)


@pytest.mark.parametrize("label", sorted(NEVER_REVERTED))
def test_a_superuser_cannot_revert_state_that_services_own(client, label):
    store = make_staff()["clerk_a"].store
    model_admin = admin_for(label)
    obj, field = HISTORY_OBJECT_MAKERS[label](store)
    _list_url, version_url, oldest = history_urls(model_admin, obj)
    data = revert_data(model_admin, obj, oldest)
    before = row_snapshot(obj)
    client.force_login(UserFactory(is_superuser=True))

    shown = client.get(version_url)
    posted = client.post(version_url, data)

    assert shown.status_code == 200
    assert 'name="_save"' not in shown.content.decode()
    assert posted.status_code == 403
    assert row_snapshot(obj) == before


def test_a_revert_is_validated_as_the_change_form_is(client):
    # given a tier whose old version is posted with an invalid multiplier
    staff = make_staff()
    model_admin = admin_for("members.Tier")
    obj, field = HISTORY_OBJECT_MAKERS["members.Tier"](None)
    _list_url, version_url, oldest = history_urls(model_admin, obj)
    data = {**revert_data(model_admin, obj, oldest), "earn_multiplier": "-5"}
    before = row_snapshot(obj)
    client.force_login(staff["merchant_admin"])

    posted = client.post(version_url, data)

    assert posted.status_code == 200
    assert posted.context["adminform"].form.errors
    assert row_snapshot(obj) == before
