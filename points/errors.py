"""Points errors: each a LoyaltyError with a stable code the API and the console show.

A state that forbids the action answers 409, an order the request does not fit 422.
"""

from django.utils.translation import gettext_lazy as _

from infra.errors import LoyaltyError


class PointsError(LoyaltyError):
    status = 409


class PointsSpendingNotAllowed(PointsError):
    code = "points_spending_not_allowed"
    message = _("This member may not spend points.")


class PointsShareExceeded(PointsError):
    code = "points_share_exceeded"
    message = _("Points cannot pay this much of the order.")
    status = 422


class MemberRequired(PointsError):
    code = "member_required"
    message = _("Points can only be spent by an identified member.")
    status = 422


class ItemsInconsistent(PointsError):
    code = "items_inconsistent"
    message = _("The items do not add up to the gross amount.")
    status = 400


class RefundExceedsPurchase(PointsError):
    code = "refund_exceeds_purchase"
    message = _("The refund is larger than what is left of the purchase.")
    status = 422


class StoreInactive(PointsError):
    code = "store_inactive"
    message = _("This store is closed or unknown.")
    status = 404


class MiniProgramCheckoutDisabled(PointsError):
    code = "mini_program_checkout_disabled"
    message = _("Purchases in the mini program are not open: no store records them yet.")


class PaymentRefunded(PointsError):
    code = "payment_refunded"
    message = _(
        "This payment could not be honoured: what its checkout order was to use is no longer available, so the "
        "payment is refunded."
    )


class UnknownBehaviour(PointsError):
    code = "unknown_behaviour"
    message = _("No active rule rewards this behaviour.")
    status = 404


# -- the points mall ---------------------------------------------------------------------------------------------
class RewardNotFound(PointsError):
    code = "not_found"
    message = _("No such reward.")
    status = 404


class RewardNotAvailable(PointsError):
    code = "reward_not_available"
    message = _("This reward is not open for redemption now.")


class RewardTierRequired(PointsError):
    code = "reward_tier_required"
    message = _("This reward is for members of other tiers.")
    status = 403


class OutOfStock(PointsError):
    code = "out_of_stock"
    message = _("This reward is out of stock.")


class RewardLimitReached(PointsError):
    code = "reward_limit_reached"
    message = _("You have already redeemed this reward as many times as one member may.")


class PickupStoreInvalid(PointsError):
    code = "pickup_store_invalid"
    message = _("Choose one of the stores where this reward can be picked up.")
    status = 422


class RewardPaymentRequired(PointsError):
    code = "reward_payment_required"
    message = _("This reward costs points plus cash: give the payment provider and transaction id.")
    status = 422


class RewardOrderNotFound(PointsError):
    code = "not_found"
    message = _("No such reward order.")
    status = 404


class OrderNotCancellable(PointsError):
    code = "order_not_cancellable"
    message = _("This order can no longer be cancelled.")


class PickupCodeInvalid(PointsError):
    code = "pickup_code_invalid"
    message = _("No order awaiting pickup has this pickup code.")
    status = 404


class PickupWrongStore(PointsError):
    code = "pickup_wrong_store"
    message = _("This order is picked up at another store.")
    status = 403


class OrderNotAwaitingPickup(PointsError):
    code = "order_not_awaiting_pickup"
    message = _("This order is not awaiting pickup (already picked up, cancelled or delivered).")


# Lucky draws and points auctions.


class DrawNotAvailable(PointsError):
    code = "draw_not_available"
    message = _("This lucky draw is not open now.")


class DrawNotForMember(PointsError):
    code = "draw_not_eligible"
    message = _("This lucky draw is not open to your membership tier.")
    status = 403


class DrawSoldOut(PointsError):
    code = "draw_sold_out"
    message = _("Every prize of this lucky draw has been won.")


class SpinLimitReached(PointsError):
    code = "spin_limit_reached"
    message = _("You have used all your spins of this lucky draw.")


class AuctionNotStarted(PointsError):
    code = "auction_not_started"
    message = _("Bidding on this auction has not started yet.")


class AuctionClosed(PointsError):
    code = "auction_closed"
    message = _("This auction is closed.")


class BidTooLow(PointsError):
    code = "bid_too_low"
    message = _("Your bid is below the lowest bid accepted now.")
    status = 422


class AlreadyLeading(PointsError):
    code = "already_leading"
    message = _("You already have the leading bid.")


class AuctionNotCancellable(PointsError):
    code = "auction_not_cancellable"
    message = _("Only an open auction can be cancelled.")


class BehaviourNotSelfReported(PointsError):
    code = "behaviour_not_self_reported"
    message = _("This behaviour is recorded by a store, not by the member.")
    status = 403


class ProfileIncomplete(PointsError):
    code = "profile_incomplete"
    message = _("Fill in your name, gender, birthday and email first.")
    status = 422


class ClaimCodeInvalid(PointsError):
    code = "claim_code_invalid"
    message = _("No prize won in a lucky draw or an auction has this claim code.")
    status = 404


class PrizeAlreadyCollected(PointsError):
    code = "prize_already_collected"
    message = _("This prize was already collected.")


class PurchasedAtOutOfRange(PointsError):
    code = "purchased_at_out_of_range"
    message = _("The purchase time is too far in the past or in the future.")
    status = 422


class CheckoutOrderNothingToPay(PointsError):
    code = "nothing_to_pay"
    message = _(
        "Points, stored value and coupons cover this whole purchase: a checkout order is for what is paid with "
        "WeChat Pay. Spend less of them, or pay at a till."
    )
    status = 422


class CheckoutOrderWithoutWechat(PointsError):
    code = "wechat_account_required"
    message = _("Sign in to the mini program with WeChat first: WeChat Pay pays for the member's own WeChat account.")
    status = 422


class CheckoutOrderNotReleasable(PointsError):
    code = "checkout_order_not_open"
    message = _("Only an order still waiting for payment can be released.")
    status = 409


class CheckoutOrderNotRefundableByHand(PointsError):
    code = "checkout_order_not_refund_failed"
    message = _("Only an order whose refund failed can be recorded as refunded by hand.")
    status = 409
