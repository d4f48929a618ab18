"""Every answer and notification WeChat Pay signs names its key (Wechatpay-Serial); the client trusts only the one
configured (settings.WECHATPAY_PLATFORM_SERIAL). Against the fake WeChat Pay on 127.0.0.1, with real signatures."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from infra.errors import PaymentNotificationRefused, PaymentProviderUnavailable
from infra.wechat_pay import WechatPayClient

CALLS = {
    "query": lambda client: client.payment_by_out_trade_no("MP1"),
    "refund": lambda client: client.refund(
        out_trade_no="MP1", out_refund_no="MP1-R", amount=Decimal("1.00"), total=Decimal("1.00"), currency="HKD"
    ),
    "prepay": lambda client: client.prepay(
        out_trade_no="MP2",
        description="x",
        amount=Decimal("1.00"),
        currency="HKD",
        openid="o-1",
        time_expire=timezone.now() + timedelta(minutes=15),
    ),  # fmt: skip
    "close": lambda client: client.close("MP1"),
    "refund query": lambda client: client.refund_by_out_refund_no("MP1-R"),
}


@pytest.mark.parametrize("call", CALLS)
def test_an_answer_signed_under_an_unknown_serial_is_refused(wechat_pay, call):
    wechat_pay.add_order("MP1", total=100, openid="o-1")
    wechat_pay.refunds["MP1-R"] = {"out_refund_no": "MP1-R", "refund_id": "5001", "status": "SUCCESS"}
    wechat_pay.platform_serial = "PUB_KEY_ID_02"

    with pytest.raises(PaymentProviderUnavailable):
        CALLS[call](WechatPayClient())

    wechat_pay.platform_serial = "PUB_KEY_ID_01"
    wechat_pay.orders.pop("MP2", None)  # the refused prepay was opened all the same: open it afresh
    CALLS[call](WechatPayClient())  # the same call under the configured serial is taken


def test_without_the_platform_serial_wechat_pay_is_not_configured(wechat_pay, settings):
    wechat_pay.add_order("MP1", total=100, openid="o-1")
    settings.WECHATPAY_PLATFORM_SERIAL = ""

    assert WechatPayClient().is_configured is False
    with pytest.raises(PaymentProviderUnavailable):
        WechatPayClient().payment_by_out_trade_no("MP1")
    body, headers = wechat_pay.notification("MP1", api_v3_key=wechat_pay.api_v3_key)
    with pytest.raises(PaymentNotificationRefused):
        WechatPayClient().notification(headers=headers, body=body.encode())


def test_a_notification_under_an_unknown_serial_is_refused(wechat_pay):
    wechat_pay.add_order("MP1", total=100, openid="o-1")
    wechat_pay.platform_serial = "PUB_KEY_ID_02"
    body, headers = wechat_pay.notification("MP1", api_v3_key=wechat_pay.api_v3_key)

    with pytest.raises(PaymentNotificationRefused):
        WechatPayClient().notification(headers=headers, body=body.encode())
