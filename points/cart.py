"""What a checkout is asked: the cart (what is bought and how it is paid) and its context (where, when, for whom).

Both are frozen values built at the edge (an API serializer, a test, a task) and handed whole to
points.services.checkout (`purchase_preview`, `purchase_checkout`) or points.services.mini_program_checkout. They
carry input only: the services check them (amounts, lines, the member, the store) and refuse them with the same
errors whoever built them, so a cart built by hand is no more trusted than one posted by a till.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from members.models import PurchaseChannel
from members.services.purchases import CENT

ZERO = Decimal("0.00")

# What the till may send as purchased_at: a sale up to a week old (a till that was offline), or a little ahead of
# the server's clock (clock skew); anything else is a wrong clock or a wrong field.
POS_PURCHASED_AT_WINDOW = (timedelta(days=7), timedelta(minutes=5))


@dataclass(frozen=True)
class CartLine:
    """One line of a cart: `quantity` units of `sku` at `unit_price` each."""

    sku: str
    unit_price: Decimal
    quantity: int = 1
    category: str = ""
    name: str = ""

    @property
    def amount(self) -> Decimal:
        return (Decimal(self.unit_price) * self.quantity).quantize(CENT)

    def as_dict(self) -> dict:
        """The line as members.services.purchases.purchase_record records it (and the request hash reads it)."""
        return {
            "sku": self.sku,
            "name": self.name,
            "category": self.category,
            "quantity": self.quantity,
            "unit_price": self.unit_price,
        }


@dataclass(frozen=True)
class Cart:
    """What is bought and how it is paid: the money, the lines, and what the member pays with besides money.

    `discount_amount` is the seller's own discount; the tier's and the coupon's come on top of it at pricing.
    `external_id` names the sale (the till's sale id, or the payment's order number in the mini program): a
    checkout is idempotent by it, and a preview needs none. `purchased_at` None means when it is checked out.
    """

    gross_amount: Decimal
    items: tuple[CartLine, ...] = ()
    discount_amount: Decimal = ZERO
    coupon_code: str = ""
    points_to_spend: int = 0
    stored_value_amount: Decimal = ZERO
    purchased_at: datetime | None = None
    external_id: str = ""
    payment_method: str = ""


@dataclass(frozen=True)
class MemberLookup:
    """The member as a till names them: any of these identifiers, tried in the points policy's order."""

    card_code: str = ""
    member_number: str = ""
    phone: str = ""


@dataclass(frozen=True)
class CheckoutContext:
    """Where, when and for whom a cart is checked out, and what its channel may vouch for.

    The member is given by id (the signed-in member, a test) or by `member_lookup` (a till), never both; neither
    is an anonymous sale. `earn_on_items` False (a cart reported by the member's own phone) records the lines but
    gives them no item bonuses. With `purchased_at_window` = (how far back, how far ahead of `now`), a checkout
    refuses a new sale dated outside it (a preview writes nothing and checks no window).
    """

    channel: str
    store_id: int
    now: datetime
    member_id: int | None = None
    member_lookup: MemberLookup | None = None
    earn_on_items: bool = True
    purchased_at_window: tuple[timedelta, timedelta] | None = None

    def __post_init__(self):
        if self.member_id is not None and self.member_lookup is not None:
            raise ValueError("Give the member by id or by lookup, not both.")

    @classmethod
    def till(
        cls, *, store_id: int, now: datetime, member_lookup: MemberLookup | None, channel: str = PurchaseChannel.POS
    ) -> "CheckoutContext":
        """A till's cart: the key's store, the member as the till names them, a sale dated within the POS window."""
        return cls(
            channel=channel,
            store_id=store_id,
            now=now,
            member_lookup=member_lookup,
            purchased_at_window=POS_PURCHASED_AT_WINDOW,
        )
