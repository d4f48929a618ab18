"""Behaviour bonuses through the API: the till reports a try-on; the mini-program reports a share, a photo
upload or a completed profile. What a member may report, caps and idempotency live in points.services.behaviour."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from infra.api import BaseApi, StrictInputSerializer, error_responses
from members.api.authentication import MemberTokenAuthentication, StoreApiKeyAuthentication
from members.api.permissions import IsActiveMember, IsPosClient
from points.models import EarningRule
from points.services.behaviour import behaviour_reward_at_till, behaviour_reward_self_reported

Event = EarningRule.BehaviourEvent


class BehaviourOutputSerializer(serializers.Serializer):
    event = serializers.CharField()
    points = serializers.IntegerField(help_text="0 when a cap was reached or the member does not earn.")
    points_balance = serializers.IntegerField()

    class Meta:
        ref_name = "BehaviourReward"


def _answer(*, event, reward):
    body = {"event": event, "points": reward.points, "points_balance": reward.points_balance}
    return Response(BehaviourOutputSerializer(body).data)


class MeBehaviourEventApi(BaseApi):
    """Report something the member did in the mini-program; the active behaviour rules decide the points.

    `occurrence_id` names the occurrence (a share ticket, a photo id): the same one again earns nothing more.
    A completed profile earns once, and only when the profile really is complete.
    """

    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsActiveMember]

    class InputSerializer(StrictInputSerializer):
        event = serializers.ChoiceField(choices=Event.choices)
        occurrence_id = serializers.CharField(max_length=64, required=False, default="")

        class Meta:
            ref_name = "MeBehaviourEventInput"

    @extend_schema(
        operation_id="me_behaviour_event",
        tags=["member"],
        request=InputSerializer,
        responses={200: BehaviourOutputSerializer, **error_responses(400, 401, 403, 404, 409, 422)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        reward = behaviour_reward_self_reported(
            member_id=request.user.pk, event=data["event"], occurrence_id=data["occurrence_id"], now=timezone.now()
        )
        return _answer(event=data["event"], reward=reward)


class PosBehaviourEventApi(BaseApi):
    """Record a behaviour seen in this store (a try-on) for the member the till identifies."""

    authentication_classes = [StoreApiKeyAuthentication]
    permission_classes = [IsPosClient]

    class InputSerializer(StrictInputSerializer):
        event = serializers.ChoiceField(choices=Event.choices)
        occurrence_id = serializers.CharField(max_length=64, help_text="The till's id for it; a retry reuses it.")
        card_code = serializers.CharField(required=False, max_length=32)
        member_number = serializers.CharField(required=False, max_length=16)
        phone = serializers.CharField(required=False, max_length=32)

        class Meta:
            ref_name = "PosBehaviourEventInput"

    @extend_schema(
        operation_id="pos_behaviour_event",
        tags=["pos"],
        request=InputSerializer,
        responses={200: BehaviourOutputSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        reward = behaviour_reward_at_till(
            store_id=request.user.store.pk,
            event=data["event"],
            occurrence_id=data["occurrence_id"],
            now=timezone.now(),
            card_code=data.get("card_code", ""),
            member_number=data.get("member_number", ""),
            phone=data.get("phone", ""),
        )
        return _answer(event=data["event"], reward=reward)
