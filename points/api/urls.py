from django.urls import path

from points.api.member import MePointsApi, MePointsEntriesApi
from points.api.pos import PosPingApi, PosPurchaseCreateApi, PosPurchasePreviewApi, PosPurchaseRefundApi

urlpatterns = [
    path("pos/ping", PosPingApi.as_view(), name="pos-ping"),
    path("pos/purchases", PosPurchaseCreateApi.as_view(), name="pos-purchases"),
    path("pos/purchases/preview", PosPurchasePreviewApi.as_view(), name="pos-purchases-preview"),
    path("pos/purchases/<str:external_id>/refunds", PosPurchaseRefundApi.as_view(), name="pos-purchase-refunds"),
    path("me/points", MePointsApi.as_view(), name="me-points"),
    path("me/points/entries", MePointsEntriesApi.as_view(), name="me-points-entries"),
]
