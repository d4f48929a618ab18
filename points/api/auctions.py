"""Points auctions in the mini program: open auctions, one auction with the member's own bid, bidding, own bids.

Other members' bids are never shown: an auction shows the leading points and the number of bids, not who bid.
"""

from datetime import datetime

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from infra.api import NewestFirstPages, StrictInputSerializer, error_responses
from members.services.idempotency import idempotency_key_validate
from points.api.draws import IDEMPOTENCY_KEY_REQUIRED, REPLAY_HEADER, MemberApi
from points.models import Auction, AuctionBid
from points.selectors.auctions import auction_for_member, auctions_listed, member_auction_bids
from points.services.auctions import auction_bid_place_by_member, auction_minimum_bid


class AuctionOutputSerializer(serializers.Serializer):
    """An auction as every member sees it; the annotations come from points.selectors.auctions."""

    id = serializers.IntegerField()
    item_name = serializers.CharField()
    description = serializers.CharField()
    image_url = serializers.SerializerMethodField()
    # Plain strings in the schema: enums named "status" would collide with others.
    status = serializers.CharField(help_text=f"One of {', '.join(Auction.Status.values)}.")
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    starting_bid = serializers.IntegerField()
    min_increment = serializers.IntegerField()
    leading_points = serializers.IntegerField(allow_null=True, help_text="Empty while nobody has bid.")
    bid_count = serializers.IntegerField()
    minimum_bid = serializers.SerializerMethodField(help_text="The lowest bid accepted now.")

    class Meta:
        ref_name = "Auction"

    def get_image_url(self, auction) -> str | None:
        if not auction.image:
            return None
        request = self.context.get("request")
        return request.build_absolute_uri(auction.image.url) if request else auction.image.url

    def get_minimum_bid(self, auction) -> int:
        return auction_minimum_bid(auction=auction, leading_points=auction.leading_points)


class AuctionBidOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    auction_id = serializers.IntegerField()
    item_name = serializers.CharField(source="auction.item_name")
    points = serializers.IntegerField()
    status = serializers.CharField(help_text=f"One of {', '.join(AuctionBid.Status.values)}.")
    created_at = serializers.DateTimeField()
    released_at = serializers.DateTimeField(allow_null=True, help_text="When the held points came back.")
    claim_code = serializers.SerializerMethodField(help_text="For a won auction: show it in store to collect.")
    collected_at = serializers.SerializerMethodField(help_text="When the item won was collected in store.")

    class Meta:
        ref_name = "AuctionBid"

    def get_claim_code(self, bid) -> str | None:
        return bid.auction.claim_code if bid.status == AuctionBid.Status.WON else None

    def get_collected_at(self, bid) -> datetime | None:
        return bid.auction.collected_at if bid.status == AuctionBid.Status.WON else None


class AuctionListApi(MemberApi):
    """Auctions open for bids, or about to open, soonest ending first."""

    @extend_schema(
        operation_id="auctions",
        tags=["auctions"],
        responses={200: AuctionOutputSerializer(many=True), **error_responses(401)},
    )
    def get(self, request):
        auctions = auctions_listed(now=timezone.now())
        return Response(AuctionOutputSerializer(auctions, many=True, context={"request": request}).data)


class AuctionDetailApi(MemberApi):
    """One auction: the leading points, the lowest bid accepted now, and the member's own latest bid."""

    class OutputSerializer(AuctionOutputSerializer):
        your_bid = serializers.SerializerMethodField()
        is_leading = serializers.SerializerMethodField()

        class Meta:
            ref_name = "AuctionDetail"

        def _bid(self, auction):
            return self.context["your_bid"]

        @extend_schema_field(AuctionBidOutputSerializer(allow_null=True))
        def get_your_bid(self, auction) -> dict | None:
            bid = self._bid(auction)
            return AuctionBidOutputSerializer(bid).data if bid else None

        def get_is_leading(self, auction) -> bool:
            bid = self._bid(auction)
            return bool(bid and bid.status == AuctionBid.Status.LEADING)

    @extend_schema(
        operation_id="auction",
        tags=["auctions"],
        responses={200: OutputSerializer, **error_responses(401, 404)},
    )
    def get(self, request, auction_id: int):
        detail = auction_for_member(auction_id=auction_id, member_id=request.user.pk)
        context = {"request": request, "your_bid": detail.your_bid}
        return Response(self.OutputSerializer(detail.auction, context=context).data)


class AuctionBidCreateApi(MemberApi):
    """Bid points: they are held (taken from the balance) while the bid leads and come back when outbid.

    The Idempotency-Key header is required; a retry with the same key returns the first bid again (header
    `Idempotent-Replayed: true`).
    """

    class InputSerializer(StrictInputSerializer):
        points = serializers.IntegerField(min_value=1)

        class Meta:
            ref_name = "AuctionBidInput"

    @extend_schema(
        operation_id="auctions_bid",
        tags=["auctions"],
        request=InputSerializer,
        parameters=[IDEMPOTENCY_KEY_REQUIRED],
        responses={
            201: AuctionBidOutputSerializer,
            **error_responses(400, 401, 403, 404, 409, 422),
        },
    )
    def post(self, request, auction_id: int):
        key = idempotency_key_validate(request.headers.get("Idempotency-Key"))
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = auction_bid_place_by_member(
            member_id=request.user.pk,
            auction_id=auction_id,
            points=serializer.validated_data["points"],
            idempotency_key=key,
            now=timezone.now(),
        )
        body = AuctionBidOutputSerializer(result.bid).data
        headers = {REPLAY_HEADER: "true"} if result.is_replay else {}
        return Response(body, status=201, headers=headers)


class MeAuctionBidListApi(MemberApi):
    """The member's own bids, newest first (cursor pages), with the claim code of an auction won."""

    # Read by drf-spectacular too: the answer is documented as a page (next, previous, results), not a list.
    pagination_class = NewestFirstPages

    @extend_schema(
        operation_id="me_auction_bids",
        tags=["auctions"],
        responses={200: AuctionBidOutputSerializer(many=True), **error_responses(401)},
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(member_auction_bids(member_id=request.user.pk), request, view=self)
        return paginator.get_paginated_response(AuctionBidOutputSerializer(page, many=True).data)
