from django.urls import path

from coupons.api.member import CouponClaimableListApi, CouponClaimApi, CouponValidateApi, MeCouponListApi
from coupons.api.pos import PosCouponRedeemApi, PosCouponValidateApi

urlpatterns = [
    path("coupons/claimable", CouponClaimableListApi.as_view(), name="coupons-claimable"),
    path("coupons/claim", CouponClaimApi.as_view(), name="coupons-claim"),
    path("coupons/validate", CouponValidateApi.as_view(), name="coupons-validate"),
    path("me/coupons", MeCouponListApi.as_view(), name="me-coupons"),
    path("pos/coupons/validate", PosCouponValidateApi.as_view(), name="pos-coupons-validate"),
    path("pos/coupons/redeem", PosCouponRedeemApi.as_view(), name="pos-coupons-redeem"),
]
