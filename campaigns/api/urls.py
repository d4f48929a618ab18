from django.urls import path

from campaigns.api.channels import MeWechatSubscriptionsApi, SmsReplyApi, UnsubscribeApi

urlpatterns = [
    path("me/wechat-subscriptions", MeWechatSubscriptionsApi.as_view(), name="me-wechat-subscriptions"),
    path("unsubscribe/<str:token>", UnsubscribeApi.as_view(), name="unsubscribe"),
    path("channels/sms/replies", SmsReplyApi.as_view(), name="sms-replies"),
]
