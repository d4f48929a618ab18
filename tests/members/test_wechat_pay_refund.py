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
