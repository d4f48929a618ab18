from django.urls import path

from members.api.auth import LogoutApi, WechatLoginApi
from members.api.me import MeApi, MeCardApi, MeCardQrApi, MeJoinApi, MePhoneApi
from members.api.pos import PosMemberLookupApi
from members.api.stores import StoreListApi

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
]
