from django.urls import path

from members.api.auth import LogoutApi, WechatLoginApi
from members.api.me import MeApi, MeCardApi, MeCardQrApi, MeJoinApi, MePhoneApi
from members.api.notifications import MeInboxApi, MeInboxReadApi
from members.api.plans import MePlanListApi, MePlanPurchaseApi, PlanListApi
from members.api.pos import PosMemberLookupApi
from members.api.stored_value import MeStoredValueApi, MeStoredValueEntryListApi, MeTopUpApi, TopUpOfferListApi
from members.api.stores import StoreListApi
from members.api.tier import MeTierApi

urlpatterns = [
    path("auth/wechat-login", WechatLoginApi.as_view(), name="auth-wechat-login"),
    path("auth/logout", LogoutApi.as_view(), name="auth-logout"),
    path("me", MeApi.as_view(), name="me"),
    path("me/phone", MePhoneApi.as_view(), name="me-phone"),
    path("me/join", MeJoinApi.as_view(), name="me-join"),
    path("me/card", MeCardApi.as_view(), name="me-card"),
    path("me/card/qr.png", MeCardQrApi.as_view(), name="me-card-qr"),
    path("pos/members/lookup", PosMemberLookupApi.as_view(), name="pos-member-lookup"),
    path("stores", StoreListApi.as_view(), name="stores"),
    path("me/tier", MeTierApi.as_view(), name="me-tier"),
    path("me/stored-value", MeStoredValueApi.as_view(), name="me-stored-value"),
    path("me/stored-value/entries", MeStoredValueEntryListApi.as_view(), name="me-stored-value-entries"),
    path("me/stored-value/top-ups", MeTopUpApi.as_view(), name="me-stored-value-top-ups"),
    path("stored-value/offers", TopUpOfferListApi.as_view(), name="stored-value-offers"),
    path("plans", PlanListApi.as_view(), name="plans"),
    path("me/plans", MePlanListApi.as_view(), name="me-plans"),
    path("me/plans/purchases", MePlanPurchaseApi.as_view(), name="me-plan-purchases"),
    path("me/inbox", MeInboxApi.as_view(), name="me-inbox"),
    path("me/inbox/read", MeInboxReadApi.as_view(), name="me-inbox-read"),
]
