"""Paid membership plans for the signed-in member: plans on sale, buying one (with a payment reference), and
the member's own plan and tier periods."""

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from infra.api import BaseApi, IdField, StrictInputSerializer, error_responses
from members.api.authentication import MemberTokenAuthentication
from members.api.permissions import IsActiveMember, IsMember
from members.selectors.plans import plan_subscriptions_of_member, plans_on_sale
from members.services.payments import MEMBER_PAYMENT_PROVIDERS
from members.services.plans import plan_purchase_by_member


class MemberApi(BaseApi):
    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsMember]


class PlanTierSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    rank = serializers.IntegerField()

    class Meta:
        ref_name = "PlanTier"


class PlanSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    duration_value = serializers.IntegerField()
    duration_unit = serializers.CharField(help_text="days or months")
    tier = PlanTierSerializer()
    sale_ends_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "MembershipPlan"


class SubscriptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    source = serializers.CharField(help_text="plan or top_up")
    plan = serializers.IntegerField(source="plan_id", allow_null=True)
    plan_name = serializers.CharField(source="plan.name", allow_null=True, default=None)
    tier = PlanTierSerializer()
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.SerializerMethodField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    provider = serializers.CharField()
    transaction_id = serializers.CharField()

    class Meta:
        ref_name = "PlanSubscription"

    def get_currency(self, obj) -> str:
        return settings.CURRENCY


class PlanListApi(MemberApi):
    """The membership plans on sale now."""

    @extend_schema(
        operation_id="plans", tags=["plans"], responses={200: PlanSerializer(many=True), **error_responses(401)}
    )
    def get(self, request):
        plans = plans_on_sale(now=timezone.now())
        return Response(PlanSerializer(plans, many=True).data)


class MePlanListApi(MemberApi):
    """The member's own plan and tier periods (bought plans and tier-granting top-ups), newest first."""

    @extend_schema(
        operation_id="me_plans",
        tags=["plans"],
        responses={200: SubscriptionSerializer(many=True), **error_responses(401)},
    )
    def get(self, request):
        subscriptions = plan_subscriptions_of_member(member_id=request.user.pk)
        return Response(SubscriptionSerializer(subscriptions, many=True).data)


class MePlanPurchaseApi(MemberApi):
    """Record a plan the member paid in the mini program through WeChat Pay.

    Recorded only when WeChat Pay confirms the order `transaction_id` was paid by this member for the price
    (`payment_not_confirmed`, `payment_amount_mismatch`; `payment_provider_unavailable` is worth retrying).
    The transaction id makes it idempotent: a replay answers 200 with the first subscription.
    """

    permission_classes = [IsActiveMember]

    class InputSerializer(StrictInputSerializer):
        plan = IdField()
        provider = serializers.ChoiceField(choices=MEMBER_PAYMENT_PROVIDERS, help_text="The payment provider.")
        transaction_id = serializers.CharField(max_length=100, help_text="The WeChat Pay order number paid.")

        class Meta:
            ref_name = "PlanPurchaseInput"

    class OutputSerializer(serializers.Serializer):
        subscription = SubscriptionSerializer()
        replayed = serializers.BooleanField()

        class Meta:
            ref_name = "PlanPurchaseResult"

    @extend_schema(
        operation_id="me_plan_purchase",
        tags=["plans"],
        request=InputSerializer,
        responses={201: OutputSerializer, 200: OutputSerializer, **error_responses(400, 401, 404, 409, 422, 503)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = plan_purchase_by_member(
            member_id=request.user.pk,
            plan_id=data["plan"],
            provider=data["provider"],
            transaction_id=data["transaction_id"],
            now=timezone.now(),
        )
        body = {"subscription": result.subscription, "replayed": result.is_replay}
        return Response(self.OutputSerializer(body).data, status=200 if result.is_replay else 201)
