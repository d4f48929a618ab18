"""Input and output pieces shared by the member and POS coupon views."""

from decimal import Decimal

from rest_framework import serializers

from coupons.models import Coupon, CouponTemplate
from coupons.pricing import discount_for
from coupons.rules import Cart, CartItem
from infra.api import StrictInputSerializer
from members.models import PurchaseChannel

MAX_ITEMS = 500


class CartItemInputSerializer(StrictInputSerializer):
    sku = serializers.CharField(max_length=64)
    category = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal(0))

    class Meta:
        ref_name = "CartItemInput"


class CartInputSerializer(StrictInputSerializer):
    """The cart a checkout is about to pay: its amount and, for category or SKU coupons, its items."""

    amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal(0))
    channel = serializers.ChoiceField(choices=PurchaseChannel.choices)
    items = CartItemInputSerializer(many=True, required=False, max_length=MAX_ITEMS)
    uses_points = serializers.BooleanField(required=False, default=False, help_text="Part is paid with points.")

    class Meta:
        ref_name = "CartInput"

    def cart(self, *, store_id: int | None) -> Cart:
        data = self.validated_data
        return Cart(
            amount=data["amount"],
            channel=data["channel"],
            store_id=store_id,
            items=tuple(
                CartItem(sku=item["sku"], category=item.get("category", ""), amount=item["amount"])
                for item in data.get("items", [])
            ),
            uses_points=data["uses_points"],
        )


class CouponTemplateOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    kind = serializers.ChoiceField(choices=CouponTemplate.Kind.choices)
    label = serializers.SerializerMethodField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    percent = serializers.DecimalField(max_digits=5, decimal_places=2, allow_null=True)
    max_discount = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    min_spend = serializers.DecimalField(max_digits=12, decimal_places=2)
    valid_from = serializers.DateTimeField(allow_null=True)
    valid_until = serializers.DateTimeField(allow_null=True)
    valid_days = serializers.IntegerField(allow_null=True)
    claim_ends_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "CouponTemplate"

    def get_label(self, template) -> str:
        return discount_for(template, 0).label


class CouponOutputSerializer(serializers.Serializer):
    """A coupon as its holder sees it."""

    id = serializers.IntegerField()
    code = serializers.CharField()
    status = serializers.ChoiceField(choices=Coupon.Status.choices)
    source = serializers.ChoiceField(choices=Coupon.Source.choices)
    template = CouponTemplateOutputSerializer()
    issued_at = serializers.DateTimeField()
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField(allow_null=True)
    reserved_until = serializers.DateTimeField(allow_null=True)
    redeemed_at = serializers.DateTimeField(allow_null=True)
    discount_amount = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)

    class Meta:
        ref_name = "Coupon"


class CouponOptionOutputSerializer(serializers.Serializer):
    coupon = CouponOutputSerializer()
    applicable = serializers.BooleanField(source="is_applicable")
    discount_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    label = serializers.CharField()
    reason = serializers.CharField(
        allow_null=True,
        help_text="Why it does not apply: coupon_expired, coupon_not_yet_valid, coupon_reserved, wrong_channel, "
        "wrong_store, does_not_stack_with_points, category_not_in_cart, min_spend_not_met.",
    )

    class Meta:
        ref_name = "CouponOption"


class CartCouponsOutputSerializer(serializers.Serializer):
    coupons = CouponOptionOutputSerializer(many=True, source="options")
    best = CouponOptionOutputSerializer(allow_null=True, help_text="The applicable coupon that saves the most.")

    class Meta:
        ref_name = "CartCoupons"
