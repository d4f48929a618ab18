"""The console's post-payment rules: a merchant admin defines them; a store manager only looks."""

from decimal import Decimal

import pytest
from django.urls import reverse

from coupons.models import PostPaymentRule
from members.models import Role
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import StoreFactory, UserFactory

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:coupons_postpaymentrule_add")
LIST_URL = reverse("admin:coupons_postpaymentrule_changelist")


def rule_form(template, **overrides):
    data = {
        "name": "Spend HK$300, HK$20 off next time",
        "is_active": "on",
        "template": template.pk,
        "min_paid_amount": "300",
        "channels": ["pos"],
    }
    data.update(overrides)
    return data


def test_a_merchant_admin_creates_a_rule_for_one_store(client):
    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN))
    template, store = CouponTemplateFactory(), StoreFactory()

    response = client.post(ADD_URL, rule_form(template, stores=[store.pk]))

    assert response.status_code == 302
    rule = PostPaymentRule.objects.get()
    assert (rule.min_paid_amount, rule.channels, list(rule.stores.all())) == (Decimal("300.00"), ["pos"], [store])
    assert client.get(LIST_URL).status_code == 200


def test_a_rule_without_a_channel_is_refused_on_the_form(client):
    client.force_login(UserFactory(role=Role.MERCHANT_ADMIN))
    response = client.post(ADD_URL, rule_form(CouponTemplateFactory(), channels=[]))
    assert response.status_code == 200
    assert "channels" in response.context["adminform"].form.errors
    assert not PostPaymentRule.objects.exists()


def test_a_store_manager_sees_the_rules_but_cannot_add_one(client):
    client.force_login(UserFactory(role=Role.STORE_MANAGER, store=StoreFactory()))
    assert client.get(LIST_URL).status_code == 200
    assert client.post(ADD_URL, rule_form(CouponTemplateFactory())).status_code == 403
    assert not PostPaymentRule.objects.exists()
