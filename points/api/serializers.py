"""Output pieces shared by the POS and member points views."""

from rest_framework import serializers


class BreakdownStepSerializer(serializers.Serializer):
    rule_id = serializers.IntegerField(allow_null=True, help_text="Empty for the tier multiplier.")
    name = serializers.CharField()
    kind = serializers.CharField(help_text="base_rate, tier, multiplier, bonus_category, bonus_sku, ...")
    points = serializers.IntegerField()

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
