"""The signed-in member's tier: benefits, score, the next tier and what is still missing, the next review."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from infra.api import BaseApi, error_responses
from members.api.authentication import MemberTokenAuthentication
from members.api.permissions import IsActiveMember
from members.selectors.tiers import member_tier_status


class TierOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    rank = serializers.IntegerField()
    min_score_to_reach = serializers.DecimalField(max_digits=14, decimal_places=2)
    min_score_to_keep = serializers.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        ref_name = "TierLevel"


class BenefitLineSerializer(serializers.Serializer):
    benefit = serializers.ChoiceField(choices=["discount", "earn_multiplier", "birthday_multiplier", "monthly_gift"])
    text = serializers.CharField(help_text="The benefit in one sentence, in the request's language.")

    class Meta:
        ref_name = "TierBenefitLine"


class BenefitsSerializer(serializers.Serializer):
    """What the tier gives, as the checkout applies it."""

    earn_multiplier = serializers.DecimalField(max_digits=5, decimal_places=2)
    discount_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, help_text="Taken off purchases at the till and in the mini program."
    )
    discount_applies = serializers.ChoiceField(
        choices=["before_coupons", "after_coupons"],
        help_text="Whether the tier discount comes before a coupon (whose minimum spend then counts the discounted "
        "amount) or applies to what the coupon leaves.",
    )
    discount_max_amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True, help_text="The most the discount takes off one purchase."
    )
    discount_excluded_categories = serializers.ListField(
        child=serializers.CharField(), help_text="Item categories the discount leaves out."
    )
    birthday_multiplier = serializers.DecimalField(
        max_digits=5, decimal_places=2, help_text="Base points times this in the member's birthday month."
    )
    monthly_gift = serializers.CharField()
    summary = BenefitLineSerializer(many=True, help_text="Only the benefits that change something.")

    class Meta:
        ref_name = "TierBenefits"


class MissingSerializer(serializers.Serializer):
    indicator = serializers.ChoiceField(choices=["spend", "purchases", "points", "active_days", "stores"])
    amount = serializers.DecimalField(max_digits=16, decimal_places=2, help_text="Money for spend, else a count.")
    by = serializers.DateField(source="by_date")
    message = serializers.CharField()

    class Meta:
        ref_name = "TierMissing"


class IndicatorsSerializer(serializers.Serializer):
    spend = serializers.DecimalField(max_digits=16, decimal_places=2)
    purchases = serializers.IntegerField()
    points = serializers.IntegerField()
    active_days = serializers.IntegerField()
    stores = serializers.IntegerField()

    class Meta:
        ref_name = "TierIndicators"


class TierHoldSerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=["plan", "top_up"])
    plan_name = serializers.CharField(allow_null=True)
    until = serializers.DateTimeField(help_text="The tier is kept at least until then, whatever the review says.")

    class Meta:
        ref_name = "TierHold"


class MeTierApi(BaseApi):
    """Where the member stands: tier and benefits, score, the next tier and what is missing, the review date."""

    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsActiveMember]

    class OutputSerializer(serializers.Serializer):
        tier = TierOutputSerializer(allow_null=True)
        benefits = BenefitsSerializer(allow_null=True)
        score = serializers.DecimalField(max_digits=16, decimal_places=2)
        indicators = IndicatorsSerializer()
        window_start = serializers.DateTimeField()
        reached_tier = TierOutputSerializer(
            allow_null=True,
            help_text="A tier above the current one that the score already reaches (a member not reviewed yet): "
            "the member gets it at the next review or purchase.",
        )
        next_tier = TierOutputSerializer(
            allow_null=True, help_text="The first tier above both the current tier and the reached one."
        )
        missing_score = serializers.DecimalField(max_digits=16, decimal_places=2, allow_null=True)
        progress_percent = serializers.IntegerField(
            allow_null=True, min_value=0, max_value=100, help_text="The score as a share of the next tier's score "
            "to reach, in whole percent; null without a next tier.",
        )  # fmt: skip
        missing = MissingSerializer(many=True, help_text="One way per weighted indicator to close the gap alone.")
        message = serializers.CharField()
        review_on = serializers.DateField(help_text="When the current tier is next reviewed.")
        below_keep_since = serializers.DateTimeField(allow_null=True)
        grace_until = serializers.DateField(allow_null=True, help_text="A move down one tier is possible after.")
        override_until = serializers.DateTimeField(allow_null=True)
        held = TierHoldSerializer(allow_null=True, help_text="Set while a paid plan or a top-up holds the tier.")

        class Meta:
            ref_name = "MemberTier"

    @extend_schema(
        operation_id="me_tier", tags=["member"], responses={200: OutputSerializer, **error_responses(401, 409)}
    )
    def get(self, request):
        status = member_tier_status(member=request.user, now=timezone.now())
        if not status.has_tiers:
            message = _("The program has no tiers yet.")
        elif status.missing:
            message = status.missing[0].message
        elif status.next_tier is None and status.reached_tier is not None:
            message = _("You have reached %(tier)s.") % {"tier": status.reached_tier.name}
        elif status.next_tier is None:
            message = _("You are in our highest tier.")
        else:
            message = _("You have reached %(tier)s.") % {"tier": status.next_tier.name}
        data = {**status.__dict__, "progress_percent": status.progress_percent, "message": str(message)}
        return Response(self.OutputSerializer(data).data)
