"""The till (per-store POS key): check which coupons fit a cart, and redeem one."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from coupons.api.serializers import CartCouponsOutputSerializer, CartInputSerializer
from coupons.api.throttles import CouponCodeThrottle
from coupons.selectors import coupons_for_cart_at_till
from coupons.services import coupon_redeem_at_till
from infra.api import BaseApi, error_responses
from members.api.authentication import StoreApiKeyAuthentication
from members.api.permissions import IsPosClient
from members.models import PurchaseChannel

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description="A retry with the same key and body gets the first answer again.",
)


class PosApi(BaseApi):
    authentication_classes = [StoreApiKeyAuthentication]
    permission_classes = [IsPosClient]
    throttle_classes = [CouponCodeThrottle]


class PosCartInputSerializer(CartInputSerializer):
    """The cart, and the member by exactly one of card code, phone or member number."""

    channel = serializers.ChoiceField(choices=PurchaseChannel.choices, default=PurchaseChannel.POS)
    card_code = serializers.CharField(required=False, max_length=32, help_text="The 18-digit code scanned.")
    phone = serializers.CharField(required=False, max_length=32)
    member_number = serializers.CharField(required=False, max_length=16)

    class Meta:
        ref_name = "PosCartInput"


class PosCouponValidateApi(PosApi):
    """The member's coupons checked against the till's cart; with `code`, only that coupon."""

    class InputSerializer(PosCartInputSerializer):
        code = serializers.CharField(required=False, max_length=40)

        class Meta:
            ref_name = "PosCouponValidateInput"

    @extend_schema(
        operation_id="pos_coupons_validate",
        tags=["pos"],
        request=InputSerializer,
        responses={200: CartCouponsOutputSerializer, **error_responses(400, 401, 403, 404, 429)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = coupons_for_cart_at_till(
            cart=serializer.cart(store_id=request.user.store.pk),
            now=timezone.now(),
            code=data.get("code", ""),
            card_code=data.get("card_code", ""),
            phone=data.get("phone", ""),
            member_number=data.get("member_number", ""),
        )
        return Response(CartCouponsOutputSerializer(result).data)


class PosCouponRedeemApi(PosApi):
    """Use a member's coupon on a sale of this store. At most once, even when two tills try together."""

    class InputSerializer(PosCartInputSerializer):
        code = serializers.CharField(max_length=40)
        external_id = serializers.CharField(max_length=64, help_text="The sale's id in the POS.")

        class Meta:
            ref_name = "PosCouponRedeemInput"

    class OutputSerializer(serializers.Serializer):
        code = serializers.CharField()
        member_number = serializers.CharField()
        template_name = serializers.CharField()
        discount_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
        label = serializers.CharField()
        redeemed_at = serializers.DateTimeField()
        external_id = serializers.CharField()

        class Meta:
            ref_name = "PosCouponRedemption"

    @extend_schema(
        operation_id="pos_coupons_redeem",
        tags=["pos"],
        request=InputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: OutputSerializer, **error_responses(400, 401, 403, 404, 409, 422, 429)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = coupon_redeem_at_till(
            code=data["code"],
            cart=serializer.cart(store_id=request.user.store.pk),
            external_id=data["external_id"],
            now=timezone.now(),
            render=self._render,
            card_code=data.get("card_code", ""),
            phone=data.get("phone", ""),
            member_number=data.get("member_number", ""),
            idempotency_key=request.headers.get("Idempotency-Key"),
            request_data=request.data,
        )
        return Response(result.body, status=result.status_code)

    def _render(self, member, redemption):
        body = {
            "code": redemption.coupon.code,
            "member_number": member.member_number,
            "template_name": redemption.coupon.template.name,
            "discount_amount": redemption.discount_amount,
            "label": redemption.label,
            "redeemed_at": redemption.coupon.redeemed_at,
            "external_id": redemption.coupon.redeemed_reference,
        }
        return self.OutputSerializer(body).data
