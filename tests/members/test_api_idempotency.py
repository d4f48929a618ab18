"""The request-level idempotency helper that value-creating APIs (POS purchases) wrap their work in."""

import threading

import pytest
from django.db import connection

from infra.errors import InvalidInput, NotFound
from members.errors import IdempotencyKeyReused
from members.models import IdempotencyRecord, Tag
from members.services.idempotency import idempotency_request_hash, idempotency_run

pytestmark = pytest.mark.django_db


def make_tag_action(name, calls):
    def action():
        calls.append(name)
        tag = Tag.objects.create(name=name)
        return 201, {"id": tag.pk, "name": name}

    return action


def test_first_call_runs_the_action_and_stores_its_answer():
    calls = []

    result = idempotency_run(
        scope="pos:1:purchase",
        key="k-1",
        request_hash=idempotency_request_hash({"a": 1}),
        action=make_tag_action("vip", calls),
    )

    assert (result.status_code, result.body["name"], result.is_replay) == (201, "vip", False)
    assert calls == ["vip"]
    record = IdempotencyRecord.objects.get()
    assert (record.scope, record.key, record.status_code) == ("pos:1:purchase", "k-1", 201)
    assert record.response_body == result.body


def test_a_retry_with_the_same_key_and_body_replays_the_first_answer_without_running_again():
    calls = []
    request_hash = idempotency_request_hash({"amount": "100.00", "items": [1, 2]})
    first = idempotency_run(scope="s", key="k-1", request_hash=request_hash, action=make_tag_action("a", calls))

    retry = idempotency_run(scope="s", key="k-1", request_hash=request_hash, action=make_tag_action("b", calls))

    assert retry.is_replay is True
    assert (retry.status_code, retry.body) == (first.status_code, first.body)
    assert calls == ["a"]
    assert list(Tag.objects.values_list("name", flat=True)) == ["a"]


def test_the_same_key_with_a_different_body_is_refused():
    calls = []
    idempotency_run(
        scope="s", key="k-1", request_hash=idempotency_request_hash({"amount": 1}), action=make_tag_action("a", calls)
    )

    with pytest.raises(IdempotencyKeyReused) as excinfo:
        idempotency_run(
            scope="s",
            key="k-1",
            request_hash=idempotency_request_hash({"amount": 2}),
            action=make_tag_action("b", calls),
        )

    assert excinfo.value.code == "idempotency_key_reused"
    assert excinfo.value.status == 422
    assert calls == ["a"]


def test_the_same_key_in_another_scope_is_another_request():
    calls = []
    request_hash = idempotency_request_hash({})

    idempotency_run(scope="pos:1:purchase", key="k-1", request_hash=request_hash, action=make_tag_action("a", calls))
    idempotency_run(scope="pos:2:purchase", key="k-1", request_hash=request_hash, action=make_tag_action("b", calls))

    assert calls == ["a", "b"]


def test_a_failed_action_leaves_no_record_so_the_retry_runs_again():
    def failing():
        Tag.objects.create(name="half-done")
        raise NotFound()

    with pytest.raises(NotFound):
        idempotency_run(scope="s", key="k-1", request_hash="h", action=failing)

    assert not IdempotencyRecord.objects.exists()
    assert not Tag.objects.exists()
    result = idempotency_run(scope="s", key="k-1", request_hash="h", action=make_tag_action("a", []))
    assert result.is_replay is False


def test_the_hash_ignores_key_order_but_not_values():
    assert idempotency_request_hash({"a": 1, "b": [1, 2]}) == idempotency_request_hash({"b": [1, 2], "a": 1})
    assert idempotency_request_hash({"a": 1}) != idempotency_request_hash({"a": "1"})
    assert idempotency_request_hash(b"raw") == idempotency_request_hash("raw")


@pytest.mark.parametrize("key", ["", "   ", "x" * 101, "tab\tkey"])
def test_an_unusable_key_is_refused(key):
    with pytest.raises(InvalidInput) as excinfo:
        idempotency_run(scope="s", key=key, request_hash="h", action=make_tag_action("a", []))

    assert list(excinfo.value.fields) == ["Idempotency-Key"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_run_the_action_once():
    # given 20 threads sending the same request with the same key at once
    calls = []
    barrier = threading.Barrier(20)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(
                idempotency_run(scope="s", key="k-1", request_hash="h", action=make_tag_action("once", calls))
            )
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then exactly one ran; every other got the same answer
    assert errors == []
    assert calls == ["once"]
    assert len(results) == 20
    assert sum(not result.is_replay for result in results) == 1
    assert {result.body["id"] for result in results} == {Tag.objects.get().pk}
