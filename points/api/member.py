"""The signed-in member's points: balances and lots with their expiry, and the ledger with its breakdowns."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from infra.api import BaseApi, NewestFirstPages, error_responses
from members.api.authentication import MemberTokenAuthentication
from members.api.permissions import IsMember
from members.models import PointsEntry
from points.api.serializers import BreakdownSerializer
from points.selectors import member_points_entries, member_points_get
from points.selectors.breakdowns import breakdown_named, breakdown_rule_names

# A plain string in the schema: an enum named "kind" would collide with the coupon template's.
ENTRY_KINDS = ", ".join(PointsEntry.Kind.values)


class MemberApi(BaseApi):
    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsMember]


class PointsLotSerializer(serializers.Serializer):
    points = serializers.IntegerField()
    remaining = serializers.IntegerField()
    is_pending = serializers.BooleanField()
    kind = serializers.CharField(help_text=f"The kind of entry that created it: {ENTRY_KINDS}.")
    earned_at = serializers.DateTimeField()
    activates_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True, help_text="Empty: these points never expire.")

    class Meta:
        ref_name = "PointsLot"


class MePointsApi(MemberApi):
    """The member's own points: available, held for a checkout, pending and owed, and every lot that still holds
    points."""

    class OutputSerializer(serializers.Serializer):
        balance = serializers.IntegerField()
        pending = serializers.IntegerField()
        debt = serializers.IntegerField(help_text="Points owed after refunds; later earnings repay it first.")
        held = serializers.IntegerField(
            help_text="Part of the balance held for checkout orders waiting for their payment: balance less held "
            "can be spent."
        )
        checkout_points = serializers.IntegerField(help_text="At checkout, this many points ...")
        checkout_value = serializers.DecimalField(
            max_digits=10, decimal_places=2, help_text="... are worth this much money."
        )
        lots = PointsLotSerializer(many=True)

        class Meta:
            ref_name = "MemberPoints"

    @extend_schema(operation_id="me_points", tags=["member"], responses={200: OutputSerializer, **error_responses(401)})
    def get(self, request):
        points = member_points_get(member_id=request.user.pk)
        body = {
            "balance": points.balance,
            "pending": points.pending,
            "debt": points.debt,
            "held": points.held,
            "checkout_points": points.checkout_points,
            "checkout_value": points.checkout_value,
            "lots": [
                {
                    "points": lot.points,
                    "remaining": lot.remaining,
                    "is_pending": not lot.is_active,
                    "kind": lot.entry.kind,
                    "earned_at": lot.entry.created_at,
                    "activates_at": lot.activates_at,
                    "expires_at": lot.expires_at,
                }
                for lot in points.lots
            ],
        }
        return Response(self.OutputSerializer(body).data)


class MePointsEntriesApi(MemberApi):
    """The member's own ledger, newest first, with the breakdown of each purchase's points."""

    pagination_class = NewestFirstPages

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        kind = serializers.CharField(help_text=f"One of {ENTRY_KINDS}.")
        points = serializers.IntegerField(source="delta")
        balance_after = serializers.IntegerField()
        debt_after = serializers.IntegerField()
        created_at = serializers.DateTimeField()
        reason = serializers.CharField(source="reason_shown", help_text="In the request's language.")
        purchase_external_id = serializers.CharField(source="purchase.external_id", allow_null=True, default=None)
        breakdown = serializers.SerializerMethodField()

        class Meta:
            ref_name = "PointsEntry"

        @extend_schema(responses=BreakdownSerializer)
        def get_breakdown(self, entry) -> dict | None:
            breakdown = entry.breakdown or {}
            if "rules" not in breakdown:
                return None
            return BreakdownSerializer(breakdown_named(breakdown, self.context.get("rule_names", {}))).data

    @extend_schema(
        operation_id="me_points_entries",
        tags=["member"],
        responses={200: OutputSerializer(many=True), **error_responses(401)},
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(member_points_entries(member_id=request.user.pk), request, view=self)
        names = breakdown_rule_names(breakdowns=[entry.breakdown for entry in page])
        return paginator.get_paginated_response(
            self.OutputSerializer(page, many=True, context={"rule_names": names}).data
        )
