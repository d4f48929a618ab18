"""The signed-in member's purchases: the history, and buying in the mini program (paid through WeChat Pay).

A mini-program purchase is priced first (`/me/purchases/preview`: points earned, the most points it takes,
the amount due), paid through WeChat Pay by the mini program, then posted here with the WeChat Pay order
number. It is recorded only when WeChat Pay confirms this member paid exactly the amount due.
"""

from decimal import Decimal

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from infra.api import BaseApi, NewestFirstPages, StrictInputSerializer, error_responses
from members.api.authentication import MemberTokenAuthentication
from members.api.permissions import IsActiveMember, IsMember
from members.models import Purchase, PurchaseChannel
from points.api.serializers import (
    CENT,
    MAX_ITEMS,
    CartPricingSerializer,
    CheckoutResultSerializer,
    PurchaseItemInputSerializer,
    cart_lines,
    cart_pricing_data,
    checkout_response,
)
from points.cart import Cart
from points.selectors import member_purchases
from points.services.mini_program_checkout import mini_program_purchase_checkout, mini_program_purchase_preview


class MemberCartInputSerializer(StrictInputSerializer):
    """A cart in the mini program: the member is the one signed in; the store is the program's online store."""

    gross_amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=CENT)
    discount_amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal(0), default=0)
    stored_value_amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal(0), default=0)
    items = PurchaseItemInputSerializer(many=True, required=False, max_length=MAX_ITEMS)
    points_to_spend = serializers.IntegerField(min_value=0, default=0)
    coupon_code = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)

    class Meta:
        ref_name = "MemberPurchaseCartInput"

    def cart(self) -> Cart:
        data = self.validated_data
        return Cart(
            gross_amount=data["gross_amount"],
            items=cart_lines(data.get("items", [])),
            discount_amount=data["discount_amount"],
            coupon_code=data["coupon_code"],
            points_to_spend=data["points_to_spend"],
            stored_value_amount=data["stored_value_amount"],
            external_id=data.get("out_trade_no", ""),  # the WeChat Pay order paid, when recording
        )


class PurchaseSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    channel = serializers.ChoiceField(choices=PurchaseChannel.choices)
    store_code = serializers.CharField(source="store.code")
    store_name = serializers.CharField(source="store.name")
    purchased_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=Purchase.Status.choices)
    gross_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    discount_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    points_value_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    stored_value_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    paid_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    points_spent = serializers.SerializerMethodField()
    points_earned = serializers.SerializerMethodField()

    class Meta:
        ref_name = "MemberPurchase"

    def _checkout(self, purchase):
        return getattr(purchase, "checkout", None)

    def get_points_spent(self, purchase) -> int:
        checkout = self._checkout(purchase)
        return checkout.points_spent if checkout else 0

    def get_points_earned(self, purchase) -> int:
        checkout = self._checkout(purchase)
        return checkout.points_earned if checkout else 0


class PurchasePagination(NewestFirstPages):
    ordering = ("-purchased_at", "-pk")


class MePurchasesApi(BaseApi):
    """GET: the member's purchases in stores and in the mini program, newest first.

    POST: record a mini-program purchase paid through WeChat Pay. `out_trade_no` is the WeChat Pay order
    number and makes it idempotent: the same body again returns the first answer (header
    `Idempotent-Replayed: true`), another body under that number is refused (`idempotency_key_reused`). Refused
    unless WeChat Pay confirms the order was paid by this member (`payment_not_confirmed`) for exactly the
    amount due (`payment_amount_mismatch`); `payment_provider_unavailable` (503) is worth retrying.
    A confirmed payment whose cart is then refused (points or coupon spent meanwhile, another amount paid, ...) is
    refunded through WeChat Pay and answers 409 `payment_refunded` (now and on every retry), its `fields.refund_reason`
    the refusal's code; `payment_amount_mismatch` is therefore never answered for a payment made.
    """

    authentication_classes = [MemberTokenAuthentication]
    pagination_class = PurchasePagination

    def get_permissions(self):
        return [IsActiveMember()] if self.request.method == "POST" else [IsMember()]

    class InputSerializer(MemberCartInputSerializer):
        out_trade_no = serializers.CharField(max_length=32, help_text="The WeChat Pay order number the member paid.")

        class Meta:
            ref_name = "MemberPurchaseInput"

    @extend_schema(
        operation_id="me_purchases",
        tags=["member"],
        responses={200: PurchaseSerializer(many=True), **error_responses(401)},
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(member_purchases(member_id=request.user.pk), request, view=self)
        return paginator.get_paginated_response(PurchaseSerializer(page, many=True).data)

    @extend_schema(
        operation_id="me_purchase_create",
        tags=["member"],
        request=InputSerializer,
        responses={201: CheckoutResultSerializer, **error_responses(400, 401, 409, 422, 503)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = mini_program_purchase_checkout(member_id=request.user.pk, cart=serializer.cart(), now=timezone.now())
        return checkout_response(result)


class MePurchasePreviewApi(BaseApi):
    """Price the member's mini-program cart without recording anything: points it earns (and why), the most
    points it can take, what a coupon takes off, and `amount_due`, the amount to ask WeChat Pay for."""

    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsActiveMember]

    @extend_schema(
        operation_id="me_purchase_preview",
        tags=["member"],
        request=MemberCartInputSerializer,
        responses={200: CartPricingSerializer, **error_responses(400, 401, 409, 422)},
    )
    def post(self, request):
        serializer = MemberCartInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pricing = mini_program_purchase_preview(member_id=request.user.pk, cart=serializer.cart(), now=timezone.now())
        return Response(cart_pricing_data(pricing))
