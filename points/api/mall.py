"""The points mall in the mini program (rewards, redeeming, the member's own orders) and pickups at the till."""

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle

from infra.api import BaseApi, NewestFirstPages, StrictInputSerializer, error_responses
from members.api.authentication import MemberTokenAuthentication, StoreApiKeyAuthentication
from members.api.permissions import IsMember, IsPosClient
from members.services.payments import MEMBER_PAYMENT_PROVIDERS
from points.api.serializers import REPLAY_HEADER
from points.models import Reward, RewardOrder
from points.selectors.mall import reward_for_member, reward_order_of_member, reward_orders_of_member, rewards_for_member
from points.services.mall import reward_order_cancel_by_member, reward_order_fulfil_at_till, reward_redeem_in_mall

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    location=OpenApiParameter.HEADER,
    required=True,
    description="1 to 100 printable characters; a retry with the same key and body gets the first order again.",
)
POS_IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Optional: a retry with the same key and body gets the first answer again.",
)
# Plain strings in the schema: enums named "kind" and "status" would collide with other components.
REWARD_KINDS = ", ".join(Reward.Kind.values)
ORDER_STATUSES = ", ".join(RewardOrder.Status.values)


class MallRedeemThrottle(SimpleRateThrottle):
    """Redemptions per member: a drop answers fast, but one client cannot hammer it (stock is kept by the
    database, not by this). Rate: settings.MALL_REDEEM_THROTTLE (default 30/min)."""

    scope = "mall_redeem"

    def get_rate(self):
        return settings.MALL_REDEEM_THROTTLE

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": f"member:{request.user.pk}"}


class PickupCodeThrottle(SimpleRateThrottle):
    """Pickup code attempts per POS key, so codes cannot be guessed at speed. Rate:
    settings.PICKUP_CODE_THROTTLE (default 120/min)."""

    scope = "pickup_code"

    def get_rate(self):
        return settings.PICKUP_CODE_THROTTLE

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": f"key:{request.auth.pk}"}


class MemberApi(BaseApi):
    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsMember]


def _absolute_url(request, field) -> str | None:
    return request.build_absolute_uri(field.url) if field else None


class StoreBriefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    address = serializers.CharField()

    class Meta:
        ref_name = "MallStore"


class RewardSerializer(serializers.Serializer):
    """A reward as the signed-in member sees it (a points.selectors.mall.RewardForMember)."""

    id = serializers.IntegerField(source="reward.pk")
    name = serializers.CharField(source="reward.name")
    description = serializers.CharField(source="reward.description")
    kind = serializers.CharField(source="reward.kind", help_text=f"One of {REWARD_KINDS}.")
    image_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    points_price = serializers.IntegerField(source="reward.points_price")
    cash_price = serializers.DecimalField(
        source="reward.cash_price", max_digits=12, decimal_places=2, help_text="0.00 means points only."
    )
    currency = serializers.SerializerMethodField()
    stored_value_amount = serializers.DecimalField(
        source="reward.stored_value_amount", max_digits=12, decimal_places=2, allow_null=True
    )
    stock_remaining = serializers.IntegerField(source="reward.stock_remaining")
    per_member_limit = serializers.IntegerField(source="reward.per_member_limit", allow_null=True)
    redeemed_count = serializers.IntegerField(help_text="The member's orders of it that count against the limit.")
    tiers = serializers.SerializerMethodField(help_text="Tier codes that may redeem it; empty means every member.")
    pickup_stores = serializers.SerializerMethodField(
        help_text="Where a gift or experience may be picked up; empty for them means any active store."
    )
    starts_at = serializers.DateTimeField(source="reward.starts_at", allow_null=True)
    ends_at = serializers.DateTimeField(source="reward.ends_at", allow_null=True)
    opens_at = serializers.DateTimeField(
        allow_null=True, help_text="When it opens for this member (early access counted); empty: open."
    )
    can_redeem = serializers.BooleanField()
    reason = serializers.CharField(
        allow_null=True,
        help_text="Why not, as an error code: reward_not_available, reward_tier_required, out_of_stock, "
        "reward_limit_reached, insufficient_points, points_spending_not_allowed.",
    )

    class Meta:
        ref_name = "MallReward"

    def get_image_url(self, item) -> str | None:
        return _absolute_url(self.context["request"], item.reward.image)

    def get_thumbnail_url(self, item) -> str | None:
        return _absolute_url(self.context["request"], item.reward.thumbnail)

    def get_currency(self, item) -> str:
        return settings.CURRENCY

    def get_tiers(self, item) -> list[str]:
        return [tier.code for tier in item.reward.tiers.all()]

    @extend_schema(responses=StoreBriefSerializer(many=True))
    def get_pickup_stores(self, item) -> list[dict]:
        if not item.reward.is_pickup:
            return []
        return StoreBriefSerializer(item.reward.pickup_stores.all(), many=True).data


class RewardOrderSerializer(serializers.Serializer):
    class RewardBriefSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()
        kind = serializers.CharField(help_text=f"One of {REWARD_KINDS}.")
        thumbnail_url = serializers.SerializerMethodField()

        class Meta:
            ref_name = "MallOrderReward"

        def get_thumbnail_url(self, reward) -> str | None:
            return _absolute_url(self.context["request"], reward.thumbnail)

    class CouponBriefSerializer(serializers.Serializer):
        code = serializers.CharField()
        valid_until = serializers.DateTimeField(allow_null=True)

        class Meta:
            ref_name = "MallOrderCoupon"

    class PartnerCodeSerializer(serializers.Serializer):
        code = serializers.CharField()
        pin = serializers.CharField()
        valid_until = serializers.DateField(allow_null=True)

        class Meta:
            ref_name = "MallOrderPartnerCode"

    id = serializers.IntegerField()
    status = serializers.CharField(help_text=f"One of {ORDER_STATUSES}.")
    reward = RewardBriefSerializer()
    points = serializers.IntegerField()
    cash_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.SerializerMethodField()
    payment_provider = serializers.CharField()
    payment_transaction_id = serializers.CharField()
    pickup_store = StoreBriefSerializer(allow_null=True)
    pickup_code = serializers.CharField(allow_null=True, help_text="Shown at the store to collect a gift.")
    coupon = CouponBriefSerializer(allow_null=True)
    stored_value_amount = serializers.DecimalField(
        source="stored_value_entry.amount", max_digits=12, decimal_places=2, allow_null=True, default=None
    )
    partner_code = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    fulfilled_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)
    cancel_reason = serializers.CharField()

    class Meta:
        ref_name = "MallOrder"

    def get_currency(self, order) -> str:
        return settings.CURRENCY

    @extend_schema(responses=PartnerCodeSerializer(allow_null=True))
    def get_partner_code(self, order) -> dict | None:
        code = getattr(order, "partner_code", None)
        return self.PartnerCodeSerializer(code).data if code is not None else None


class RewardListApi(MemberApi):
    """The mall as the signed-in member sees it: each reward with whether they can redeem it now and why not."""

    @extend_schema(
        operation_id="mall_rewards",
        tags=["mall"],
        responses={200: RewardSerializer(many=True), **error_responses(401)},
    )
    def get(self, request):
        rewards = rewards_for_member(member=request.user, now=timezone.now())
        return Response(RewardSerializer(rewards, many=True, context={"request": request}).data)


class RewardDetailApi(MemberApi):
    """One reward as the signed-in member sees it."""

    @extend_schema(
        operation_id="mall_reward", tags=["mall"], responses={200: RewardSerializer, **error_responses(401, 404)}
    )
    def get(self, request, reward_id):
        reward = reward_for_member(member=request.user, reward_id=reward_id, now=timezone.now())
        return Response(RewardSerializer(reward, context={"request": request}).data)


class RewardRedeemApi(MemberApi):
    """Redeem a reward with points (and the cash part, paid through a payment provider, for points + cash).

    The Idempotency-Key header is required: a retry with the same key and body answers 200 with the first
    order (header `Idempotent-Replayed: true`); the same key with another body is refused. A points + cash
    redemption refused after WeChat Pay confirmed its payment (sold out, points spent meanwhile) gives the payment
    back: 409 `payment_refunded`, its `refund_reason` the refusal's code; the member is told when it is refunded.
    """

    throttle_classes = [MallRedeemThrottle]

    class InputSerializer(StrictInputSerializer):
        pickup_store = serializers.CharField(
            required=False, max_length=32, help_text="The store code, for gifts and experiences picked up in store."
        )
        provider = serializers.ChoiceField(
            choices=MEMBER_PAYMENT_PROVIDERS, required=False, help_text="For points + cash: the payment provider."
        )
        transaction_id = serializers.CharField(
            required=False, max_length=100, help_text="For points + cash: the WeChat Pay order number paid."
        )

        class Meta:
            ref_name = "MallRedeemInput"

    @extend_schema(
        operation_id="mall_reward_redeem",
        tags=["mall"],
        request=InputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: RewardOrderSerializer,
            200: RewardOrderSerializer,
            **error_responses(400, 401, 403, 404, 409, 422, 429, 503),
        },
    )
    def post(self, request, reward_id):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = reward_redeem_in_mall(
            member_id=request.user.pk,
            reward_id=reward_id,
            idempotency_key=request.headers.get("Idempotency-Key", ""),
            now=timezone.now(),
            pickup_store_code=data.get("pickup_store", ""),
            payment_provider=data.get("provider", ""),
            payment_transaction_id=data.get("transaction_id", ""),
        )
        body = RewardOrderSerializer(result.order, context={"request": request}).data
        if result.is_replay:
            return Response(body, status=status.HTTP_200_OK, headers={REPLAY_HEADER: "true"})
        return Response(body, status=status.HTTP_201_CREATED)


class MeRewardOrderListApi(MemberApi):
    """The signed-in member's own reward orders, newest first (cursor pages)."""

    # Read by drf-spectacular too: the answer is documented as a page (next, previous, results), not a list.
    pagination_class = NewestFirstPages

    @extend_schema(
        operation_id="me_mall_orders",
        tags=["mall"],
        parameters=[
            OpenApiParameter("status", str, required=False, description=f"One of {ORDER_STATUSES}."),
        ],
        responses={200: RewardOrderSerializer(many=True), **error_responses(400, 401)},
    )
    def get(self, request):
        order_status = request.query_params.get("status") or None
        if order_status is not None and order_status not in RewardOrder.Status.values:
            message = _("Choose one of: %(choices)s.") % {"choices": ORDER_STATUSES}
            raise serializers.ValidationError({"status": [message]})
        paginator = self.pagination_class()
        orders = reward_orders_of_member(member_id=request.user.pk, status=order_status)
        page = paginator.paginate_queryset(orders, request, view=self)
        return paginator.get_paginated_response(
            RewardOrderSerializer(page, many=True, context={"request": request}).data
        )


class MeRewardOrderDetailApi(MemberApi):
    """One of the signed-in member's own orders (with its pickup code); another member's answers 404."""

    @extend_schema(
        operation_id="me_mall_order", tags=["mall"], responses={200: RewardOrderSerializer, **error_responses(401, 404)}
    )
    def get(self, request, order_id):
        order = reward_order_of_member(member_id=request.user.pk, order_id=order_id)
        return Response(RewardOrderSerializer(order, context={"request": request}).data)


class MeRewardOrderCancelApi(MemberApi):
    """Cancel one's own order while it awaits pickup (points only; a cash order is cancelled by the store):
    the points come back and the stock returns. Cancelling twice answers `order_not_cancellable`."""

    class InputSerializer(StrictInputSerializer):
        reason = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")

        class Meta:
            ref_name = "MallOrderCancelInput"

    @extend_schema(
        operation_id="me_mall_order_cancel",
        tags=["mall"],
        request=InputSerializer,
        responses={200: RewardOrderSerializer, **error_responses(400, 401, 404, 409)},
    )
    def post(self, request, order_id):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = reward_order_cancel_by_member(
            order_id=order_id,
            member_id=request.user.pk,
            reason=serializer.validated_data["reason"],
            now=timezone.now(),
        )
        return Response(RewardOrderSerializer(order, context={"request": request}).data)


class PosRewardPickupApi(BaseApi):
    """Hand over a reward pickup at this store (the POS key's): the member shows the pickup code."""

    authentication_classes = [StoreApiKeyAuthentication]
    permission_classes = [IsPosClient]
    throttle_classes = [PickupCodeThrottle]

    class InputSerializer(StrictInputSerializer):
        pickup_code = serializers.CharField(max_length=16)

        class Meta:
            ref_name = "PosRewardPickupInput"

    class OutputSerializer(serializers.Serializer):
        order_id = serializers.IntegerField(source="pk")
        reward_name = serializers.CharField(source="reward.name")
        reward_kind = serializers.CharField(source="reward.kind", help_text=f"One of {REWARD_KINDS}.")
        member_number = serializers.CharField(source="member.member_number")
        status = serializers.CharField()
        fulfilled_at = serializers.DateTimeField()

        class Meta:
            ref_name = "PosRewardPickup"

    @extend_schema(
        operation_id="pos_mall_orders_fulfil",
        tags=["pos"],
        request=InputSerializer,
        parameters=[POS_IDEMPOTENCY_HEADER],
        responses={200: OutputSerializer, **error_responses(400, 401, 403, 404, 409, 422, 429)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = reward_order_fulfil_at_till(
            pickup_code=serializer.validated_data["pickup_code"],
            store_id=request.user.store.pk,
            now=timezone.now(),
            idempotency_key=request.headers.get("Idempotency-Key"),
            render=lambda order: self.OutputSerializer(order).data,
        )
        headers = {REPLAY_HEADER: "true"} if result.is_replay else {}
        return Response(result.body, status=result.status_code, headers=headers)
