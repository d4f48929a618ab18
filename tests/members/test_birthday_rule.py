"""One birthday rule (members.formats.birthday_problem): the member API, the CSV import and the console refuse the
same dates, with the same bounds (not before 1900, not in the future) and the same words."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from members.admin.member import MemberAdminForm
from members.formats import EARLIEST_BIRTHDAY, birthday_problem
from members.models import Member
from tests.factories import MemberFactory
from tests.members.import_helpers import csv_bytes, run_import

pytestmark = pytest.mark.django_db

HEADER = "phone,name,birthday"


def today():
    return timezone.localdate()


def refused_dates():
    """(date, message) pairs every door must refuse, relative to today."""
    tomorrow = today() + timedelta(days=1)
    return [
        (date(493, 5, 1), "0493-05-01 is before 1900."),
        (EARLIEST_BIRTHDAY - timedelta(days=1), "1899-12-31 is before 1900."),
        (tomorrow, f"{tomorrow.isoformat()} is in the future."),
        (date(2999, 1, 1), "2999-01-01 is in the future."),
    ]


def accepted_dates():
    return [EARLIEST_BIRTHDAY, date(1990, 5, 17), today()]


def api_refusal(member_client, value: date) -> list[str] | None:
    response = member_client(MemberFactory()).patch("/api/v1/me", {"birthday": value.isoformat()}, format="json")
    if response.status_code == 200:
        return None
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_input")
    return response.json()["error"]["fields"]["birthday"]


def import_refusal(value: date) -> list[str] | None:
    # the import's clock is the job's start: now, so "today" is the same day as the API's
    job = run_import(csv_bytes(HEADER, f"91234567,Ann,{value.isoformat()}"), now=datetime.now(tz=UTC))
    if job.error_count == 0:
        return None
    return [error["message"] for error in job.errors if error["column"] == "birthday"]


def console_refusal(value: date) -> list[str] | None:
    form = MemberAdminForm(data={"name": "Ann", "birthday": value.isoformat(), "status": "active", "locale": "en"})
    form.is_valid()
    return form.errors.get("birthday")


@pytest.mark.parametrize("index", range(4))
def test_the_api_the_import_and_the_console_refuse_the_same_birthday_with_the_same_message(member_client, index):
    value, message = refused_dates()[index]

    assert api_refusal(member_client, value) == [message]
    assert import_refusal(value) == [message]
    assert console_refusal(value) == [message]
    assert not Member.objects.filter(birthday=value).exists()


@pytest.mark.parametrize("index", range(3))
def test_the_api_the_import_and_the_console_accept_the_same_birthday(member_client, index):
    value = accepted_dates()[index]

    assert api_refusal(member_client, value) is None
    assert import_refusal(value) is None
    assert console_refusal(value) is None


def test_the_rule_refuses_before_1900_and_after_today_and_nothing_between():
    day = date(2024, 6, 1)

    assert [birthday_problem(value, today=day) for value in (date(1900, 1, 1), day)] == [None, None]
    assert birthday_problem(date(1899, 12, 31), today=day) == "1899-12-31 is before 1900."
    assert birthday_problem(date(2024, 6, 2), today=day) == "2024-06-02 is in the future."


def test_a_member_may_still_clear_their_birthday(member_client):
    member = MemberFactory(birthday=date(1990, 5, 17))

    response = member_client(member).patch("/api/v1/me", {"birthday": None}, format="json")

    assert (response.status_code, response.json()["birthday"]) == (200, None)
