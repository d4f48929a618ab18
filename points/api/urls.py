from django.urls import path

from points.api.auctions import AuctionBidCreateApi, AuctionDetailApi, AuctionListApi, MeAuctionBidListApi
from points.api.behaviour import MeBehaviourEventApi, PosBehaviourEventApi
from points.api.checkout_orders import (
    MeCheckoutOrderCancelApi,
    MeCheckoutOrderConfirmApi,
    MeCheckoutOrderDetailApi,
    MeCheckoutOrderListApi,
    WechatPayNotifyApi,
)
from points.api.draws import DrawListApi, DrawSpinApi, MeDrawSpinListApi, PosPrizeCollectApi
from points.api.mall import (
    MeRewardOrderCancelApi,
    MeRewardOrderDetailApi,
    MeRewardOrderListApi,
    PosRewardPickupApi,
    RewardDetailApi,
    RewardListApi,
    RewardRedeemApi,
)
from points.api.member import MePointsApi, MePointsEntriesApi
from points.api.pos import PosPingApi, PosPurchaseCreateApi, PosPurchasePreviewApi, PosPurchaseRefundApi
from points.api.purchases import MePurchasePreviewApi, MePurchasesApi

urlpatterns = [
    path("pos/ping", PosPingApi.as_view(), name="pos-ping"),
    path("pos/purchases", PosPurchaseCreateApi.as_view(), name="pos-purchases"),
    path("pos/purchases/preview", PosPurchasePreviewApi.as_view(), name="pos-purchases-preview"),
    # <path:>: a POS chooses its sale ids, and some contain "/" (sent as is or as %2F). Only "/refunds" ends the
    # route, so no other pos/purchases/... route is shadowed.
    path("pos/purchases/<path:external_id>/refunds", PosPurchaseRefundApi.as_view(), name="pos-purchase-refunds"),
    path("me/points", MePointsApi.as_view(), name="me-points"),
    path("me/purchases", MePurchasesApi.as_view(), name="me-purchases"),
    path("me/purchases/preview", MePurchasePreviewApi.as_view(), name="me-purchases-preview"),
    path("me/checkout-orders", MeCheckoutOrderListApi.as_view(), name="me-checkout-orders"),
    path("wechat-pay/notify", WechatPayNotifyApi.as_view(), name="wechat-pay-notify"),
    path("me/checkout-orders/<int:order_id>", MeCheckoutOrderDetailApi.as_view(), name="me-checkout-order"),
    path(
        "me/checkout-orders/<int:order_id>/cancel", MeCheckoutOrderCancelApi.as_view(), name="me-checkout-order-cancel"
    ),
    path(
        "me/checkout-orders/<int:order_id>/confirm",
        MeCheckoutOrderConfirmApi.as_view(),
        name="me-checkout-order-confirm",
    ),
    path("me/points/entries", MePointsEntriesApi.as_view(), name="me-points-entries"),
    path("me/behaviour-events", MeBehaviourEventApi.as_view(), name="me-behaviour-events"),
    path("pos/behaviour-events", PosBehaviourEventApi.as_view(), name="pos-behaviour-events"),
    path("mall/rewards", RewardListApi.as_view(), name="mall-rewards"),
    path("mall/rewards/<int:reward_id>", RewardDetailApi.as_view(), name="mall-reward"),
    path("mall/rewards/<int:reward_id>/redeem", RewardRedeemApi.as_view(), name="mall-reward-redeem"),
    path("me/mall/orders", MeRewardOrderListApi.as_view(), name="me-mall-orders"),
    path("me/mall/orders/<int:order_id>", MeRewardOrderDetailApi.as_view(), name="me-mall-order"),
    path("me/mall/orders/<int:order_id>/cancel", MeRewardOrderCancelApi.as_view(), name="me-mall-order-cancel"),
    path("pos/mall/orders/fulfil", PosRewardPickupApi.as_view(), name="pos-mall-orders-fulfil"),
    path("draws", DrawListApi.as_view(), name="draws"),
    path("draws/<int:draw_id>/spin", DrawSpinApi.as_view(), name="draw-spin"),
    path("me/draws/spins", MeDrawSpinListApi.as_view(), name="me-draw-spins"),
    path("pos/prizes/collect", PosPrizeCollectApi.as_view(), name="pos-prizes-collect"),
    path("auctions", AuctionListApi.as_view(), name="auctions"),
    path("auctions/<int:auction_id>", AuctionDetailApi.as_view(), name="auction"),
    path("auctions/<int:auction_id>/bids", AuctionBidCreateApi.as_view(), name="auction-bids"),
    path("me/auctions/bids", MeAuctionBidListApi.as_view(), name="me-auction-bids"),
]
