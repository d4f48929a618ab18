"""Behaviour bonuses through the API: the member reports shares, photos and a completed profile; the till
reports try-ons. A member cannot claim a try-on; replays and caps earn nothing more."""

from datetime import date

import pytest

from points.models import EarningRule
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
ME_URL = "/api/v1/me/behaviour-events"
POS_URL = "/api/v1/pos/behaviour-events"


def rule(event, points, **caps):
    return EarningRule.objects.create(
        name=f"{event} +{points}", kind="behaviour", priority=500 + points, behaviour_event=event, bonus_points=points,
        **caps,
    )  # fmt: skip


def test_a_share_earns_once_per_occurrence(member_client, member, policy):
    rule("share", 3, max_times_per_day=5)
    client = member_client(member)

    first = client.post(ME_URL, {"event": "share", "occurrence_id": "ticket-1"}, format="json")
    replay = client.post(ME_URL, {"event": "share", "occurrence_id": "ticket-1"}, format="json")

    assert first.status_code == 200
    assert first.json() == {"event": "share", "points": 3, "points_balance": 3}
    assert replay.json()["points_balance"] == 3


def test_a_share_past_the_daily_cap_earns_nothing(member_client, member, policy):
    rule("share", 3, max_times_per_day=1)
    client = member_client(member)
    client.post(ME_URL, {"event": "share", "occurrence_id": "a"}, format="json")
    assert client.post(ME_URL, {"event": "share", "occurrence_id": "b"}, format="json").json()["points"] == 0


def test_a_share_needs_an_occurrence_id(member_client, member, policy):
    rule("share", 3)
    response = member_client(member).post(ME_URL, {"event": "share"}, format="json")
    assert response.status_code == 400
    assert "occurrence_id" in response.json()["error"]["fields"]


def test_a_complete_profile_earns_once(member_client, member, policy):
    rule("profile_completed", 20)
    member.name, member.gender, member.birthday, member.email = "Mei", "f", date(1990, 5, 1), "mei@example.com"
    member.save()
    client = member_client(member)

    first = client.post(ME_URL, {"event": "profile_completed"}, format="json").json()
    second = client.post(ME_URL, {"event": "profile_completed"}, format="json").json()

    assert (first["points"], second["points_balance"]) == (20, 20)


def test_an_incomplete_profile_is_refused(member_client, member, policy):
    rule("profile_completed", 20)
    member.email = ""
    member.save()
    response = member_client(member).post(ME_URL, {"event": "profile_completed"}, format="json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "profile_incomplete"


def test_a_member_cannot_claim_a_try_on(member_client, member, policy):
    rule("try_on", 5)
    response = member_client(member).post(ME_URL, {"event": "try_on", "occurrence_id": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "behaviour_not_self_reported"
    member.refresh_from_db()
    assert member.points_balance == 0


def test_a_behaviour_without_an_active_rule_is_a_clear_404(member_client, member, policy):
    response = member_client(member).post(ME_URL, {"event": "photo_upload", "occurrence_id": "p1"}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_behaviour"


def test_the_till_records_a_try_on_for_the_member_it_names(pos_client_for, store, member, policy):
    rule("try_on", 5)
    client = pos_client_for(store)
    body = {"event": "try_on", "occurrence_id": "fitting-7", "member_number": member.member_number}

    first = client.post(POS_URL, body, format="json")
    retry = client.post(POS_URL, body, format="json")

    assert first.status_code == 200
    assert first.json()["points"] == 5
    assert retry.json()["points_balance"] == 5


def test_the_till_must_name_a_member(pos_client_for, store, policy):
    rule("try_on", 5)
    response = pos_client_for(store).post(POS_URL, {"event": "try_on", "occurrence_id": "f"}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid_input",
            "message": "Some fields are invalid.",
            "fields": {"card_code": ["Identify the member by card code, member number or phone."]},
        }
    }


def test_keys_are_not_interchangeable(api_client, member_client, pos_client_for, store, member, policy):
    rule("try_on", 5)
    body = {"event": "try_on", "occurrence_id": "f", "member_number": member.member_number}
    assert member_client(member).post(POS_URL, body, format="json").status_code in (401, 403)
    assert api_client.post(ME_URL, {"event": "share", "occurrence_id": "a"}, format="json").status_code == 401


def test_one_occurrence_id_for_two_members_earns_each_their_own(pos_client_for, store, policy):
    rule("try_on", 5)
    client = pos_client_for(store)
    first, second = MemberFactory(), MemberFactory()

    answers = [
        client.post(POS_URL, {"event": "try_on", "occurrence_id": "fitting-1", "member_number": m.member_number},
                    format="json").json()
        for m in (first, second)
    ]  # fmt: skip

    assert [answer["points_balance"] for answer in answers] == [5, 5]


NOT_SELF_REPORTED = {
    "code": "behaviour_not_self_reported",
    "message": "This behaviour is recorded by a store, not by the member.",
    "fields": {},
}
PROFILE_INCOMPLETE = {
    "code": "profile_incomplete",
    "message": "Fill in your name, gender, birthday and email first.",
    "fields": {},
}
OCCURRENCE_REQUIRED = {
    "code": "invalid_input",
    "message": "Some fields are invalid.",
    "fields": {"occurrence_id": ["This field is required."]},
}


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        # No rule is active: what the member may not report is refused first, the same with or without rules.
        ({"event": "try_on"}, 403, NOT_SELF_REPORTED),
        ({"event": "profile_completed", "occurrence_id": "x"}, 422, PROFILE_INCOMPLETE),
        ({"event": "share"}, 400, OCCURRENCE_REQUIRED),
    ],
)
def test_what_a_member_may_not_report_is_refused_before_the_rules_are_asked(member_client, member, policy, body,
                                                                             status, error):  # fmt: skip
    member.email = ""
    member.save()

    response = member_client(member).post(ME_URL, body, format="json")

    assert (response.status_code, response.json()) == (status, {"error": error})
    member.refresh_from_db()
    assert member.points_balance == 0
