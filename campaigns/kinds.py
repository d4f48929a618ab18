"""What each campaign kind needs in `Campaign.params`, and when a scheduled kind is due.

One schema per kind (SCHEMAS: a key -> a checker returning the cleaned value or raising ValueError with the
message); unknown keys and bad values are refused at save by campaigns.services.campaigns, naming the field as
`params.<key>`. The scheduled kinds (SCHEDULED_KINDS) are run by the beat (`campaigns.run_due_campaigns`); the
event kinds are delivered by their triggers (a member joined, a purchase, a tier change, a location, an expiry),
which call `campaign_deliver` with their own occasion.
"""

import datetime
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from campaigns.models import Campaign

Kind = Campaign.Kind

SCHEDULED_KINDS = frozenset({Kind.BROADCAST, Kind.RECURRING, Kind.BIRTHDAY, Kind.DATE, Kind.MEMBER_DAY, Kind.WIN_BACK})
EVENT_KINDS = frozenset(set(Kind) - SCHEDULED_KINDS)
# Kinds whose audience is the whole segment at once: a run freezes it. Birthday and win-back runs are daily
# slices of the audience (a birthday, a lapse) read when their chunks run.
FREEZING_KINDS = frozenset({Kind.BROADCAST, Kind.RECURRING, Kind.DATE, Kind.MEMBER_DAY})
# Kinds that may speak without being marketing: a reminder of the member's own points (campaigns.channels.policy
# says which notifications are marketing; a coupon about to expire invites a purchase, so it is).
TRANSACTIONAL_KINDS = frozenset({Kind.POINTS_EXPIRING})
DEFAULT_WIN_BACK_DAYS = 21
MAX_DATES = 366


# -- checkers: each returns the clean value or raises ValueError(message) -----------------------------------------
def _integer(low: int, high: int) -> Callable:
    def check(value):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(_("Give a whole number from %(low)d to %(high)d.") % {"low": low, "high": high})
        return value

    return check


def _integers(low: int, high: int) -> Callable:
    one = _integer(low, high)

    def check(value):
        if not isinstance(value, list) or not value or len(value) > 31:
            raise ValueError(_("Give a list of whole numbers from %(low)d to %(high)d.") % {"low": low, "high": high})
        return sorted({one(item) for item in value})

    return check


def _choice(*choices: str) -> Callable:
    def check(value):
        if value not in choices:
            raise ValueError(_("Choose one of: %(choices)s.") % {"choices": ", ".join(choices)})
        return value

    return check


def _boolean(value):
    if not isinstance(value, bool):
        raise ValueError(_("Give true or false."))
    return value


def _money(value):
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        amount = None
    if isinstance(value, bool) or amount is None or not amount.is_finite() or amount < 0 or amount >= 10**9:
        raise ValueError(_("Give an amount such as 300.00."))
    return str(amount.quantize(Decimal("0.01")))


def _dates(value):
    if not isinstance(value, list) or not value or len(value) > MAX_DATES:
        raise ValueError(_("Give a list of 1 to %(max)d dates (YYYY-MM-DD).") % {"max": MAX_DATES})
    try:
        return sorted({datetime.date.fromisoformat(item).isoformat() for item in value if isinstance(item, str)})
    except ValueError:
        raise ValueError(_("Give a list of 1 to %(max)d dates (YYYY-MM-DD).") % {"max": MAX_DATES}) from None


def _windows(value):
    message = _('Give 1 to 6 time windows such as ["08:00", "09:00"], each ending after it starts.')
    if not isinstance(value, list) or not 1 <= len(value) <= 6:
        raise ValueError(message)
    windows = []
    for window in value:
        try:
            start, end = (datetime.time.fromisoformat(part) for part in window)
        except (TypeError, ValueError):
            raise ValueError(message) from None
        if end <= start:
            raise ValueError(message)
        windows.append([start.strftime("%H:%M"), end.strftime("%H:%M")])
    return windows


@dataclass(frozen=True)
class Schema:
    keys: dict[str, Callable]
    required: tuple[str, ...] = ()
    defaults: dict | None = None


SCHEMAS: dict[str, Schema] = {
    Kind.BROADCAST: Schema(keys={}),
    Kind.RECURRING: Schema(
        keys={"every": _choice("day", "weekday", "month_day"), "weekdays": _integers(0, 6), "days": _integers(1, 31)},
        required=("every",),
    ),
    Kind.BIRTHDAY: Schema(keys={"mode": _choice("day", "month")}, defaults={"mode": "day"}),
    Kind.DATE: Schema(keys={"dates": _dates}, required=("dates",)),
    Kind.MEMBER_DAY: Schema(keys={"weekday": _integer(0, 6), "day_of_month": _integer(1, 31)}),
    Kind.WIN_BACK: Schema(keys={"days": _integer(1, 3650)}, defaults={"days": DEFAULT_WIN_BACK_DAYS}),
    Kind.WELCOME: Schema(keys={}),
    Kind.AFTER_PURCHASE: Schema(keys={"min_amount": _money}),
    Kind.TIER_UPGRADE: Schema(keys={"tiers": _integers(1, 2**31 - 1)}),
    # No days_before: the notice the points policy or each coupon template gives (its reminder_days).
    Kind.POINTS_EXPIRING: Schema(keys={"days_before": _integer(1, 90)}),
    Kind.COUPON_EXPIRING: Schema(keys={"days_before": _integer(1, 90)}),
    Kind.NEAR_STORE: Schema(
        keys={"radius_m": _integer(50, 5000), "windows": _windows, "weekdays_only": _boolean},
        required=("radius_m", "windows"),
        defaults={"weekdays_only": False},
    ),
}


def kind_params_clean(*, kind: str, params) -> tuple[dict, dict[str, list[str]]]:
    """Return (the params cleaned with their defaults, errors by `params.<key>`) for a campaign of `kind`."""
    schema = SCHEMAS.get(kind)
    if schema is None:
        return {}, {"kind": [_("Choose a kind of campaign.")]}
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return {}, {"params": [_("Give the settings as an object.")]}
    errors: dict[str, list[str]] = {}
    clean = dict(schema.defaults or {})
    for key, value in params.items():
        check = schema.keys.get(key)
        if check is None:
            errors[f"params.{key}"] = [_("Unknown setting for this kind.")]
            continue
        try:
            clean[key] = check(value)
        except ValueError as exc:
            errors[f"params.{key}"] = [str(exc)]
    for key in schema.required:
        if key not in params:
            errors.setdefault(f"params.{key}", [_("This setting is required.")])
    errors.update(_cross_errors(kind, clean, errors))
    return clean, errors


def _cross_errors(kind: str, params: dict, errors: dict) -> dict[str, list[str]]:
    if kind == Kind.RECURRING and "params.every" not in errors:
        needed = {"weekday": "weekdays", "month_day": "days"}.get(params.get("every"))
        if needed and needed not in params:
            return {f"params.{needed}": [_("This setting is required.")]}
    if kind == Kind.MEMBER_DAY and ("weekday" in params) == ("day_of_month" in params):
        return {"params.weekday": [_("Give either a weekday (0 = Monday) or a day of the month.")]}
    return {}


# -- when the scheduled kinds are due ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Occasion:
    """A run a scheduled campaign owes today: its unique key and what its recipients' occasion is (`run` ->
    `run:<run id>`; otherwise the given text, or None when each member's occasion is their own, as in win-back)."""

    key: str
    occasion: str | None = "run"
    day: datetime.date | None = None


def _is_last_day_of_month(day: datetime.date) -> bool:
    return (day + datetime.timedelta(days=1)).month != day.month


def _month_day_matches(days: list[int], day: datetime.date) -> bool:
    """Whether `day` is one of `days` of the month; a day the month lacks (31 in April) falls on its last day."""
    return day.day in days or (_is_last_day_of_month(day) and any(wanted > day.day for wanted in days))


def occasion_due(*, campaign: Campaign, today: datetime.date) -> Occasion | None:
    """Return the run a scheduled campaign owes on `today` (local date), or None. The time of day is the caller's."""
    occasion = _occasion_of_day(campaign=campaign, today=today)
    return None if occasion is None else replace(occasion, day=today)


def _occasion_of_day(*, campaign: Campaign, today: datetime.date) -> Occasion | None:
    if campaign.starts_on and today < campaign.starts_on:
        return None
    if campaign.ends_on and today > campaign.ends_on:
        return None
    params, prefix = campaign.params or {}, f"campaign:{campaign.pk}"
    kind = campaign.kind
    if kind == Kind.BROADCAST:
        return Occasion(key=f"{prefix}:broadcast")
    if kind == Kind.RECURRING:
        every = params.get("every")
        due = (
            every == "day"
            or (every == "weekday" and today.weekday() in params.get("weekdays", []))
            or (every == "month_day" and _month_day_matches(params.get("days", []), today))
        )
        return Occasion(key=f"{prefix}:{today.isoformat()}") if due else None
    if kind == Kind.DATE:
        return Occasion(key=f"{prefix}:{today.isoformat()}") if today.isoformat() in params.get("dates", []) else None
    if kind == Kind.MEMBER_DAY:
        if "weekday" in params:
            due = today.weekday() == params["weekday"]
        else:
            due = _month_day_matches([params.get("day_of_month", 0)], today)
        return Occasion(key=f"{prefix}:{today.isoformat()}") if due else None
    if kind == Kind.BIRTHDAY:
        # Once a year per member whichever the mode: the occasion is the year.
        if params.get("mode") == "month":
            return Occasion(key=f"{prefix}:{today:%Y-%m}", occasion=f"birthday:{today.year}")
        return Occasion(key=f"{prefix}:{today.isoformat()}", occasion=f"birthday:{today.year}")
    if kind == Kind.WIN_BACK:
        return Occasion(key=f"{prefix}:{today.isoformat()}", occasion=None)
    return None


def birthday_filter(*, mode: str, today: datetime.date) -> dict:
    """The Member filter of a birthday run on `today`: born this month, or on this day (29 February falls on the
    28th in other years)."""
    if mode == "month":
        return {"birthday__month": today.month}
    if today.month == 2 and today.day == 28 and not _is_leap(today.year):
        return {"birthday__month": 2, "birthday__day__in": [28, 29]}
    return {"birthday__month": today.month, "birthday__day": today.day}


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
