"""Stored value in the console: the adjustment form on the member page (permission and reason required), and the
check_stored_value_ledger command that reports drift."""

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from members.models import Member, Role, StoredValueEntry
from members.services.stored_value import stored_value_top_up
from tests.factories import MemberFactory, StoreFactory, TopUpOfferFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def store():
    return StoreFactory(code="central")


@pytest.fixture
def member(store, now):
    member = MemberFactory(home_store=store)
    offer = TopUpOfferFactory(pay_amount=Decimal("100.00"), bonus_amount=Decimal("0.00"))
    stored_value_top_up(member_id=member.pk, offer_id=offer.pk, provider="fps", transaction_id="f-1", now=now)
    return member


def adjust_url(member):
    return reverse("admin:members_storedvalueentry_adjust", args=[member.pk])


def post(client, member, **fields):
    return client.post(adjust_url(member), {"amount": "-30.50", "reason": "Refund at the counter",
                                            "idempotency_key": "k1", **fields})  # fmt: skip


def test_a_merchant_admin_adjusts_stored_value_with_a_reason(client, member):
    admin_user = UserFactory(role=Role.MERCHANT_ADMIN)
    client.force_login(admin_user)

    response = post(client, member)

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:members_member_change", args=[member.pk])
    entry = StoredValueEntry.objects.get(kind="adjustment")
    assert (entry.amount, entry.balance_after, entry.reason, entry.created_by_id, entry.source) == (
        Decimal("-30.50"), Decimal("69.50"), "Refund at the counter", admin_user.pk, "console",
    )  # fmt: skip
    member.refresh_from_db()
    assert member.stored_value_balance == Decimal("69.50")


def test_a_resubmitted_form_adjusts_once(client, member):
    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN))

    post(client, member)
    post(client, member)

    assert StoredValueEntry.objects.filter(kind="adjustment").count() == 1


@pytest.mark.parametrize("role", [Role.CLERK, Role.STORE_MANAGER])
def test_staff_without_the_permission_cannot_adjust(client, member, store, role):
    client.force_login(UserFactory(role=role, store=store))

    form = client.get(adjust_url(member))
    response = post(client, member)

    assert (form.status_code, response.status_code) == (403, 403)
    assert StoredValueEntry.objects.filter(kind="adjustment").count() == 0


def test_an_admin_of_another_store_cannot_adjust(client, member):
    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN, store=StoreFactory(code="mongkok")))
    client.get("/console/members/member/", {"q": member.member_number})  # found at the till: the member opens

    response = post(client, member)

    assert response.status_code == 403
    assert StoredValueEntry.objects.filter(kind="adjustment").count() == 0


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [({"reason": ""}, "reason"), ({"reason": "   "}, "reason"), ({"amount": "0"}, "amount"),
     ({"amount": "1.001"}, "amount")],
)  # fmt: skip
def test_an_adjustment_without_a_reason_or_amount_is_refused(client, member, fields, error_field):
    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN))

    response = post(client, member, **fields)

    assert response.status_code == 200
    assert list(response.context["form"].errors) == [error_field]
    assert StoredValueEntry.objects.filter(kind="adjustment").count() == 0


def test_removing_more_than_the_balance_is_refused(client, member):
    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN))

    response = post(client, member, amount="-100.01")

    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == ["The member's stored value does not cover this amount."]
    assert StoredValueEntry.objects.filter(kind="adjustment").count() == 0


def test_the_member_page_shows_the_adjust_button_only_with_the_permission(client, member, store):
    change_url = reverse("admin:members_member_change", args=[member.pk])

    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN))
    as_admin = client.get(change_url).content.decode()
    client.force_login(UserFactory(role=Role.CLERK, store=store))
    as_clerk = client.get(change_url).content.decode()

    assert 'id="adjust-stored-value-link"' in as_admin
    assert "HK$100.00" in as_clerk
    assert 'id="adjust-stored-value-link"' not in as_clerk


# -- the reconcile command ----------------------------------------------------------------------------------------
def test_the_check_passes_when_every_balance_equals_its_entries(member, capsys):
    call_command("check_stored_value_ledger")

    assert capsys.readouterr().out == "Stored-value ledger consistent for every member.\n"


def test_the_check_reports_drift_and_fails(member, capsys):
    Member.objects.filter(pk=member.pk).update(stored_value_balance=Decimal("90.00"))

    with pytest.raises(CommandError) as failed:
        call_command("check_stored_value_ledger")

    assert str(failed.value) == "1 member(s) drift from their stored-value ledger."
    assert capsys.readouterr().out == f"member {member.pk}: balance=90.00 entries_sum=100.00\n"
