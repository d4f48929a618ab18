"""The outbound circuit breaker and call cap (infra/circuit.py), driven through the real WeChat and WeChat Pay
clients against fake servers on 127.0.0.1 that fail, answer 500 or hang."""

import threading
import time

import pytest

from infra.errors import PaymentNotConfirmed, PaymentProviderUnavailable, WechatLoginFailed, WechatUnavailable
from infra.wechat import WechatClient, wechat_breaker
from infra.wechat_pay import WechatPayClient
from members.models import Member
from tests.fakes import FakeResponse

LOGIN_URL = "/api/v1/auth/wechat-login"


class FakeClock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def breaker_settings(settings):
    settings.OUTBOUND_BREAKER_FAILURES = 3
    settings.OUTBOUND_BREAKER_WINDOW_SECONDS = 60
    settings.OUTBOUND_BREAKER_COOLDOWN_SECONDS = 30
    settings.OUTBOUND_MAX_CONCURRENT_CALLS = 0
    return settings


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def client(fake_wechat, breaker_settings, clock):
    """A WeChat client whose breaker reads a clock the test moves."""
    return WechatClient(breaker=wechat_breaker(call_seconds=4, clock=clock))


def wechat_fails(fake_wechat):
    fake_wechat.route("GET", "/sns/jscode2session", lambda request: FakeResponse(status=500, body=b"oops"))


def wechat_recovers(fake_wechat):
    fake_wechat.route("GET", "/sns/jscode2session", fake_wechat._code2session)


def fail_times(client, count):
    for _ in range(count):
        with pytest.raises(WechatUnavailable):
            client.code_to_session(code="c")


def test_consecutive_failures_open_the_breaker_and_the_next_call_is_refused_without_asking_wechat(client, fake_wechat):
    # given WeChat answering 500 three times (the threshold)
    wechat_fails(fake_wechat)
    fail_times(client, 3)
    assert client.breaker.state == "open"

    # when
    with pytest.raises(WechatUnavailable) as refused:
        client.code_to_session(code="c")

    # then
    assert refused.value.headers == {"Retry-After": "30"}
    assert len(fake_wechat.requests_to("/sns/jscode2session")) == 3


def test_fewer_failures_than_the_threshold_leave_the_breaker_closed(client, fake_wechat):
    wechat_fails(fake_wechat)

    fail_times(client, 2)

    assert client.breaker.state == "closed"


def test_a_success_between_failures_starts_the_count_again(client, fake_wechat):
    # given two failures, then a success
    wechat_fails(fake_wechat)
    fail_times(client, 2)
    wechat_recovers(fake_wechat)
    fake_wechat.add_login_code("code-1", openid="o-alice")
    client.code_to_session(code="code-1")

    # when two more failures
    wechat_fails(fake_wechat)
    fail_times(client, 2)

    # then the breaker is still closed: the failures were not consecutive
    assert client.breaker.state == "closed"


def test_failures_spread_wider_than_the_window_do_not_open_the_breaker(client, fake_wechat, settings):
    # given a window of one second; the count's expiry is the cache's own clock, so this waits for real
    client.breaker.window_seconds = 1
    wechat_fails(fake_wechat)
    fail_times(client, 2)
    time.sleep(2.1)

    # when
    fail_times(client, 1)

    # then
    assert client.breaker.state == "closed"


def test_wechat_refusing_the_users_code_is_not_a_failure(client, fake_wechat):
    for _ in range(4):
        with pytest.raises(WechatLoginFailed):
            client.code_to_session(code="unknown")

    assert client.breaker.state == "closed"


def test_a_busy_wechat_counts_as_a_failure(client, fake_wechat):
    fake_wechat.busy = True

    fail_times(client, 3)

    assert client.breaker.state == "open"


def test_the_breaker_refuses_while_the_cooldown_lasts_and_says_how_long_is_left(client, fake_wechat, clock):
    # given an open breaker
    wechat_fails(fake_wechat)
    fail_times(client, 3)

    # when 25 of the 30 seconds have passed
    clock.advance(25)
    with pytest.raises(WechatUnavailable) as refused:
        client.code_to_session(code="c")

    # then
    assert refused.value.headers == {"Retry-After": "5"}
    assert len(fake_wechat.requests_to("/sns/jscode2session")) == 3


def test_after_the_cooldown_the_breaker_is_half_open_and_a_successful_trial_closes_it(client, fake_wechat, clock):
    # given an open breaker whose cooldown has passed, and WeChat healthy again
    wechat_fails(fake_wechat)
    fail_times(client, 3)
    clock.advance(31)
    assert client.breaker.state == "half_open"
    wechat_recovers(fake_wechat)
    fake_wechat.add_login_code("code-1", openid="o-alice")
    fake_wechat.add_login_code("code-2", openid="o-bob")

    # when the trial call succeeds
    login = client.code_to_session(code="code-1")

    # then the breaker is closed and calls go through again
    assert login.openid == "o-alice"
    assert client.breaker.state == "closed"
    assert client.code_to_session(code="code-2").openid == "o-bob"


def test_a_failed_trial_opens_the_breaker_for_another_cooldown(client, fake_wechat, clock):
    # given a half-open breaker and WeChat still failing
    wechat_fails(fake_wechat)
    fail_times(client, 3)
    clock.advance(31)

    # when the trial fails
    fail_times(client, 1)

    # then the next call is refused at once for a whole new cooldown
    assert client.breaker.state == "open"
    with pytest.raises(WechatUnavailable) as refused:
        client.code_to_session(code="c")
    assert refused.value.headers == {"Retry-After": "30"}
    assert len(fake_wechat.requests_to("/sns/jscode2session")) == 4


def test_only_one_trial_call_goes_through_while_half_open(client, fake_wechat, clock):
    # given a half-open breaker
    wechat_fails(fake_wechat)
    fail_times(client, 3)
    clock.advance(31)

    # when a second call comes while the trial is still out
    with client.breaker.call(), pytest.raises(WechatUnavailable) as refused:
        client.code_to_session(code="c")

    # then it is refused without asking WeChat, for about one call's length
    assert refused.value.headers == {"Retry-After": "4"}
    assert len(fake_wechat.requests_to("/sns/jscode2session")) == 3


def test_a_call_beyond_the_cap_is_refused_at_once_while_the_others_wait_on_wechat(fake_wechat, breaker_settings):
    # given one call allowed in flight, and a WeChat that takes a second to answer
    breaker_settings.OUTBOUND_MAX_CONCURRENT_CALLS = 1
    fake_wechat.add_login_code("code-1", openid="o-alice")
    fake_wechat.delay_seconds = 1.0
    waiting = threading.Thread(target=WechatClient().code_to_session, kwargs={"code": "code-1"})
    waiting.start()
    while not fake_wechat.requests_to("/sns/jscode2session"):
        time.sleep(0.01)

    # when
    with pytest.raises(WechatUnavailable) as refused:
        WechatClient().code_to_session(code="code-2")
    first_still_waiting = waiting.is_alive()
    waiting.join()

    # then it was refused while the first call still waited on WeChat, and WeChat was not asked
    assert first_still_waiting
    assert refused.value.headers == {"Retry-After": "1"}
    assert len(fake_wechat.requests_to("/sns/jscode2session")) == 1
    # a refusal by the cap is not WeChat failing
    assert WechatClient().breaker.state == "closed"


def test_the_cap_frees_its_slot_when_the_call_ends(fake_wechat, breaker_settings):
    breaker_settings.OUTBOUND_MAX_CONCURRENT_CALLS = 1
    fake_wechat.add_login_code("code-1", openid="o-alice")
    fake_wechat.add_login_code("code-2", openid="o-bob")

    WechatClient().code_to_session(code="code-1")

    assert WechatClient().code_to_session(code="code-2").openid == "o-bob"


def test_the_breaker_is_shared_by_every_client(fake_wechat, breaker_settings):
    # given failures seen by three clients (three requests, as three workers would)
    wechat_fails(fake_wechat)
    for _ in range(3):
        with pytest.raises(WechatUnavailable):
            WechatClient().code_to_session(code="c")

    # when a fourth client calls
    with pytest.raises(WechatUnavailable):
        WechatClient().code_to_session(code="c")

    # then it did not ask WeChat
    assert len(fake_wechat.requests_to("/sns/jscode2session")) == 3


def test_calls_have_the_configured_connect_and_read_timeouts(settings):
    settings.OUTBOUND_CONNECT_TIMEOUT_SECONDS = 1.5
    settings.WECHAT_TIMEOUT_SECONDS = 4.0
    settings.WECHATPAY_TIMEOUT_SECONDS = 6.0

    assert WechatClient().timeout == (1.5, 4.0)
    assert WechatPayClient().timeout == (1.5, 6.0)


# -- through the API ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_login_while_wechat_hangs_is_answered_at_once_once_the_breaker_is_open(api_client, fake_wechat, settings):
    # given a WeChat that hangs past the read timeout, and a threshold of two
    settings.WECHAT_TIMEOUT_SECONDS = 0.2
    settings.OUTBOUND_BREAKER_FAILURES = 2
    fake_wechat.delay_seconds = 1.0
    for _ in range(2):
        assert api_client.post(LOGIN_URL, {"code": "c"}, format="json").status_code == 503

    # when
    response = api_client.post(LOGIN_URL, {"code": "c"}, format="json")

    # then it was answered without asking WeChat (so without waiting on it): still two requests, not three
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "wechat_unavailable"
    assert response.json()["error"]["message"] == "WeChat could not be reached. Please try again later."
    assert response["Retry-After"] == str(settings.OUTBOUND_BREAKER_COOLDOWN_SECONDS)
    assert len(fake_wechat.requests_to("/sns/jscode2session")) == 2
    assert not Member.objects.exists()


# -- WeChat Pay ----------------------------------------------------------------------------------------------------


def test_wechat_pay_failures_open_its_own_breaker(wechat_pay, breaker_settings, fake_wechat):
    # given WeChat Pay answering 500 three times
    wechat_pay.status_override = 500
    for _ in range(3):
        with pytest.raises(PaymentProviderUnavailable):
            WechatPayClient().payment_by_out_trade_no("WX-1")

    # when
    with pytest.raises(PaymentProviderUnavailable) as refused:
        WechatPayClient().payment_by_out_trade_no("WX-1")

    # then WeChat Pay was not asked again, and WeChat's own breaker is untouched
    assert refused.value.headers == {"Retry-After": "30"}
    assert len(wechat_pay.requests) == 3
    assert WechatClient().breaker.state == "closed"


def test_an_unknown_order_is_not_a_wechat_pay_failure(wechat_pay, breaker_settings):
    for _ in range(4):
        with pytest.raises(PaymentNotConfirmed):
            WechatPayClient().payment_by_out_trade_no("WX-unknown")

    assert len(wechat_pay.requests) == 4
