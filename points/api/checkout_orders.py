"""The mini program's checkout orders: hold what the cart spends, pay through WeChat Pay, confirm.

1. `POST /me/checkout-orders` (with an Idempotency-Key) prices the cart as `/me/purchases/preview` does, reserves its
   coupon and holds its points and stored value, and opens the WeChat Pay order (JSAPI prepay, payable until
   `expires_at`, when the hold ends); the answer gives `amount_due`, `out_trade_no` and `payment`, the signed
   parameters to pass to `wx.requestPayment`. When WeChat Pay will not open the order nothing stays held and the
   answer is 503 `payment_provider_unavailable` (no answer) or 502 `payment_prepay_refused`.
2. The mini program pays with `wx.requestPayment(payment)`.
3. `POST /me/checkout-orders/{id}/confirm` records the purchase once WeChat Pay confirms the payment: the answer is
   the order, `paid`, with the purchase. A payment that can no longer be honoured (what the order held was
   released and spent meanwhile, for instance) is refunded through WeChat Pay: the order is `refunded` (or
   `refund_pending` while WeChat Pay has not taken the refund yet, `refunding` while it processes it) with its reason;
   the member is notified once WeChat Pay says the refund succeeded.
`POST /me/checkout-orders/{id}/cancel` gives back what an open order holds; so does its expiry. Both close the
WeChat Pay order first, so it can no longer be paid.
`POST /wechat-pay/notify` is WeChat Pay's payment notification (its notify_url): signed by WeChat Pay, its resource
encrypted with the APIv3 key; it confirms the order as the member's confirm does.
"""

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from infra.api import BaseApi, StrictInputSerializer, error_responses, output_data
from infra.errors import PaymentNotificationRefused
from members.api.authentication import MemberTokenAuthentication
from members.api.permissions import IsActiveMember, IsMember
from points.api.purchases import MemberCartInputSerializer
from points.api.serializers import REPLAY_HEADER, CheckoutResultSerializer, checkout_response
from points.models import CheckoutOrder
from points.services.checkout_orders import (
    checkout_order_cancel,
    checkout_order_confirm,
    checkout_order_create,
    checkout_order_notified,
    checkout_order_of_member,
    checkout_order_payment_parameters,
)

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=True,
    description="Names this order: a retry with the same key and cart answers the first order (200).",
)


class PaymentParametersSerializer(serializers.Serializer):
    timeStamp = serializers.CharField()  # noqa: N815 - wx.requestPayment's own names
    nonceStr = serializers.CharField()  # noqa: N815
    package = serializers.CharField(help_text="prepay_id=...")
    signType = serializers.CharField(help_text="RSA")  # noqa: N815
    paySign = serializers.CharField(help_text="The merchant's signature (WeChat Pay API v3).")  # noqa: N815

    class Meta:
        ref_name = "WechatPaymentParameters"


class CheckoutOrderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    out_trade_no = serializers.CharField(help_text="The WeChat Pay order number to pay under.")
    status = serializers.ChoiceField(choices=CheckoutOrder.Status.choices)
    amount_due = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="What to ask WeChat Pay for: exactly this amount."
    )
    currency = serializers.CharField()
    points_to_spend = serializers.IntegerField(help_text="Points held for the order until it is paid or released.")
    stored_value_amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="Stored value held for the order until it is paid or released."
    )
    coupon_code = serializers.CharField(allow_null=True, help_text="The coupon reserved for the order, if any.")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(
        help_text="When the order stops holding what it spends; open the WeChat Pay order with this time limit."
    )
    refund_reason = serializers.CharField(
        allow_blank=True, help_text="When refunded: the error code of the checkout that could not honour the payment."
    )
    payment = PaymentParametersSerializer(
        allow_null=True, help_text="While open: pass these to wx.requestPayment as they are."
    )
    purchase = CheckoutResultSerializer(allow_null=True, help_text="Once paid: the purchase recorded.")

    class Meta:
        ref_name = "CheckoutOrder"


def _order_data(order: CheckoutOrder, *, purchase: dict | None = None) -> dict:
    body = {
        "id": order.pk,
        "out_trade_no": order.out_trade_no,
        "status": order.status,
        "amount_due": order.amount_due,
        "currency": settings.CURRENCY,
        "points_to_spend": order.points_to_spend,
        "stored_value_amount": order.stored_value_amount,
        "coupon_code": order.coupon.code if order.coupon_id else None,
        "created_at": order.created_at,
        "expires_at": order.expires_at,
        "refund_reason": order.refund_reason,
        "payment": checkout_order_payment_parameters(order),
        "purchase": purchase,
    }
    return output_data(CheckoutOrderSerializer, body)


def _purchase_data(result) -> dict | None:
    return None if result.checkout is None else checkout_response(result.checkout).data


class MeCheckoutOrderListApi(BaseApi):
    """Create a checkout order for the member's mini-program cart: the coupon is reserved and the points and stored
    value held until `expires_at`; pay `amount_due` through WeChat Pay under `out_trade_no`, then confirm.

    The Idempotency-Key header is required: a retry with the same key and cart answers 200 with the first order
    (header `Idempotent-Replayed: true`); the same key with another cart is refused (`idempotency_key_reused`).
    """

    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsActiveMember]

    @extend_schema(
        operation_id="me_checkout_order_create",
        tags=["member"],
        request=MemberCartInputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: CheckoutOrderSerializer,
            200: CheckoutOrderSerializer,
            **error_responses(400, 401, 404, 409, 422, 502, 503),
        },
    )
    def post(self, request):
        serializer = MemberCartInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = checkout_order_create(
            member_id=request.user.pk,
            idempotency_key=request.headers.get("Idempotency-Key", ""),
            cart=serializer.cart(),
            now=timezone.now(),
        )
        body = _order_data(result.order)
        if result.is_replay:
            return Response(body, status=status.HTTP_200_OK, headers={REPLAY_HEADER: "true"})
        return Response(body, status=status.HTTP_201_CREATED)


class MeCheckoutOrderDetailApi(BaseApi):
    """The member's own checkout order: whether it is open, paid, cancelled, expired or refunded."""

    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="me_checkout_order",
        tags=["member"],
        responses={200: CheckoutOrderSerializer, **error_responses(401, 404)},
    )
    def get(self, request, order_id):
        result = checkout_order_of_member(member_id=request.user.pk, order_id=order_id)
        return Response(_order_data(result.order, purchase=_purchase_data(result)))


class MeCheckoutOrderCancelApi(BaseApi):
    """Cancel an open order: its coupon, points and stored value are given back. An order no longer open is
    answered as it is (a paid order stays paid)."""

    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsMember]

    class InputSerializer(StrictInputSerializer):
        class Meta:
            ref_name = "CheckoutOrderCancelInput"

    @extend_schema(
        operation_id="me_checkout_order_cancel",
        tags=["member"],
        request=InputSerializer,
        responses={200: CheckoutOrderSerializer, **error_responses(400, 401, 404, 503)},
    )
    def post(self, request, order_id):
        self.InputSerializer(data=request.data).is_valid(raise_exception=True)
        order = checkout_order_cancel(member_id=request.user.pk, order_id=order_id, now=timezone.now())
        return Response(_order_data(order))


class MeCheckoutOrderConfirmApi(BaseApi):
    """Confirm the order once paid through WeChat Pay: the purchase is recorded, spending what the order held.

    Asked again, a paid order answers its purchase (header `Idempotent-Replayed: true`). Refused while WeChat Pay
    has no payment of this order by this member (`payment_not_confirmed`); `payment_provider_unavailable` (503)
    is worth retrying. A payment that cannot be honoured is refunded: the answer is the order, `refunded` or
    `refund_pending`, with `refund_reason`, and the member gets a notification saying why.
    """

    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsMember]

    class InputSerializer(StrictInputSerializer):
        class Meta:
            ref_name = "CheckoutOrderConfirmInput"

    @extend_schema(
        operation_id="me_checkout_order_confirm",
        tags=["member"],
        request=InputSerializer,
        responses={200: CheckoutOrderSerializer, **error_responses(400, 401, 404, 409, 422, 503)},
    )
    def post(self, request, order_id):
        self.InputSerializer(data=request.data).is_valid(raise_exception=True)
        result = checkout_order_confirm(member_id=request.user.pk, order_id=order_id, now=timezone.now())
        body = _order_data(result.order, purchase=_purchase_data(result))
        headers = {REPLAY_HEADER: "true"} if result.is_replay else {}
        return Response(body, status=status.HTTP_200_OK, headers=headers)


class WechatPayNotifyApi(BaseApi):
    """WeChat Pay's notifications (settings.WECHATPAY_NOTIFY_URL points here, for payments and refunds alike): a
    payment's order is confirmed as the member's confirm does, once; a refund's outcome (REFUND.SUCCESS, .ABNORMAL,
    .CLOSED) ends the order's refund as WeChat Pay says. Answers 204 (WeChat Pay's "received"), the same to a
    replay; a signature that does not check out with the platform key, names another key serial than
    WECHATPAY_PLATFORM_SERIAL, or was made more than 5 minutes from now, is refused (401) and changes nothing; 503
    while WeChat Pay cannot be asked about the payment (it notifies again)."""

    authentication_classes = []
    permission_classes = []

    @extend_schema(
        operation_id="wechat_pay_notify",
        tags=["payments"],
        request=None,
        responses={204: None, **error_responses(401, 503)},
    )
    def post(self, request):
        # The signature is over the exact bytes WeChat Pay sent: read them before anything parses the body.
        body = request.body
        if not body:
            raise PaymentNotificationRefused()
        checkout_order_notified(headers=request.headers, body=body, now=timezone.now())
        return Response(status=status.HTTP_204_NO_CONTENT)
