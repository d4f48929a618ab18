"""The console (Django admin at /console/): store scoping, brand-wide member lookup, roles, read-only ledgers,
manual points adjustments and bounded list queries."""

import time
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from members import console
from members.formats import card_code_for
from members.models import Member, MemberToken, PointsEntry, ProgramSettings, Purchase, Role, StoreApiKey
from members.services.ledger import points_credit, points_ledger_drift
from members.services.purchases import Sale, purchase_record
from members.services.tokens import member_token_issue
from tests.console_helpers import form_data
from tests.factories import MemberFactory, StoreFactory, TagFactory, TierFactory, UserFactory

pytestmark = pytest.mark.django_db

MEMBERS_URL = reverse("admin:members_member_changelist")
PURCHASES_URL = reverse("admin:members_purchase_changelist")
ENTRIES_URL = reverse("admin:members_pointsentry_changelist")
STAFF_URL = reverse("admin:members_user_changelist")


def adjust_url(member):
    return reverse("admin:members_member_adjust_points", args=[member.pk])


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def store_a():
    return StoreFactory(code="a", name="Store A")


@pytest.fixture
def store_b():
    return StoreFactory(code="b", name="Store B")


@pytest.fixture
def member_a(store_a):
    return MemberFactory(name="Alice Chan", phone="+85291234567", home_store=store_a)


@pytest.fixture
def member_b(store_b):
    return MemberFactory(name="Bella Wong", phone="+85291234568", home_store=store_b)


@pytest.fixture
def manager_a(store_a):
    return UserFactory(role=Role.STORE_MANAGER, store=store_a)


@pytest.fixture
def clerk_a(store_a):
    return UserFactory(role=Role.CLERK, store=store_a)


@pytest.fixture
def merchant_admin():
    return UserFactory(role=Role.MERCHANT_ADMIN)


def login(client, user):
    client.force_login(user)
    return client


# -- store scoping ---------------------------------------------------------------------------------


def test_store_staff_list_only_their_store_members(client, manager_a, member_a, member_b):
    response = login(client, manager_a).get(MEMBERS_URL)

    assert response.status_code == 200
    assert member_a.member_number in response.text
    assert member_b.member_number not in response.text


def test_staff_without_a_store_list_every_member(client, merchant_admin, member_a, member_b):
    response = login(client, merchant_admin).get(MEMBERS_URL)

    assert member_a.member_number in response.text
    assert member_b.member_number in response.text


def test_store_staff_list_only_purchases_made_in_their_store(client, clerk_a, store_a, store_b, member_b, now):
    for store, external_id in ((store_a, "SALE-IN-A"), (store_b, "SALE-IN-B")):
        purchase_record(
            Sale(
                store_id=store.pk,
                channel="pos",
                external_id=external_id,
                purchased_at=now,
                gross_amount=Decimal("100.00"),
                payment_method="octopus",
                member_id=member_b.pk,
            )
        )

    response = login(client, clerk_a).get(PURCHASES_URL)

    assert "SALE-IN-A" in response.text
    assert "SALE-IN-B" not in response.text


def test_store_staff_cannot_open_a_purchase_of_another_store(client, clerk_a, store_b, now):
    purchase = purchase_record(
        Sale(
            store_id=store_b.pk,
            channel="pos",
            external_id="SALE-IN-B",
            purchased_at=now,
            gross_amount=Decimal("100.00"),
            payment_method="cash",
        )
    )

    response = login(client, clerk_a).get(reverse("admin:members_purchase_change", args=[purchase.pk]))

    assert response.status_code == 302  # Django's "does not exist" redirect to the index
    assert Purchase.objects.count() == 1


@pytest.mark.parametrize(
    "search_term",
    ["+85291234568", "91234568", "9123 4568", "member_number", "card_code"],
    ids=["e164", "local-8-digits", "spaced", "member-number", "card-code"],
)
def test_exact_identifier_finds_a_member_of_another_store(client, clerk_a, member_a, member_b, search_term):
    if search_term == "member_number":
        search_term = member_b.member_number
    elif search_term == "card_code":
        search_term = card_code_for(member_b.member_number, timestamp=time.time())

    response = login(client, clerk_a).get(MEMBERS_URL, {"q": search_term})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [member_b]


def test_mainland_mobile_finds_a_member_of_another_store(client, clerk_a, store_b):
    member = MemberFactory(phone="+8613800138000", home_store=store_b)

    response = login(client, clerk_a).get(MEMBERS_URL, {"q": "13800138000"})

    assert list(response.context["cl"].result_list) == [member]


def test_partial_name_search_stays_in_the_store(client, clerk_a, member_a, member_b):
    response = login(client, clerk_a).get(MEMBERS_URL, {"q": "Bella"})

    assert list(response.context["cl"].result_list) == []


def test_partial_phone_search_stays_in_the_store(client, clerk_a, member_a, member_b):
    response = login(client, clerk_a).get(MEMBERS_URL, {"q": "9123456"})

    assert list(response.context["cl"].result_list) == [member_a]


def test_member_of_another_store_found_by_an_exact_lookup_opens_read_only(client, manager_a, member_b):
    login(client, manager_a).get(MEMBERS_URL, {"q": member_b.phone})

    response = client.get(reverse("admin:members_member_change", args=[member_b.pk]))

    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert "Bella Wong" in response.text


def test_member_of_another_store_found_by_the_headers_search_opens(client, clerk_a, member_b):
    response = login(client, clerk_a).get(reverse("admin:console_find"), {"q": member_b.member_number})

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:members_member_change", args=[member_b.pk])
    assert client.get(response["Location"]).status_code == 200


def test_member_of_another_store_does_not_open_by_id_alone(client, clerk_a, member_a, member_b):
    # given a clerk who has looked nobody up (a partial search stays in their store and admits nobody)
    login(client, clerk_a).get(MEMBERS_URL, {"q": "Bella"})

    # when they open members by id, as someone walking the ids would
    theirs = client.get(reverse("admin:members_member_change", args=[member_b.pk]))
    ours = client.get(reverse("admin:members_member_change", args=[member_a.pk]))

    # then only their store's member opens; the other is answered as a member that does not exist
    assert (theirs.status_code, theirs["Location"]) == (302, "/console/")
    assert "Bella Wong" not in client.get("/console/").text
    assert ours.status_code == 200


def test_a_visitor_opens_for_a_shift_not_for_ever(client, clerk_a, member_b, monkeypatch):
    login(client, clerk_a).get(MEMBERS_URL, {"q": member_b.phone})
    url = reverse("admin:members_member_change", args=[member_b.pk])
    later = time.time() + 13 * 3600
    monkeypatch.setattr(console, "time", SimpleNamespace(time=lambda: later))  # the console's clock, 13 hours on

    assert client.get(url).status_code == 302


def test_member_of_another_store_cannot_be_changed(client, manager_a, member_b):
    url = reverse("admin:members_member_change", args=[member_b.pk])
    login(client, manager_a).get(MEMBERS_URL, {"q": member_b.member_number})

    response = client.post(url, {"name": "Changed", "status": "active"})

    assert response.status_code == 403
    member_b.refresh_from_db()
    assert member_b.name == "Bella Wong"


def test_store_staff_pick_only_their_store_for_a_new_member(client, manager_a, store_a, store_b):
    response = login(client, manager_a).get(reverse("admin:members_member_add"))

    choices = list(response.context["adminform"].form.fields["home_store"].queryset)
    assert choices == [store_a]
    assert response.context["adminform"].form.initial["home_store"] == store_a.pk


def test_console_creates_a_member_with_a_member_number_and_normalised_phone(client, manager_a, store_a):
    tier = TierFactory(code="V1", rank=1)
    tag = TagFactory(name="VIP")

    response = login(client, manager_a).post(
        reverse("admin:members_member_add"),
        {
            "name": "Carmen Lee",
            "phone": "9222 3333",
            "status": "active",
            "locale": "zh-hant",
            "home_store": store_a.pk,
            "tags": [tag.pk],
            "join_source": "",
            "points_entries-TOTAL_FORMS": "0",
            "points_entries-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    member = Member.objects.get(phone="+85292223333")
    assert len(member.member_number) == 10
    assert (member.tier, member.join_source, member.home_store) == (tier, "console", store_a)
    assert list(member.tags.all()) == [tag]
    assert member.joined_at is not None


def _change_form_post(client, member, **changes):
    url = reverse("admin:members_member_change", args=[member.pk])
    page = client.get(url)
    data = {**form_data(page.context["adminform"].form), **changes}
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({f"{management.prefix}-{name}": value for name, value in management.initial.items()})
    return client.post(url, data)


def test_staff_changing_a_consent_dates_the_consents_and_other_edits_do_not(client, manager_a, member_a):
    login(client, manager_a)
    Member.objects.filter(pk=member_a.pk).update(consent_updated_at=None)

    renamed = _change_form_post(client, member_a, name="Alice C.")
    member_a.refresh_from_db()
    undated = member_a.consent_updated_at
    before = timezone.now()
    opted_in = _change_form_post(client, member_a, consent_sms="on")

    assert (renamed.status_code, opted_in.status_code) == (302, 302)
    member_a.refresh_from_db()
    assert undated is None
    assert member_a.consent_sms is True
    assert before <= member_a.consent_updated_at <= timezone.now()


def test_another_stores_member_opens_without_their_ledgers_and_tier_history(client, manager_a, member_a, member_b, now):
    for member in (member_a, member_b):
        points_credit(member_id=member.pk, points=100, idempotency_key=f"ledger:{member.pk}", now=now, reason="gift")
    login(client, manager_a).get(MEMBERS_URL, {"q": member_b.phone})

    theirs = client.get(reverse("admin:members_member_change", args=[member_b.pk]))
    ours = client.get(reverse("admin:members_member_change", args=[member_a.pk]))

    assert theirs.status_code == 200  # the till serves a visitor of another store
    assert theirs.context["inline_admin_formsets"] == []
    assert {inline.formset.prefix for inline in ours.context["inline_admin_formsets"]} >= {"points_entries"}


# -- roles --------------------------------------------------------------------------------------------


def test_clerk_cannot_open_the_adjustment_form(client, clerk_a, member_a):
    response = login(client, clerk_a).get(adjust_url(member_a))

    assert response.status_code == 403


def test_clerk_does_not_see_the_adjustment_link_or_action(client, clerk_a, member_a):
    client = login(client, clerk_a)

    member_page = client.get(reverse("admin:members_member_change", args=[member_a.pk]))
    member_list = client.get(MEMBERS_URL)

    assert adjust_url(member_a) not in member_page.text
    assert "adjust_points_action" not in member_list.text


def test_clerk_cannot_post_an_adjustment(client, clerk_a, member_a):
    response = login(client, clerk_a).post(adjust_url(member_a), {"points": 100, "reason": "x", "idempotency_key": "k"})

    assert response.status_code == 403
    assert PointsEntry.objects.count() == 0


@pytest.mark.parametrize("role", [Role.CLERK, Role.STORE_MANAGER])
def test_store_staff_cannot_see_the_staff_admin(client, store_a, role):
    user = UserFactory(role=role, store=store_a)
    client = login(client, user)

    assert client.get(STAFF_URL).status_code == 403
    assert STAFF_URL not in client.get(reverse("admin:index")).text


def test_merchant_admin_manages_staff_but_not_superusers(client, merchant_admin, admin_user, clerk_a):
    response = login(client, merchant_admin).get(STAFF_URL)

    assert response.status_code == 200
    listed = set(response.context["cl"].result_list)
    assert clerk_a in listed
    assert admin_user not in listed


def test_merchant_admin_cannot_grant_superuser_status(client, merchant_admin, clerk_a):
    response = login(client, merchant_admin).get(reverse("admin:members_user_change", args=[clerk_a.pk]))

    form_fields = response.context["adminform"].form.fields
    assert "is_superuser" not in form_fields
    assert "user_permissions" not in form_fields
    assert "store" in form_fields


# -- manual points adjustments ---------------------------------------------------------------------------


def test_adjustment_without_a_reason_is_refused(client, merchant_admin, member_a):
    response = login(client, merchant_admin).post(
        adjust_url(member_a), {"points": 100, "reason": "   ", "idempotency_key": "k1"}
    )

    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert PointsEntry.objects.count() == 0


def test_adjustment_with_a_reason_writes_an_entry_by_the_staff_user(client, merchant_admin, member_a):
    response = login(client, merchant_admin).post(
        adjust_url(member_a), {"points": 150, "reason": "Goodwill: late delivery", "idempotency_key": "k1"}
    )

    assert response.status_code == 302
    assert response.url == reverse("admin:members_member_change", args=[member_a.pk])
    entry = PointsEntry.objects.get()
    assert (entry.kind, entry.delta, entry.reason, entry.created_by) == (
        "addition",
        150,
        "Goodwill: late delivery",
        merchant_admin,
    )
    assert entry.idempotency_key == "console:adjust:k1"
    member_a.refresh_from_db()
    assert member_a.points_balance == 150
    assert any("150" in message for message in messages_of(response))
    assert points_ledger_drift() == []


def test_a_resubmitted_adjustment_is_written_once(client, merchant_admin, member_a):
    client = login(client, merchant_admin)
    data = {"points": 40, "reason": "Birthday gift", "idempotency_key": "same-form"}

    client.post(adjust_url(member_a), data)
    client.post(adjust_url(member_a), data)

    assert PointsEntry.objects.count() == 1
    member_a.refresh_from_db()
    assert member_a.points_balance == 40


def test_a_removal_beyond_the_balance_is_reported_not_written(client, merchant_admin, member_a, now):
    points_credit(member_id=member_a.pk, points=30, idempotency_key="seed", now=now)

    response = login(client, merchant_admin).post(
        adjust_url(member_a), {"points": -50, "reason": "Correction", "idempotency_key": "k2"}
    )

    assert response.status_code == 200
    assert PointsEntry.objects.count() == 1
    assert any("not have enough points" in message for message in messages_of(response))


def test_adjustment_form_offers_a_fresh_idempotency_key(client, merchant_admin, member_a):
    client = login(client, merchant_admin)

    first = client.get(adjust_url(member_a)).context["form"].initial["idempotency_key"]
    second = client.get(adjust_url(member_a)).context["form"].initial["idempotency_key"]

    assert first != second


def test_store_scoped_admin_cannot_adjust_a_member_of_another_store(client, store_a, member_b):
    scoped_admin = UserFactory(role=Role.MERCHANT_ADMIN, store=store_a)

    login(client, scoped_admin).get(MEMBERS_URL, {"q": member_b.phone})  # found at the till: the form opens

    response = client.get(adjust_url(member_b))

    assert response.status_code == 403


def test_adjust_action_redirects_to_the_form_for_one_member(client, merchant_admin, member_a):
    response = login(client, merchant_admin).post(
        MEMBERS_URL, {"action": "adjust_points_action", "_selected_action": [member_a.pk]}
    )

    assert response.status_code == 302
    assert response.url == adjust_url(member_a)


# -- read-only ledgers -------------------------------------------------------------------------------------


def _request_as(user):
    request = RequestFactory().get("/console/")
    request.user = user
    return request


def test_points_entry_admin_is_read_only_even_for_a_superuser(admin_user, member_a, now):
    entry = points_credit(member_id=member_a.pk, points=10, idempotency_key="k", now=now)
    model_admin = admin.site._registry[PointsEntry]
    request = _request_as(admin_user)

    assert model_admin.has_view_permission(request, entry)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, entry)
    assert not model_admin.has_delete_permission(request, entry)


def test_ledger_inline_is_read_only_even_for_a_superuser(admin_user, member_a):
    model_admin = admin.site._registry[Member]
    request = _request_as(admin_user)
    (inline,) = [i for i in model_admin.get_inline_instances(request, member_a) if i.model is PointsEntry]

    assert not inline.has_add_permission(request, member_a)
    assert not inline.has_change_permission(request, member_a)
    assert not inline.has_delete_permission(request, member_a)


def test_member_page_shows_the_ledger_inline(client, admin_user, member_a, now):
    points_credit(member_id=member_a.pk, points=77, idempotency_key="k", now=now, reason="Welcome bonus")

    response = login(client, admin_user).get(reverse("admin:members_member_change", args=[member_a.pk]))

    assert "Welcome bonus" in response.text
    assert "points_entries-TOTAL_FORMS" in response.text


def test_points_entry_add_page_is_forbidden(client, admin_user):
    response = login(client, admin_user).get(reverse("admin:members_pointsentry_add"))

    assert response.status_code == 403


def test_points_entries_are_scoped_to_the_store_members(client, clerk_a, member_a, member_b, now):
    points_credit(member_id=member_a.pk, points=11, idempotency_key="a", now=now, reason="entry-of-a")
    points_credit(member_id=member_b.pk, points=22, idempotency_key="b", now=now, reason="entry-of-b")

    response = login(client, clerk_a).get(ENTRIES_URL)

    assert "entry-of-a" in response.text
    assert "entry-of-b" not in response.text


# -- stores, settings, tokens ------------------------------------------------------------------------------


def test_create_pos_key_action_shows_the_key_once(client, admin_user, store_a):
    response = login(client, admin_user).post(
        reverse("admin:members_store_changelist"),
        {"action": "create_pos_key", "_selected_action": [store_a.pk]},
        follow=True,
    )

    key = StoreApiKey.objects.get(store=store_a)
    shown = [str(m) for m in response.context["messages"]]
    assert len(shown) == 1
    assert f"{key.prefix}." in shown[0]
    assert "pk_" in response.text
    assert "pk_" not in client.get(reverse("admin:members_store_change", args=[store_a.pk])).text.split(key.prefix)[1]


def test_store_manager_cannot_create_pos_keys(client, manager_a, store_a):
    login(client, manager_a).post(
        reverse("admin:members_store_changelist"), {"action": "create_pos_key", "_selected_action": [store_a.pk]}
    )

    assert StoreApiKey.objects.count() == 0


def test_program_settings_is_a_singleton(client, admin_user):
    ProgramSettings.load()
    client = login(client, admin_user)

    listing = client.get(reverse("admin:members_programsettings_changelist"))

    assert listing.status_code == 302
    assert listing.url == reverse("admin:members_programsettings_change", args=[1])
    assert client.get(reverse("admin:members_programsettings_add")).status_code == 403
    assert client.get(reverse("admin:members_programsettings_delete", args=[1])).status_code == 403


def test_revoke_action_revokes_member_tokens(client, admin_user, member_a, now):
    member_token_issue(member_id=member_a.pk, now=now)

    login(client, admin_user).post(
        reverse("admin:members_membertoken_changelist"),
        {"action": "revoke_tokens", "_selected_action": list(MemberToken.objects.values_list("pk", flat=True))},
    )

    assert MemberToken.objects.get().revoked_at is not None


def test_member_tokens_cannot_be_added(client, admin_user):
    response = login(client, admin_user).get(reverse("admin:members_membertoken_add"))

    assert response.status_code == 403


# -- bounded queries ------------------------------------------------------------------------------------------


@pytest.fixture
def busy_store(store_a, store_b, now):
    tiers = [TierFactory(code=f"V{rank}", rank=rank) for rank in (1, 2)]
    tags = [TagFactory(name=name) for name in ("VIP", "Student")]
    for index in range(30):
        member = MemberFactory(home_store=store_a if index % 3 else store_b, tier=tiers[index % 2])
        member.tags.set(tags[: index % 3])
        purchase = purchase_record(
            Sale(
                store_id=member.home_store_id,
                channel="pos",
                external_id=f"S{index}",
                purchased_at=now,
                gross_amount=Decimal("200.00"),
                payment_method="payme",
                member_id=member.pk,
            )
        )
        points_credit(member_id=member.pk, points=20, idempotency_key=f"p{index}", now=now, purchase_id=purchase.pk)
        member_token_issue(member_id=member.pk, now=now)
    return store_a


@pytest.mark.parametrize(
    "url_name",
    [
        "members_member_changelist",
        "members_purchase_changelist",
        "members_pointsentry_changelist",
        "members_membertoken_changelist",
        "members_store_changelist",
        "members_tag_changelist",
        "members_user_changelist",
        "members_memberimportjob_changelist",
        "members_tier_changelist",
    ],
)
@pytest.mark.parametrize("scoped", [False, True], ids=["all-stores", "store-scoped"])
def test_list_pages_cost_a_bounded_number_of_queries(
    client, django_assert_max_num_queries, busy_store, url_name, scoped
):
    user = UserFactory(role=Role.MERCHANT_ADMIN, store=busy_store if scoped else None)
    client = login(client, user)
    url = reverse(f"admin:{url_name}")

    with django_assert_max_num_queries(15):
        response = client.get(url)

    assert response.status_code == 200


@pytest.mark.parametrize("scoped", [False, True], ids=["all-stores", "store-scoped"])
def test_member_page_costs_a_bounded_number_of_queries(client, django_assert_max_num_queries, busy_store, now, scoped):
    member = Member.objects.filter(home_store=busy_store).first()
    for index in range(20):
        points_credit(member_id=member.pk, points=5, idempotency_key=f"extra{index}", now=now)
    client = login(client, UserFactory(role=Role.MERCHANT_ADMIN, store=busy_store if scoped else None))

    # 17: the page's own reads plus the sidebar's count of refunds WeChat Pay would not take (its badge).
    with django_assert_max_num_queries(17):
        response = client.get(reverse("admin:members_member_change", args=[member.pk]))

    assert response.status_code == 200


def test_store_scoped_admin_creates_staff_only_for_their_store(client, store_a, store_b):
    scoped_admin = UserFactory(role=Role.MERCHANT_ADMIN, store=store_a)

    response = login(client, scoped_admin).get(reverse("admin:members_user_add"))

    store_field = response.context["adminform"].form.fields["store"]
    assert list(store_field.queryset) == [store_a]
    assert store_field.required
