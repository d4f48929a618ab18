"""Stored value for the signed-in member: balance, ledger, top-up offers and recording a paid top-up."""

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from infra.api import BaseApi, IdField, NewestFirstPages, StrictInputSerializer, error_responses
from members.api.authentication import MemberTokenAuthentication
from members.api.permissions import IsActiveMember, IsMember
from members.models import StoredValueEntry
from members.selectors.stored_value import stored_value_entries_of_member, top_up_offers_available
from members.services.payments import MEMBER_PAYMENT_PROVIDERS
from members.services.stored_value import stored_value_top_up_by_member


class MemberApi(BaseApi):
    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsMember]


class EntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    # A plain string in the schema (as in points/api/member.py): an enum named "kind" would collide with the
    # coupon template's.
    kind = serializers.CharField(help_text=f"One of {', '.join(StoredValueEntry.Kind.values)}.")
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    balance_after = serializers.DecimalField(max_digits=14, decimal_places=2)
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "StoredValueEntry"


class OfferSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    pay_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    bonus_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    valid_until = serializers.DateTimeField(allow_null=True)
    tier = serializers.CharField(source="tier.code", allow_null=True, default=None, help_text="Tier granted, if any.")
    tier_duration_value = serializers.IntegerField(allow_null=True)
    tier_duration_unit = serializers.CharField()

    class Meta:
        ref_name = "TopUpOffer"


class TierGrantSerializer(serializers.Serializer):
    tier = serializers.CharField(source="tier.code")
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()

    class Meta:
        ref_name = "TopUpTierGrant"


class BalanceSerializer(serializers.Serializer):
    balance = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()

    class Meta:
        ref_name = "StoredValueBalance"


class MeStoredValueApi(MemberApi):
    """The member's stored-value balance."""

    @extend_schema(
        operation_id="me_stored_value",
        tags=["stored value"],
        responses={200: BalanceSerializer, **error_responses(401)},
    )
    def get(self, request):
        data = {"balance": request.user.stored_value_balance, "currency": settings.CURRENCY}
        return Response(BalanceSerializer(data).data)


class EntryPagination(NewestFirstPages):
    page_size = 50
    max_page_size = 200


class MeStoredValueEntryListApi(MemberApi):
    """The member's own stored-value ledger, newest first (cursor pages)."""

    # Read by drf-spectacular too: the answer is documented as a page (next, previous, results), not a list.
    pagination_class = EntryPagination

    @extend_schema(
        operation_id="me_stored_value_entries",
        tags=["stored value"],
        responses={200: EntrySerializer(many=True), **error_responses(401)},
    )
    def get(self, request):
        paginator = self.pagination_class()
        entries = stored_value_entries_of_member(member_id=request.user.pk)
        page = paginator.paginate_queryset(entries, request, self)
        return paginator.get_paginated_response(EntrySerializer(page, many=True).data)


class TopUpOfferListApi(MemberApi):
    """The top-up offers available now."""

    @extend_schema(
        operation_id="stored_value_offers",
        tags=["stored value"],
        responses={200: OfferSerializer(many=True), **error_responses(401)},
    )
    def get(self, request):
        offers = top_up_offers_available(now=timezone.now())
        return Response(OfferSerializer(offers, many=True).data)


class MeTopUpApi(MemberApi):
    """Record a top-up the member paid in the mini program through WeChat Pay.

    Recorded only when WeChat Pay confirms the order `transaction_id` was paid by this member for the price
    (`payment_not_confirmed`, `payment_amount_mismatch`; `payment_provider_unavailable` is worth retrying).
    The transaction id makes it idempotent: a replay answers 200 with the first top-up.
    """

    permission_classes = [IsActiveMember]

    class InputSerializer(StrictInputSerializer):
        offer = IdField()
        provider = serializers.ChoiceField(choices=MEMBER_PAYMENT_PROVIDERS, help_text="The payment provider.")
        transaction_id = serializers.CharField(max_length=100, help_text="The WeChat Pay order number paid.")

        class Meta:
            ref_name = "TopUpInput"

    class OutputSerializer(serializers.Serializer):
        top_up = EntrySerializer()
        bonus = EntrySerializer(allow_null=True)
        balance = serializers.DecimalField(max_digits=14, decimal_places=2)
        currency = serializers.CharField()
        replayed = serializers.BooleanField()
        tier_grant = TierGrantSerializer(allow_null=True, help_text="The tier this top-up holds for a period.")

        class Meta:
            ref_name = "TopUpResult"

    @extend_schema(
        operation_id="me_stored_value_top_up",
        tags=["stored value"],
        request=InputSerializer,
        responses={201: OutputSerializer, 200: OutputSerializer, **error_responses(400, 401, 404, 409, 422, 503)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = stored_value_top_up_by_member(
            member_id=request.user.pk,
            offer_id=data["offer"],
            provider=data["provider"],
            transaction_id=data["transaction_id"],
            now=timezone.now(),
        )
        body = {
            "top_up": result.top_up,
            "bonus": result.bonus,
            "balance": result.balance,
            "currency": settings.CURRENCY,
            "replayed": result.is_replay,
            "tier_grant": result.tier_grant,
        }
        return Response(self.OutputSerializer(body).data, status=200 if result.is_replay else 201)
