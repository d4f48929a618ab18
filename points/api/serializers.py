"""Output pieces shared by the POS and member points views."""

from decimal import Decimal

from rest_framework import serializers, status
from rest_framework.response import Response

from infra.api import StrictInputSerializer, output_data
from members.models import PurchaseChannel
from points.cart import CartLine
from points.services.checkout import MAX_ITEM_QUANTITY

REPLAY_HEADER = "Idempotent-Replayed"
MAX_ITEMS = 500
CENT = Decimal("0.01")


class BreakdownStepSerializer(serializers.Serializer):
    rule_id = serializers.IntegerField(
        allow_null=True, help_text="Empty for the tier's multipliers and the member's multiplier window."
    )
    name = serializers.CharField()
    kind = serializers.CharField(
        help_text="base_rate, tier (the tier's earn multiplier), tier_birthday (its birthday multiplier, in the "
        "member's birthday month), multiplier_window (the member's own \"x2 points\" window, e.g. a campaign's), "
        "multiplier, bonus_category, bonus_sku, ..."
    )
    points = serializers.IntegerField()
    capped = serializers.BooleanField(
        required=False, help_text="Present (true) when the rule's cap per purchase cut its points."
    )
    points_before_cap = serializers.IntegerField(
        required=False, help_text="Present when capped: what the rule would have granted without its cap."
    )

    class Meta:
        ref_name = "PointsBreakdownStep"


class BreakdownSerializer(serializers.Serializer):
    """Why a purchase earned what it earned: each rule that granted points, and the total."""

    total = serializers.IntegerField(default=0)
    rules = BreakdownStepSerializer(many=True, default=list)
    eligible_amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, required=False, help_text="The amount that earned points."
    )

    class Meta:
        ref_name = "PointsBreakdown"


class CheckoutResultSerializer(serializers.Serializer):
    """A recorded purchase as its checkout answered: money, points spent and earned, coupons used and earned."""

    external_id = serializers.CharField()
    channel = serializers.ChoiceField(choices=PurchaseChannel.choices)
    member_number = serializers.CharField(allow_null=True)
    purchased_at = serializers.DateTimeField()
    gross_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    discount_amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="Every discount: the till's, the tier's and the coupon's."
    )
    tier_discount_amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="What the member's tier took off (part of discount_amount)."
    )
    points_value_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    stored_value_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    paid_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    points_spent = serializers.IntegerField()
    points_earned = serializers.IntegerField()
    earn_is_pending = serializers.BooleanField()
    earn_activates_at = serializers.DateTimeField(allow_null=True)
    earn_expires_at = serializers.DateTimeField(allow_null=True)
    points_balance = serializers.IntegerField(allow_null=True, help_text="The member's balance after the sale.")
    coupon_code = serializers.CharField(allow_null=True, help_text="The coupon redeemed on the sale, if any.")
    coupon_discount_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    coupons_earned = serializers.ListField(
        child=serializers.CharField(), help_text="Codes of coupons issued by post-payment rules for this sale."
    )
    breakdown = BreakdownSerializer()

    class Meta:
        ref_name = "PurchaseCheckout"


def checkout_response(result) -> Response:
    """201 with the checkout's answer; a replay says so in the `Idempotent-Replayed` header."""
    purchase, checkout = result.purchase, result.checkout
    body = {
        "external_id": purchase.external_id,
        "channel": purchase.channel,
        "member_number": result.member_number,
        "purchased_at": purchase.purchased_at,
        "gross_amount": purchase.gross_amount,
        "discount_amount": purchase.discount_amount,
        "tier_discount_amount": checkout.tier_discount_amount,
        "points_value_amount": purchase.points_value_amount,
        "stored_value_amount": purchase.stored_value_amount,
        "paid_amount": purchase.paid_amount,
        "points_spent": checkout.points_spent,
        "points_earned": checkout.points_earned,
        "earn_is_pending": checkout.earn_is_pending,
        "earn_activates_at": checkout.earn_activates_at,
        "earn_expires_at": checkout.earn_expires_at,
        "points_balance": checkout.balance_after,
        "coupon_code": result.coupon_code,
        "coupon_discount_amount": checkout.coupon_discount_amount,
        "coupons_earned": checkout.coupons_issued,
        "breakdown": checkout.breakdown,
    }
    headers = {REPLAY_HEADER: "true"} if result.is_replay else {}
    return Response(output_data(CheckoutResultSerializer, body), status=status.HTTP_201_CREATED, headers=headers)


class CartPricingSerializer(serializers.Serializer):
    """What a cart would do, nothing written: points earned and why, the most points it takes, the amount due."""

    member_number = serializers.CharField(allow_null=True)
    points_balance = serializers.IntegerField(allow_null=True)
    max_points_spendable = serializers.IntegerField()
    max_points_value = serializers.DecimalField(max_digits=12, decimal_places=2)
    points_to_spend = serializers.IntegerField()
    points_value = serializers.DecimalField(max_digits=12, decimal_places=2)
    points_earned = serializers.IntegerField()
    earn_is_pending = serializers.BooleanField()
    earn_activates_at = serializers.DateTimeField(allow_null=True)
    earn_expires_at = serializers.DateTimeField(allow_null=True)
    tier_discount_amount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        help_text="What the member's tier takes off, before or after the coupon as the tier policy says.",
    )
    coupon_discount_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    coupon_label = serializers.CharField(allow_blank=True)
    amount_due = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        help_text="Left to pay by the payment method after discounts (the till's, the tier's, the coupon's), "
        "points and stored value.",
    )
    breakdown = BreakdownSerializer()

    class Meta:
        ref_name = "CartPricing"


def cart_pricing_data(pricing) -> dict:
    body = {
        "member_number": pricing.member_number,
        "points_balance": pricing.points_balance,
        "max_points_spendable": pricing.max_points_spendable,
        "max_points_value": pricing.max_points_value,
        "points_to_spend": pricing.points_to_spend,
        "points_value": pricing.points_value,
        "points_earned": pricing.earning.total,
        "earn_is_pending": pricing.earn_is_pending,
        "earn_activates_at": pricing.earn_activates_at,
        "earn_expires_at": pricing.earn_expires_at,
        "tier_discount_amount": pricing.tier_discount_amount,
        "coupon_discount_amount": pricing.coupon_discount_amount,
        "coupon_label": pricing.coupon_label,
        "amount_due": pricing.amount_due,
        "breakdown": {**pricing.earning.breakdown(), "eligible_amount": str(pricing.eligible_amount)},
    }
    return output_data(CartPricingSerializer, body)


class PurchaseItemInputSerializer(StrictInputSerializer):
    sku = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    category = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_ITEM_QUANTITY, default=1)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal(0))

    class Meta:
        ref_name = "PurchaseItemInput"


def cart_lines(items) -> tuple[CartLine, ...]:
    """The validated lines of PurchaseItemInputSerializer(many=True) as the cart's lines."""
    return tuple(CartLine(**item) for item in items)
