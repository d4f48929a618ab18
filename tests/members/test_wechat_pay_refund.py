"""The WeChat Pay client's refund call, against the fake WeChat Pay on 127.0.0.1 with real signatures both ways."""

from decimal import Decimal

import pytest

from infra.errors import PaymentNotConfirmed, PaymentProviderUnavailable
from infra.wechat_pay import WechatPayClient


def _refund(client, **fields):
    return client.refund(
        **{"out_trade_no": "MP1", "out_refund_no": "MP1-R", "amount": Decimal("995.00"), "total": Decimal("995.00"),
           "currency": "HKD", "reason": "held points gone", **fields}
    )  # fmt: skip


def test_a_refund_is_signed_sent_and_read(wechat_pay):
    wechat_pay.add_order("MP1", total=99500, openid="o-1")

    refund = _refund(WechatPayClient())

    assert (refund.out_refund_no, refund.status, refund.is_accepted) == ("MP1-R", "SUCCESS", True)
    [request] = wechat_pay.requests_to(wechat_pay.REFUND_PATH)
    assert request.method == "POST"
    assert request.json() == {
        "out_trade_no": "MP1", "out_refund_no": "MP1-R", "reason": "held points gone",
        "notify_url": "https://loyalty.test/api/v1/wechat-pay/notify",
        "amount": {"refund": 99500, "total": 99500, "currency": "HKD"},
    }  # fmt: skip


def test_asking_again_under_one_refund_number_answers_the_first_refund(wechat_pay):
    wechat_pay.add_order("MP1", total=99500, openid="o-1")
    client = WechatPayClient()

    first, second = _refund(client), _refund(client)

    assert first.refund_id == second.refund_id
    assert len(wechat_pay.refunds) == 1


def test_a_refund_still_processing_counts_as_accepted(wechat_pay):
    wechat_pay.add_order("MP1", total=99500, openid="o-1")
    wechat_pay.refund_status = "PROCESSING"

    assert _refund(WechatPayClient()).is_accepted is True


def test_a_refund_of_an_unknown_order_is_not_confirmed(wechat_pay):
    with pytest.raises(PaymentNotConfirmed):
        _refund(WechatPayClient())


@pytest.mark.parametrize("tamper", ["status", "signature"])
def test_a_busy_or_forged_answer_is_a_provider_failure(wechat_pay, tamper):
    wechat_pay.add_order("MP1", total=99500, openid="o-1")
    if tamper == "status":
        wechat_pay.status_override = 503
    else:
        wechat_pay.tamper = True
        wechat_pay.orders["MP1"]["amount"]["total"] = 1

    with pytest.raises(PaymentProviderUnavailable):
        _refund(WechatPayClient(), total=Decimal("0.01"), amount=Decimal("0.01"))


def test_a_refund_processing_is_asked_about_by_its_number_until_it_is_final(wechat_pay):
    wechat_pay.add_order("MP1", total=99500, openid="o-1")
    wechat_pay.refund_status = "PROCESSING"
    client = WechatPayClient()
    accepted = _refund(client)

    processing = client.refund_by_out_refund_no("MP1-R")
    wechat_pay.settle_refund("MP1-R", "SUCCESS")
    done = client.refund_by_out_refund_no("MP1-R")

    assert (accepted.status, accepted.is_final) == ("PROCESSING", False)
    assert (processing.status, processing.is_final, processing.refund_id) == ("PROCESSING", False, accepted.refund_id)
    assert (done.status, done.is_final, done.out_trade_no) == ("SUCCESS", True, "MP1")
    [query] = wechat_pay.requests_to(f"{wechat_pay.REFUND_PATH}/MP1-R")[:1]
    assert query.method == "GET"


def test_asking_about_an_unknown_refund_is_not_confirmed(wechat_pay):
    with pytest.raises(PaymentNotConfirmed):
        WechatPayClient().refund_by_out_refund_no("MP9-R")


@pytest.mark.parametrize("final", ["SUCCESS", "CLOSED", "ABNORMAL"])
def test_a_refund_notification_is_checked_decrypted_and_read(wechat_pay, final):
    wechat_pay.add_order("MP1", total=99500, openid="o-1")
    wechat_pay.refund_status = "PROCESSING"
    client = WechatPayClient()
    _refund(client)
    wechat_pay.settle_refund("MP1-R", final)
    body, headers = wechat_pay.refund_notification("MP1-R", api_v3_key=wechat_pay.api_v3_key)

    refund = client.refund_from_notification(client.notification(headers=headers, body=body.encode()))

    assert (refund.out_refund_no, refund.out_trade_no, refund.status, refund.is_final) == ("MP1-R", "MP1", final, True)
