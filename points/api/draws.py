"""Lucky draws in the mini program (the draws open to the member with their odds, spinning, their own spins), and
the till handing over prizes won in draws and auctions."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from infra.api import BaseApi, NewestFirstPages, StrictInputSerializer, error_responses
from members.api.authentication import MemberTokenAuthentication, StoreApiKeyAuthentication
from members.api.permissions import IsMember, IsPosClient
from members.services.idempotency import idempotency_key_validate
from points.models import DrawPrize, DrawSpin
from points.selectors.draws import draws_open_for_member, member_draw_spins
from points.services.draws import draw_spin
from points.services.prizes import prize_collect

REPLAY_HEADER = "Idempotent-Replayed"
IDEMPOTENCY_KEY_REQUIRED = OpenApiParameter(
    "Idempotency-Key",
    str,
    location=OpenApiParameter.HEADER,
    required=True,
    description="Required: a retry with the same key gets the first answer again (and is charged once).",
)


class MemberApi(BaseApi):
    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsMember]


class DrawPrizeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="prize.pk")
    name = serializers.CharField(source="prize.name")
    # A plain string in the schema: an enum named "kind" would collide with others.
    kind = serializers.CharField(source="prize.kind", help_text=f"One of {', '.join(DrawPrize.Kind.values)}.")
    points = serializers.IntegerField(source="prize.points", allow_null=True, help_text="For a points prize.")
    in_stock = serializers.BooleanField()
    chance_percent = serializers.FloatField(help_text="The chance of winning it on one spin now, in percent.")

    class Meta:
        ref_name = "DrawPrize"


class DrawListApi(MemberApi):
    """Lucky draws the member may spin now: price, window, limits and spins used, and each prize's odds."""

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(source="draw.pk")
        name = serializers.CharField(source="draw.name")
        description = serializers.CharField(source="draw.description")
        points_per_spin = serializers.IntegerField(source="draw.points_per_spin")
        starts_at = serializers.DateTimeField(source="draw.starts_at")
        ends_at = serializers.DateTimeField(source="draw.ends_at")
        daily_spin_limit = serializers.IntegerField(source="draw.daily_spin_limit", allow_null=True)
        total_spin_limit = serializers.IntegerField(source="draw.total_spin_limit", allow_null=True)
        spins_today = serializers.IntegerField()
        spins_total = serializers.IntegerField()
        no_prize_percent = serializers.FloatField(help_text="The chance of winning nothing on one spin now.")
        prizes = DrawPrizeOutputSerializer(many=True)

        class Meta:
            ref_name = "LuckyDraw"

    @extend_schema(
        operation_id="draws", tags=["draws"], responses={200: OutputSerializer(many=True), **error_responses(401)}
    )
    def get(self, request):
        draws = draws_open_for_member(member=request.user, now=timezone.now())
        return Response(self.OutputSerializer(draws, many=True).data)


class DrawSpinOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    draw_id = serializers.IntegerField()
    draw_name = serializers.CharField(source="draw.name")
    points_spent = serializers.IntegerField()
    outcome = serializers.ChoiceField(choices=DrawSpin.Outcome.choices)
    prize_id = serializers.IntegerField(allow_null=True)
    prize_name = serializers.CharField(source="prize.name", allow_null=True, default=None)
    points_won = serializers.IntegerField(source="prize_entry.delta", allow_null=True, default=None)
    coupon_code = serializers.CharField(source="coupon.code", allow_null=True, default=None)
    claim_code = serializers.CharField(allow_null=True, help_text="For a gift: show it in store to collect.")
    collected_at = serializers.DateTimeField(allow_null=True, help_text="When the gift was collected in store.")
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "DrawSpin"


class DrawSpinApi(MemberApi):
    """Spin a draw once: its points are spent, a prize (or nothing) is drawn with `secrets` and granted at once.

    The Idempotency-Key header is required; a retry with the same key returns the first spin again (header
    `Idempotent-Replayed: true`) and spends nothing more.
    """

    @extend_schema(
        operation_id="draws_spin",
        tags=["draws"],
        request=None,
        parameters=[IDEMPOTENCY_KEY_REQUIRED],
        responses={201: DrawSpinOutputSerializer, **error_responses(400, 401, 403, 404, 409, 422)},
    )
    def post(self, request, draw_id: int):
        key = idempotency_key_validate(request.headers.get("Idempotency-Key"))
        result = draw_spin(member_id=request.user.pk, draw_id=draw_id, idempotency_key=key, now=timezone.now())
        body = DrawSpinOutputSerializer(result.spin).data
        headers = {REPLAY_HEADER: "true"} if result.is_replay else {}
        return Response(body, status=201, headers=headers)


class MeDrawSpinListApi(MemberApi):
    """The member's own spins, newest first (cursor pages): what each cost and won."""

    # Read by drf-spectacular too: the answer is documented as a page (next, previous, results), not a list.
    pagination_class = NewestFirstPages

    @extend_schema(
        operation_id="me_draw_spins",
        tags=["draws"],
        responses={200: DrawSpinOutputSerializer(many=True), **error_responses(401)},
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(member_draw_spins(member_id=request.user.pk), request, view=self)
        return paginator.get_paginated_response(DrawSpinOutputSerializer(page, many=True).data)


class PosPrizeCollectApi(BaseApi):
    """Hand over, at this store (the POS key's), a gift won in a lucky draw or an item won in an auction.

    The member shows the claim code; each prize is handed over once, even when two tills try together.
    """

    authentication_classes = [StoreApiKeyAuthentication]
    permission_classes = [IsPosClient]

    class InputSerializer(StrictInputSerializer):
        claim_code = serializers.CharField(max_length=20)

        class Meta:
            ref_name = "PosPrizeCollectInput"

    class OutputSerializer(serializers.Serializer):
        source = serializers.CharField(help_text="lucky_draw or auction.")
        item_name = serializers.CharField()
        member_number = serializers.CharField()
        collected_at = serializers.DateTimeField()

        class Meta:
            ref_name = "PosPrizeCollection"

    @extend_schema(
        operation_id="pos_prizes_collect",
        tags=["pos"],
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        prize = prize_collect(
            claim_code=serializer.validated_data["claim_code"], store_id=request.user.store.pk, now=timezone.now()
        )
        body = {
            "source": prize.source,
            "item_name": prize.item_name,
            "member_number": prize.member.member_number,
            "collected_at": prize.collected_at,
        }
        return Response(self.OutputSerializer(body).data)
