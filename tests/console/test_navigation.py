"""The console's sidebar (console.navigation): grouped by task, every list reachable, each role shown only what it
may open; the header's member search; helpful empty lists."""

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from console.navigation import sidebar_links
from tests.console_helpers import ROLES, make_staff
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


def links_of(user):
    request = RequestFactory().get("/console/")
    request.user = user
    return {url: group for group, links in sidebar_links(request) for _title, _icon, url in links}


def changelists_open_to(user):
    request = RequestFactory().get("/console/")
    request.user = user
    return {
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for model, model_admin in admin.site._registry.items()
        if model_admin.has_module_permission(request) and model_admin.has_view_or_change_permission(request)
    }


def test_every_list_of_the_console_is_in_the_sidebar():
    superuser = UserFactory(is_superuser=True)

    assert changelists_open_to(superuser) <= set(links_of(superuser))


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_exactly_the_lists_it_may_open(role):
    user = make_staff()[role]

    shown = {url for url in links_of(user) if url != reverse("admin:index")}

    assert {url for url in shown if url.endswith("/")} - _custom_pages() == changelists_open_to(user)


def _custom_pages():
    return {
        reverse("admin:members_member_import"),
        reverse("admin:points_rewardorder_fulfil"),
        reverse("admin:coupons_coupontemplate_report"),
        reverse("admin:console_audit_log"),
    }


@pytest.mark.parametrize("role", ROLES)
def test_every_entry_a_role_sees_opens_for_it(client, role):
    user = make_staff()[role]
    client.force_login(user)

    answers = {}
    for url in links_of(user):
        response = client.get(url, follow=True)  # a one-row settings list redirects to its row
        answers[url] = (response.status_code, response.request["PATH_INFO"].startswith("/console/login/"))

    assert answers == dict.fromkeys(answers, (200, False))


def test_the_sidebar_groups_follow_what_staff_do():
    superuser = UserFactory(is_superuser=True)
    request = RequestFactory().get("/console/")
    request.user = superuser

    groups = [str(title) for title, _links in sidebar_links(request)]

    assert groups[:6] == ["Today", "Members", "Sales", "Points", "Rewards", "Coupons"]
    assert groups[-1] == "Settings"


def test_a_clerk_sees_the_till_entries_only():
    clerk = make_staff()["clerk_a"]

    links = links_of(clerk)

    assert {str(group) for group in links.values()} == {
        "Today", "Members", "Sales", "Points", "Rewards", "Coupons", "Settings",
    }  # fmt: skip
    assert {url for url, group in links.items() if str(group) == "Settings"} == {
        reverse("admin:members_store_changelist"),  # read-only: the stores and tiers a till answers about
        reverse("admin:members_tier_changelist"),
    }
    assert reverse("admin:members_member_import") not in links
    assert reverse("admin:members_user_changelist") not in links


# -- the header's member search -------------------------------------------------------------------------------------


def test_an_exact_phone_opens_the_member_even_of_another_store(client):
    staff = make_staff()
    member = MemberFactory(phone="+85291234567", home_store=staff["manager_a"].store)
    client.force_login(staff["manager_b"])

    response = client.get(reverse("admin:console_find"), {"q": "9123 4567"})

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:members_member_change", args=[member.pk])


def test_a_member_number_opens_the_member(client):
    staff = make_staff()
    member = MemberFactory(home_store=staff["clerk_a"].store)
    client.force_login(staff["clerk_a"])

    response = client.get(reverse("admin:console_find"), {"q": member.member_number})

    assert response["Location"] == reverse("admin:console_member_360", args=[member.pk])  # their store's: Member 360


def test_an_unknown_phone_goes_to_the_member_list_saying_so(client):
    client.force_login(make_staff()["clerk_a"])

    response = client.get(reverse("admin:console_find"), {"q": "+852 6123 0000"}, follow=True)

    assert response.redirect_chain[0][0] == reverse("admin:members_member_changelist") + "?q=%2B852+6123+0000"
    assert "No member has this phone, member number or card code." in response.content.decode()


def test_a_name_searches_the_member_list_in_the_store_scope(client):
    staff = make_staff()
    MemberFactory(name="Bella Wong", home_store=staff["manager_b"].store)
    client.force_login(staff["manager_a"])

    response = client.get(reverse("admin:console_find"), {"q": "Bella"}, follow=True)

    assert response.redirect_chain[0][0] == reverse("admin:members_member_changelist") + "?q=Bella"
    assert "Bella Wong" not in response.content.decode()


def test_staff_without_member_access_cannot_search(client):
    client.force_login(UserFactory())

    assert client.get(reverse("admin:console_find"), {"q": "91234567"}).status_code == 403


# -- empty lists -----------------------------------------------------------------------------------------------------


def test_an_empty_list_says_what_to_do_first(client):
    client.force_login(make_staff()["merchant_admin"])

    page = client.get(reverse("admin:points_earningrule_changelist")).content.decode()

    assert "No earning rules yet: add one" in page


def test_a_search_that_finds_nothing_says_so(client):
    client.force_login(make_staff()["merchant_admin"])

    page = client.get(reverse("admin:points_earningrule_changelist"), {"q": "nothing like this"}).content.decode()

    assert "No row matches this search or these filters." in page
