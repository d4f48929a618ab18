"""The till (per-store POS key): post a purchase, refund it, price a cart. The store is always the key's."""

from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from infra.api import BaseApi, StrictInputSerializer, error_responses, output_data
from members.api.authentication import StoreApiKeyAuthentication
from members.api.permissions import IsPosClient
from members.models import PaymentMethod, Purchase, PurchaseChannel
from points.api.serializers import (
    CENT,
    MAX_ITEMS,
    REPLAY_HEADER,
    CartPricingSerializer,
    CheckoutResultSerializer,
    PurchaseItemInputSerializer,
    cart_lines,
    cart_pricing_data,
    checkout_response,
)
from points.cart import Cart, CheckoutContext, MemberLookup
from points.services.checkout import purchase_checkout, purchase_preview, purchase_refund


class PosApi(BaseApi):
    authentication_classes = [StoreApiKeyAuthentication]
    permission_classes = [IsPosClient]


class CartInputSerializer(StrictInputSerializer):
    """A cart at the till: amounts, items, the member (by any identifier the policy matches) and points."""

    channel = serializers.ChoiceField(choices=PurchaseChannel.choices, default=PurchaseChannel.POS)
    purchased_at = serializers.DateTimeField(required=False, help_text="Defaults to the time of the request.")
    gross_amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=CENT)
    discount_amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal(0), default=0)
    stored_value_amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal(0), default=0)
    items = PurchaseItemInputSerializer(many=True, required=False, max_length=MAX_ITEMS)
    card_code = serializers.CharField(required=False, max_length=32, help_text="The 18-digit code scanned.")
    member_number = serializers.CharField(required=False, max_length=16)
    phone = serializers.CharField(required=False, max_length=32)
    points_to_spend = serializers.IntegerField(min_value=0, default=0)
    coupon_code = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=64, help_text="A coupon the member holds, to redeem."
    )

    class Meta:
        ref_name = "PosCartInput"

    def cart(self) -> Cart:
        data = self.validated_data
        return Cart(
            gross_amount=data["gross_amount"],
            items=cart_lines(data.get("items", [])),
            discount_amount=data["discount_amount"],
            coupon_code=data["coupon_code"],
            points_to_spend=data["points_to_spend"],
            stored_value_amount=data["stored_value_amount"],
            purchased_at=data.get("purchased_at"),
            external_id=data.get("external_id", ""),
            payment_method=data.get("payment_method", ""),
        )

    def context(self, *, store_id: int, now) -> CheckoutContext:
        data = self.validated_data
        lookup = MemberLookup(
            card_code=data.get("card_code", ""),
            member_number=data.get("member_number", ""),
            phone=data.get("phone", ""),
        )
        return CheckoutContext.till(store_id=store_id, now=now, member_lookup=lookup, channel=data["channel"])


def validate_printable_external_id(value: str) -> str:
    # The sale is refunded at pos/purchases/<external_id>/refunds: any printable id routes there (even with "/"),
    # a control character (a tab, a line break) could never be put in that URL.
    if not value.isprintable():
        raise serializers.ValidationError(
            _("A sale id may not contain control characters such as tabs or line breaks.")
        )
    return value


class PosPurchaseCreateApi(PosApi):
    """Record a sale of this store: spend the member's points on it and earn points from it.

    The external id makes it idempotent: the same body again returns the first answer (with the header
    `Idempotent-Replayed: true`); the same external id with another body is refused (`idempotency_key_reused`).
    A purchased_at more than 7 days back or more than 5 minutes ahead of the server's clock is refused
    (`purchased_at_out_of_range`).
    """

    class InputSerializer(CartInputSerializer):
        external_id = serializers.CharField(
            max_length=64,
            validators=[validate_printable_external_id],
            help_text="The sale's id in the POS; unique per store. Any printable text, `/` included.",
        )
        payment_method = serializers.ChoiceField(choices=PaymentMethod.choices)

        class Meta:
            ref_name = "PosPurchaseInput"

    @extend_schema(
        operation_id="pos_purchase_create",
        tags=["pos"],
        request=InputSerializer,
        responses={201: CheckoutResultSerializer, **error_responses(400, 401, 404, 409, 422)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        context = serializer.context(store_id=request.user.store.pk, now=timezone.now())
        return checkout_response(purchase_checkout(cart=serializer.cart(), context=context))


class PosPurchasePreviewApi(PosApi):
    """Price a cart without recording anything: the points it earns (and why), the most points it can take."""

    @extend_schema(
        operation_id="pos_purchase_preview",
        tags=["pos"],
        request=CartInputSerializer,
        responses={200: CartPricingSerializer, **error_responses(400, 401, 404, 409, 422)},
    )
    def post(self, request):
        serializer = CartInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        context = serializer.context(store_id=request.user.store.pk, now=timezone.now())
        return Response(cart_pricing_data(purchase_preview(cart=serializer.cart(), context=context)))


class PosPingApi(PosApi):
    """Answer a till checking its key and the connection: the store the key belongs to."""

    class OutputSerializer(serializers.Serializer):
        store = serializers.CharField()

        class Meta:
            ref_name = "PosPing"

    @extend_schema(operation_id="pos_ping", tags=["pos"], responses={200: OutputSerializer, **error_responses(401)})
    def get(self, request):
        return Response(self.OutputSerializer({"store": request.user.store.code}).data)


class PosPurchaseRefundApi(PosApi):
    """Refund part or all of a sale of this store: spent points come back, earned points go, pro rata.

    The refund id makes it idempotent: the same body again returns the first answer; the same refund id with
    another amount is refused (`idempotency_key_reused`). A sale of another store is `not_found`.
    """

    class InputSerializer(StrictInputSerializer):
        refund_id = serializers.CharField(max_length=64, help_text="The refund's id in the POS; unique per sale.")
        amount = serializers.DecimalField(
            max_digits=12, decimal_places=2, min_value=CENT, help_text="The refunded part of the gross amount."
        )
        channel = serializers.ChoiceField(choices=PurchaseChannel.choices, default=PurchaseChannel.POS)
        reason = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")

        class Meta:
            ref_name = "PosRefundInput"

    class OutputSerializer(serializers.Serializer):
        refund_id = serializers.CharField()
        external_id = serializers.CharField(help_text="The sale's external id.")
        amount = serializers.DecimalField(max_digits=12, decimal_places=2)
        purchase_status = serializers.ChoiceField(choices=Purchase.Status.choices)
        points_returned = serializers.IntegerField(help_text="Spent points given back to the member.")
        points_value_returned = serializers.DecimalField(max_digits=12, decimal_places=2)
        points_reversed = serializers.IntegerField(help_text="Earned points taken back.")
        points_pending_cancelled = serializers.IntegerField(help_text="Pending earned points cancelled.")
        points_forgiven = serializers.IntegerField(help_text="Earned points left to the member by the policy.")
        points_debt_recorded = serializers.IntegerField()
        stored_value_returned = serializers.DecimalField(max_digits=12, decimal_places=2)
        coupons_restored = serializers.ListField(
            child=serializers.CharField(), help_text="Coupons used on the sale and given back to the member."
        )
        coupons_voided = serializers.ListField(
            child=serializers.CharField(), help_text="Coupons the sale had earned, taken back by the refund."
        )

        class Meta:
            ref_name = "PosRefund"

    @extend_schema(
        operation_id="pos_purchase_refund",
        tags=["pos"],
        request=InputSerializer,
        parameters=[
            OpenApiParameter(
                "external_id",
                str,
                location=OpenApiParameter.PATH,
                description="The sale's external id, URL-encoded; it may contain `/` (as is or as `%2F`).",
            )
        ],
        responses={201: OutputSerializer, **error_responses(400, 401, 404, 409, 422)},
    )
    def post(self, request, external_id):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = purchase_refund(
            store_id=request.user.store.pk,
            channel=data["channel"],
            purchase_external_id=external_id,
            refund_external_id=data["refund_id"],
            amount=data["amount"],
            reason=data["reason"],
            now=timezone.now(),
        )
        refund = result.refund
        body = {
            "refund_id": refund.external_id,
            "external_id": external_id,
            "amount": refund.amount,
            "purchase_status": result.purchase_status,
            "points_returned": refund.points_returned,
            "points_value_returned": refund.points_value_returned,
            "points_reversed": refund.points_reversed,
            "points_pending_cancelled": refund.points_pending_cancelled,
            "points_forgiven": refund.points_forgiven,
            "points_debt_recorded": refund.points_debt_recorded,
            "stored_value_returned": refund.stored_value_returned,
            "coupons_restored": refund.coupons_restored,
            "coupons_voided": refund.coupons_voided,
        }
        headers = {REPLAY_HEADER: "true"} if result.is_replay else {}
        return Response(output_data(self.OutputSerializer, body), status=status.HTTP_201_CREATED, headers=headers)
