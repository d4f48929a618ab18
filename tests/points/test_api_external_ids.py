"""A till's sale ids are the POS's own: whatever printable id it sends, the sale can be refunded by it."""

from urllib.parse import quote

import pytest

from members.models import Purchase

pytestmark = pytest.mark.django_db


@pytest.fixture
def till(store, pos_client_for):
    return pos_client_for(store)


def sell(till, member, external_id):
    body = {
        "external_id": external_id,
        "gross_amount": "1000.00",
        "payment_method": "card",
        "member_number": member.member_number,
    }
    response = till.post("/api/v1/pos/purchases", body, format="json")
    assert response.status_code == 201, response.json()


def refund(till, url_id, refund_id="R-1", amount="100.00"):
    url = f"/api/v1/pos/purchases/{url_id}/refunds"
    return till.post(url, {"refund_id": refund_id, "amount": amount}, format="json")


@pytest.mark.parametrize(
    "external_id", ["A/1", "2024/05/17/0042", "/leading", "trailing/", "A//1", "S/refunds", "preview", "店/1 號"]
)
def test_a_sale_whose_id_has_slashes_is_refunded_by_that_id(till, member, policy, external_id):
    sell(till, member, external_id)

    response = refund(till, external_id)

    assert response.status_code == 201, response.content
    assert response.json()["external_id"] == external_id
    assert Purchase.objects.get(external_id=external_id).status == "partially_refunded"


@pytest.mark.parametrize("external_id", ["A/1", "A 1?x=1#y", "100%", "店/1"])
def test_a_sale_id_sent_url_encoded_is_refunded_by_that_id(till, member, policy, external_id):
    sell(till, member, external_id)

    response = refund(till, quote(external_id, safe=""))

    assert response.status_code == 201, response.content
    assert response.json()["external_id"] == external_id


def test_the_refund_of_a_sale_id_with_a_slash_is_idempotent(till, member, policy):
    sell(till, member, "A/1")

    first = refund(till, "A/1")
    again = refund(till, quote("A/1", safe=""))

    assert (again.status_code, again.json()) == (201, first.json())
    assert Purchase.objects.get().refunds.count() == 1


def test_a_sale_id_that_only_shares_a_prefix_is_not_refunded(till, member, policy):
    sell(till, member, "A/1")

    response = refund(till, "A")

    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


def test_the_sale_preview_is_still_a_preview_not_a_refund(till, member, policy):
    response = till.post(
        "/api/v1/pos/purchases/preview",
        {"gross_amount": "100.00", "member_number": member.member_number},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert "points_earned" in response.json()


@pytest.mark.parametrize("external_id", ["A\t1", "A\n1", "A\u20281"])
def test_a_sale_id_with_a_control_character_is_refused_at_the_sale(till, member, policy, external_id):
    # such an id could never be written in the refund's URL: refuse it before the sale exists
    body = {"external_id": external_id, "gross_amount": "10.00", "payment_method": "card"}

    response = till.post("/api/v1/pos/purchases", body, format="json")

    assert (response.status_code, list(response.json()["error"]["fields"])) == (400, ["external_id"])
    assert Purchase.objects.count() == 0
