"""The member's coupons in the mini program: offers to claim, claiming, the wallet, checking a cart."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from coupons.api.serializers import (
    CartCouponsOutputSerializer,
    CartInputSerializer,
    CouponOutputSerializer,
    CouponTemplateOutputSerializer,
)
from coupons.api.throttles import CouponClaimThrottle
from coupons.models import Coupon
from coupons.selectors import coupon_templates_claimable, coupons_for_cart, coupons_of_member
from coupons.services import coupon_claim
from infra.api import BaseApi, IdField, NewestFirstPages, StrictInputSerializer, error_responses
from members.api.authentication import MemberTokenAuthentication
from members.api.permissions import IsMember
from members.models import Store


class MemberApi(BaseApi):
    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsMember]


class CouponClaimableListApi(MemberApi):
    """Offers the signed-in member may claim now (open, in stock, for them, under their limit)."""

    class OutputSerializer(CouponTemplateOutputSerializer):
        """A template plus the member's view of it; context["claimable"] maps template ids to the selector's rows."""

        remaining = serializers.SerializerMethodField(help_text="Left in stock; null when unlimited.")
        per_member_limit = serializers.IntegerField(allow_null=True)
        claimed_count = serializers.SerializerMethodField(help_text="How many the member already holds.")

        class Meta:
            ref_name = "ClaimableCouponTemplate"

        def get_remaining(self, template) -> int | None:
            return self.context["claimable"][template.pk].remaining

        def get_claimed_count(self, template) -> int:
            return self.context["claimable"][template.pk].claimed_count

    @extend_schema(
        operation_id="coupons_claimable",
        tags=["coupons"],
        responses={200: OutputSerializer(many=True), **error_responses(401)},
    )
    def get(self, request):
        claimable = coupon_templates_claimable(member=request.user, now=timezone.now())
        context = {"claimable": {item.template.pk: item for item in claimable}}
        return Response(self.OutputSerializer([item.template for item in claimable], many=True, context=context).data)


class CouponClaimApi(MemberApi):
    """Claim one coupon of an offer (flash sales too): `sold_out` and `limit_reached` answer fast."""

    throttle_classes = [CouponClaimThrottle]

    class InputSerializer(StrictInputSerializer):
        template_id = IdField()

        class Meta:
            ref_name = "CouponClaimInput"

    @extend_schema(
        operation_id="coupons_claim",
        tags=["coupons"],
        request=InputSerializer,
        responses={201: CouponOutputSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        coupon = coupon_claim(
            member_id=request.user.pk, template_id=serializer.validated_data["template_id"], now=timezone.now()
        )
        return Response(CouponOutputSerializer(coupon).data, status=201)


class CouponPagination(NewestFirstPages):
    page_size = 50
    max_page_size = 200


class MeCouponListApi(MemberApi):
    """The signed-in member's own coupons, newest first (cursor pages)."""

    # Read by drf-spectacular too: the answer is documented as a page (next, previous, results), not a list.
    pagination_class = CouponPagination

    @extend_schema(
        operation_id="me_coupons",
        tags=["coupons"],
        parameters=[
            OpenApiParameter("status", enum=Coupon.Status.values, required=False),
        ],
        responses={200: CouponOutputSerializer(many=True), **error_responses(400, 401)},
    )
    def get(self, request):
        status = request.query_params.get("status") or None
        if status is not None and status not in Coupon.Status.values:
            message = _("Choose one of: %(choices)s.") % {"choices": ", ".join(Coupon.Status.values)}
            raise serializers.ValidationError({"status": [message]})
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(coupons_of_member(member_id=request.user.pk, status=status), request, self)
        return paginator.get_paginated_response(CouponOutputSerializer(page, many=True).data)


class CouponValidateApi(MemberApi):
    """Every coupon the member holds, checked against a cart: applicable or why not, the saving, the best."""

    class InputSerializer(CartInputSerializer):
        store = serializers.SlugRelatedField(
            slug_field="code", queryset=Store.objects.filter(is_active=True), required=False, allow_null=True
        )

        class Meta:
            ref_name = "MemberCartInput"

    @extend_schema(
        operation_id="coupons_validate",
        tags=["coupons"],
        request=InputSerializer,
        responses={200: CartCouponsOutputSerializer, **error_responses(400, 401)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        store = serializer.validated_data.get("store")
        cart = serializer.cart(store_id=store.pk if store else None)
        result = coupons_for_cart(member_id=request.user.pk, cart=cart, now=timezone.now())
        return Response(CartCouponsOutputSerializer(result).data)
