from django.urls import path

from campaigns.api.channels import MeWechatSubscriptionsApi, SmsReplyApi
from campaigns.api.location import MeLocationApi

urlpatterns = [
    path("me/location", MeLocationApi.as_view(), name="me-location"),
    path("me/wechat-subscriptions", MeWechatSubscriptionsApi.as_view(), name="me-wechat-subscriptions"),
    path("channels/sms/replies", SmsReplyApi.as_view(), name="sms-replies"),
]
