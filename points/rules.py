"""The earning pipeline: how many points a purchase earns, and why. Pure functions, no database.

Order of evaluation (each stage in ascending rule priority):
1. base rate: the first matching base-rate rule prices the eligible amount (e.g. HK$100 = 10 points);
   later base-rate rules are not used (a store-specific rate with a lower number overrides the general one);
2. the member's tier multiplier (Tier.earn_multiplier), when it is not 1; then, in the member's birthday month
   (the month of the purchase in the program's time zone, the same test as the `birthday_month_only` rules),
   their tier's birthday multiplier (Tier.birthday_multiplier, step kind "tier_birthday"), when it is not 1.
   Both multiply the base points: the tier step adds base x (m - 1); the birthday step adds base x (m - 1)
   under "add" stacking (the default) and multiplies the points so far under "multiply" stacking, as the
   multiplier rules do (HK$900 at 10 points per HK$100 with a x3 birthday multiplier: 90 + 180 = 270);
   Then the member's multiplier window (points.models.MultiplierWindow, a campaign's "x2 points for 7 days") open
   at the purchase's time, step kind "multiplier_window" named by its reason: the same arithmetic as the birthday
   step; of overlapping windows the highest applies (they do not add up). Like the tier's steps, it is skipped
   when a base-rate rule with `stop_further_rules` ended the pipeline. A window never pushes a purchase past the
   most points one purchase may earn (`max_total`, the policy's max_points_per_purchase): once every stage is
   priced, its extra is cut by whatever the total exceeds that maximum (its line `capped`, with
   `points_before_cap`) instead of the sale being refused; what the rules alone earn above it is still refused;
3. multiplier rules (weekend, date range, birthday month, member day, campaign window ...), stacked by
   the policy: "add" gives each its extra share of the base points, "multiply" multiplies the points so
   far; each rule's extra points are capped by its `max_points_per_purchase`;
4. bonuses: category or SKU (points per unit bought and/or a rate on the matching amount), first purchase.
   Only lines sold at a price earn a per-unit bonus (a free line is no sale of the item), and a category or
   SKU rule without a cap of its own is capped by the policy's `item_bonus_cap`: the items are the till's
   word, so what they can earn is bounded even when a line's quantity is wrong.
A rule that grants points and has `stop_further_rules` ends the pipeline. The result lists every step that
granted points (rule id, name, kind, points; and, when a cap cut it, `capped` and `points_before_cap`) and
its total is the sum of those points.
Behaviour bonuses (try-on, share, ...) are not part of a purchase: see `behaviour_points`.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from django.utils import timezone
from django.utils.translation import gettext

from infra.translation import in_language, translations_of

ROUNDING = {"floor": ROUND_FLOOR, "round": ROUND_HALF_UP, "ceil": ROUND_CEILING}
# The points policy's default for `item_bonus_cap`: what one category or SKU rule without a cap of its own may
# grant on one purchase.
DEFAULT_ITEM_BONUS_CAP = 1000
ITEM_BONUS_KINDS = frozenset({"bonus_category", "bonus_sku"})
STAGES = {
    "base_rate": 0,
    "multiplier": 2,
    "bonus_category": 3,
    "bonus_sku": 3,
    "bonus_first_purchase": 3,
}


@dataclass(frozen=True)
class CartItem:
    sku: str
    amount: Decimal
    quantity: int = 1
    category: str = ""


@dataclass(frozen=True)
class CartFacts:
    """What the pipeline knows of a purchase. `amount` is the amount that earns points."""

    amount: Decimal
    store_id: int | None
    channel: str
    purchased_at: datetime
    items: tuple[CartItem, ...] = ()
    is_first_purchase: bool = False


@dataclass(frozen=True)
class WindowFacts:
    """A member's multiplier window as the pipeline sees it (points.selectors.multiplier_windows_open)."""

    id: int
    multiplier: Decimal
    starts_at: datetime
    ends_at: datetime
    names: tuple[tuple[str, str], ...] = ()  # the reason in every language ((language, text), ...)

    def is_open(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at

    @property
    def label(self) -> str:
        return in_language(dict(self.names)) if self.names else ""


@dataclass(frozen=True)
class MemberFacts:
    tier_id: int | None = None
    tier_name: str = ""
    tier_multiplier: Decimal = Decimal(1)
    birthday: date | None = None
    tier_birthday_multiplier: Decimal = Decimal(1)  # the tier's multiplier in the member's birthday month
    multiplier_windows: tuple[WindowFacts, ...] = ()  # those that may be open at the purchase's time


@dataclass(frozen=True)
class Rule:
    """An EarningRule as the pipeline sees it (see `rule_from_model`)."""

    id: int | None
    name: str
    kind: str
    priority: int
    stop_further_rules: bool = False
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    store_ids: frozenset[int] = frozenset()
    channels: frozenset[str] = frozenset()
    tier_ids: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()
    birthday_month_only: bool = False
    member_day: int | None = None
    amount_per_unit: Decimal | None = None
    points_per_unit: int | None = None
    rounding: str = "floor"
    multiplier: Decimal | None = None
    bonus_points: int | None = None
    category: str = ""
    sku: str = ""
    max_points_per_purchase: int | None = None
    behaviour_event: str = ""
    max_times_per_day: int | None = None
    max_times_lifetime: int | None = None
    # The name in every language ((language, text), ...): rules are kept per process across requests, and each
    # breakdown names them in its request's language (`label`).
    names: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        """The rule's name in the active language, else in the merchant's default language."""
        return (in_language(dict(self.names)) if self.names else "") or self.name


@dataclass(frozen=True)
class Step:
    rule_id: int | None
    name: str
    kind: str
    points: int
    points_before_cap: int | None = None  # set only when the rule's cap cut the points

    def as_dict(self) -> dict:
        step = {"rule_id": self.rule_id, "name": self.name, "kind": self.kind, "points": self.points}
        if self.points_before_cap is not None:
            step.update(capped=True, points_before_cap=self.points_before_cap)
        return step


@dataclass(frozen=True)
class Earning:
    total: int
    steps: tuple[Step, ...] = field(default_factory=tuple)
    base_points: int = 0

    def breakdown(self) -> dict:
        return {"total": self.total, "rules": [step.as_dict() for step in self.steps]}


def rule_from_model(rule) -> Rule:
    """Return the pipeline's view of an EarningRule (stores and tiers should be prefetched)."""
    return Rule(
        id=rule.pk,
        name=rule.name,
        names=tuple(translations_of(rule, "name").items()),
        kind=rule.kind,
        priority=rule.priority,
        stop_further_rules=rule.stop_further_rules,
        valid_from=rule.valid_from,
        valid_until=rule.valid_until,
        store_ids=frozenset(store.pk for store in rule.stores.all()),
        channels=frozenset(rule.channels or ()),
        tier_ids=frozenset(tier.pk for tier in rule.tiers.all()),
        weekdays=frozenset(rule.weekdays or ()),
        birthday_month_only=rule.birthday_month_only,
        member_day=rule.member_day,
        amount_per_unit=rule.amount_per_unit,
        points_per_unit=rule.points_per_unit,
        rounding=rule.rounding,
        multiplier=rule.multiplier,
        bonus_points=rule.bonus_points,
        category=rule.category,
        sku=rule.sku,
        max_points_per_purchase=rule.max_points_per_purchase,
        behaviour_event=rule.behaviour_event,
        max_times_per_day=rule.max_times_per_day,
        max_times_lifetime=rule.max_times_lifetime,
    )


def to_points(value: Decimal, rounding: str) -> int:
    return int(Decimal(value).quantize(Decimal(1), rounding=ROUNDING[rounding]))


def _cap(rule: Rule, *, item_bonus_cap: int | None) -> int | None:
    """Return the most points the rule may grant on one purchase (None: no cap)."""
    if rule.max_points_per_purchase is not None:
        return rule.max_points_per_purchase
    return item_bonus_cap if rule.kind in ITEM_BONUS_KINDS else None


def _rate(rule: Rule, amount: Decimal) -> int:
    if not rule.amount_per_unit or not rule.points_per_unit or amount <= 0:
        return 0
    return to_points(Decimal(amount) * rule.points_per_unit / rule.amount_per_unit, rule.rounding)


def is_date_match(rule: Rule, *, member: MemberFacts, at: datetime) -> bool:
    """Return whether the rule's validity window and calendar conditions hold at `at` (local time)."""
    if rule.valid_from and at < rule.valid_from:
        return False
    if rule.valid_until and at >= rule.valid_until:
        return False
    local = timezone.localtime(at)
    if rule.weekdays and local.weekday() not in rule.weekdays:
        return False
    if rule.birthday_month_only and not is_birthday_month(member, at=at):
        return False
    return not (rule.member_day and local.day != rule.member_day)


def is_birthday_month(member: MemberFacts, *, at: datetime) -> bool:
    """Return whether `at`, in the program's time zone, falls in the member's birthday month."""
    return member.birthday is not None and member.birthday.month == timezone.localtime(at).month


def is_match(rule: Rule, *, cart: CartFacts, member: MemberFacts) -> bool:
    """Return whether the rule's conditions (scope and calendar) hold for this cart and member."""
    if rule.store_ids and cart.store_id not in rule.store_ids:
        return False
    if rule.channels and cart.channel not in rule.channels:
        return False
    if rule.tier_ids and member.tier_id not in rule.tier_ids:
        return False
    return is_date_match(rule, member=member, at=cart.purchased_at)


# -- one function per kind: (rule, cart, state) -> points granted, before the rule's cap --------------------------
@dataclass
class _State:
    base: int = 0
    running: int = 0  # base points after the multipliers so far
    stacking: str = "add"


def _base_rate(rule: Rule, cart: CartFacts, state: _State) -> int:
    return _rate(rule, cart.amount)


def _multiplier_extra(rule: Rule, multiplier: Decimal, state: _State) -> int:
    basis = state.running if state.stacking == "multiply" else state.base
    return to_points(Decimal(basis) * (Decimal(multiplier) - 1), rule.rounding)


def _multiplier(rule: Rule, cart: CartFacts, state: _State) -> int:
    if not rule.multiplier:
        return 0
    return _multiplier_extra(rule, rule.multiplier, state)


def _matching_items(items: Iterable[CartItem], predicate) -> tuple[int, Decimal]:
    """Return the units and the amount of the matching lines sold at a price (free lines earn no bonus)."""
    quantity, amount = 0, Decimal(0)
    for item in items:
        if predicate(item) and item.amount > 0:
            quantity += item.quantity
            amount += item.amount
    return quantity, amount


def _item_bonus(rule: Rule, quantity: int, amount: Decimal) -> int:
    if not quantity:
        return 0
    return (rule.bonus_points or 0) * quantity + _rate(rule, amount)


def _bonus_category(rule: Rule, cart: CartFacts, state: _State) -> int:
    wanted = rule.category.strip().casefold()
    quantity, amount = _matching_items(cart.items, lambda item: item.category.strip().casefold() == wanted)
    return _item_bonus(rule, quantity, amount)


def _bonus_sku(rule: Rule, cart: CartFacts, state: _State) -> int:
    quantity, amount = _matching_items(cart.items, lambda item: item.sku == rule.sku)
    return _item_bonus(rule, quantity, amount)


def _bonus_first_purchase(rule: Rule, cart: CartFacts, state: _State) -> int:
    return rule.bonus_points or 0 if cart.is_first_purchase else 0


RULE_FUNCTIONS: dict[str, Callable[[Rule, CartFacts, _State], int]] = {
    "base_rate": _base_rate,
    "multiplier": _multiplier,
    "bonus_category": _bonus_category,
    "bonus_sku": _bonus_sku,
    "bonus_first_purchase": _bonus_first_purchase,
}


def earn_points(
    *,
    cart: CartFacts,
    member: MemberFacts,
    rules: Iterable[Rule],
    stacking: str = "add",
    tier_label: str = "",
    item_bonus_cap: int | None = DEFAULT_ITEM_BONUS_CAP,
    max_total: int | None = None,
) -> Earning:
    """Price a purchase with the rules; return the total and the steps that granted points.

    `rules` may hold rules of any kind and state; those that are out of scope or of another kind
    (behaviour) are skipped. Each rule grants at most its `max_points_per_purchase`; a category or SKU rule
    without one at most `item_bonus_cap` (None: no cap). The multiplier window's extra is cut so that the total
    stays within `max_total` when it can (None: no cut). Nothing is read from the database.
    """
    ordered = sorted(
        (rule for rule in rules if rule.kind in STAGES), key=lambda rule: (STAGES[rule.kind], rule.priority)
    )
    state = _State(stacking=stacking)
    steps: list[Step] = []
    has_base = False
    tier_done = False
    for rule in ordered:
        if STAGES[rule.kind] > 1 and not tier_done:
            tier_done = True
            steps += _member_steps(member, state, tier_label, at=cart.purchased_at)
        if rule.kind == "base_rate" and has_base:
            continue
        if not is_match(rule, cart=cart, member=member):
            continue
        uncapped = RULE_FUNCTIONS[rule.kind](rule, cart, state)
        cap = _cap(rule, item_bonus_cap=item_bonus_cap)
        points = min(uncapped, cap) if cap is not None else uncapped
        if rule.kind == "base_rate":
            has_base = True
            state.base = state.running = points
        elif rule.kind == "multiplier":
            state.running += points
        if not points:
            continue
        before_cap = uncapped if points < uncapped else None
        step = Step(rule_id=rule.id, name=rule.label, kind=rule.kind, points=points, points_before_cap=before_cap)
        steps.append(step)
        if rule.stop_further_rules:
            tier_done = True
            break
    if not tier_done:
        steps += _member_steps(member, state, tier_label, at=cart.purchased_at)
    if max_total is not None:
        steps = _window_capped(steps, max_total=max_total)
    return Earning(total=sum(step.points for step in steps), steps=tuple(steps), base_points=state.base)


def _window_capped(steps: list[Step], *, max_total: int) -> list[Step]:
    """Cut the multiplier window's extra by what the total exceeds `max_total` (at most all of it): a campaign's
    window must not make an ordinary sale one that earns too much to be recorded."""
    excess = sum(step.points for step in steps) - max_total
    if excess <= 0:
        return steps
    capped = []
    for step in steps:
        if step.kind == "multiplier_window" and excess > 0 and step.points > 0:
            cut = min(excess, step.points)
            excess -= cut
            step = replace(step, points=step.points - cut, points_before_cap=step.points)
        capped.append(step)
    return capped


def _member_steps(member: MemberFacts, state: _State, label: str, *, at: datetime) -> list[Step]:
    """The member's own multipliers: their tier's (and its birthday one), then their multiplier window."""
    return _tier_steps(member, state, label, at=at) + _window_steps(member, state, at=at)


def _window_steps(member: MemberFacts, state: _State, *, at: datetime) -> list[Step]:
    """The highest multiplier window open at `at`: its extra share of the base points ("add") or of the points so
    far ("multiply"), floored."""
    open_windows = [window for window in member.multiplier_windows if window.is_open(at)]
    if not open_windows or not state.base:
        return []
    window = max(open_windows, key=lambda window: (window.multiplier, -window.id))
    basis = state.running if state.stacking == "multiply" else state.base
    extra = to_points(Decimal(basis) * (Decimal(window.multiplier) - 1), "floor")
    if extra <= 0:
        return []
    state.running += extra
    multiplier = f"{Decimal(window.multiplier).normalize():f}"
    name = gettext("x%(multiplier)s points: %(reason)s") % {"multiplier": multiplier, "reason": window.label}
    return [Step(rule_id=None, name=name, kind="multiplier_window", points=extra)]


def _tier_steps(member: MemberFacts, state: _State, label: str, *, at: datetime) -> list[Step]:
    """The tier's multiplier, then its birthday multiplier in the member's birthday month (each when not x1)."""
    if member.tier_id is None or not state.base:
        return []
    steps = []
    multiplier = Decimal(member.tier_multiplier)
    # Flooring running * (m - 1) never goes below -running (m >= 0), so the total never turns negative.
    extra = to_points(Decimal(state.running) * (multiplier - 1), "floor") if multiplier != 1 else 0
    state.running += extra
    if extra:
        steps.append(Step(rule_id=None, name=label or member.tier_name, kind="tier", points=extra))
    birthday = Decimal(member.tier_birthday_multiplier)
    if birthday != 1 and is_birthday_month(member, at=at):
        # A multiplier like the others: its extra share of the base points ("add"), or of the points so far
        # ("multiply"); floored, so it never takes more than the points so far.
        basis = state.running if state.stacking == "multiply" else state.base
        extra = max(to_points(Decimal(basis) * (birthday - 1), "floor"), -state.running)
        state.running += extra
        if extra:
            name = gettext("Birthday month (%(tier)s)") % {"tier": label or member.tier_name}
            steps.append(Step(rule_id=None, name=name, kind="tier_birthday", points=extra))
    return steps


def behaviour_points(*, rule: Rule, member: MemberFacts, at: datetime, times_today: int, times_ever: int) -> int:
    """Return the points a behaviour rule grants for one more occurrence (0 when a cap is reached)."""
    if rule.kind != "behaviour" or not is_date_match(rule, member=member, at=at):
        return 0
    if rule.tier_ids and member.tier_id not in rule.tier_ids:
        return 0
    if rule.max_times_per_day is not None and times_today >= rule.max_times_per_day:
        return 0
    if rule.max_times_lifetime is not None and times_ever >= rule.max_times_lifetime:
        return 0
    return rule.bonus_points or 0
