"""What a coupon takes off a purchase: one pure function per template kind, keyed by kind.

Each function gets the template (only its terms are read: amount, percent, max_discount, min_spend,
gift_description) and the amount the coupon applies to (the cart, or the matching items when the template
is limited to categories or SKUs), and returns the discount in cents, never more than that amount.
Whether the coupon may be used at all (store, channel, dates, minimum spend) is coupons.rules' question.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext_lazy as _

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Discount:
    amount: Decimal
    label: str


def to_cents(value) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _money(value) -> str:
    return f"{to_cents(value):,.2f}"


def _amount_off(template, base: Decimal) -> Discount:
    amount = min(to_cents(template.amount or 0), base)
    return Discount(amount=amount, label=str(_("%(amount)s off") % {"amount": _money(template.amount or 0)}))


def _spend_x_save_y(template, base: Decimal) -> Discount:
    label = str(
        _("%(amount)s off when you spend %(min_spend)s")
        % {"amount": _money(template.amount or 0), "min_spend": _money(template.min_spend or 0)}
    )
    if base < to_cents(template.min_spend or 0):
        return Discount(amount=ZERO, label=label)
    return Discount(amount=min(to_cents(template.amount or 0), base), label=label)


def _percent_off(template, base: Decimal) -> Discount:
    percent = Decimal(template.percent or 0)
    amount = to_cents(base * percent / HUNDRED)
    if template.max_discount is not None:
        amount = min(amount, to_cents(template.max_discount))
        label = _("%(percent)s%% off, up to %(cap)s") % {
            "percent": f"{percent.normalize():f}",
            "cap": _money(template.max_discount),
        }
    else:
        label = _("%(percent)s%% off") % {"percent": f"{percent.normalize():f}"}
    return Discount(amount=min(amount, base), label=str(label))


def _gift_item(template, base: Decimal) -> Discount:
    gift = template.gift_description or _("a gift")
    return Discount(amount=ZERO, label=str(_("Free gift: %(gift)s") % {"gift": gift}))


def _free_shipping(template, base: Decimal) -> Discount:
    return Discount(amount=ZERO, label=str(_("Free shipping")))


DISCOUNT_BY_KIND: dict[str, Callable[[object, Decimal], Discount]] = {
    "amount_off": _amount_off,
    "spend_x_save_y": _spend_x_save_y,
    "percent_off": _percent_off,
    "gift_item": _gift_item,
    "free_shipping": _free_shipping,
}


def discount_for(template, base_amount) -> Discount:
    """Return what the template's coupon takes off `base_amount` (rounded half up to cents)."""
    base = max(to_cents(base_amount), ZERO)
    return DISCOUNT_BY_KIND[template.kind](template, base)
