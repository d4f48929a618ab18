"""The one schema of a segment's rule: what the validator refuses, what the compiler reads, what the editor shows.

A rule is a group: {"match": "all" | "any", "conditions": [...]}; each item of `conditions` is a condition or a
nested group. A condition is {"field": <name>, "op": <operator>, "value": <value>} plus the parameters its
field takes (a window in days, a channel, an event...). FIELDS below declares, per field, its operators (each
with the kind of value it takes) and its parameters; `rule_errors` checks a rule against it and names every
problem by the condition's position ("2.1" is the first condition of the second item) and field, in the
active language. The console's editor receives the same table (`schema_for_editor`).
"""

import datetime
from dataclasses import dataclass, field

from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from members.models import Member

MAX_DEPTH = 4
MAX_CONDITIONS = 50
MAX_DAYS = 3650
MAX_IDS = 500


@dataclass(frozen=True)
class Field:
    label: object
    help: object
    ops: dict  # operator -> value kind (see _check_value)
    params: dict = field(default_factory=dict)  # parameter -> (kind, required)
    choices: tuple = ()  # for "choices" values: ((value, label), ...)
    model: str = ""  # for "ids" values: the model the ids name


def _choices(text_choices) -> tuple:
    return tuple((value, label) for value, label in text_choices.choices)


CONSENT_CHANNELS = (
    ("marketing", _("Marketing")),
    ("sms", _("SMS")),
    ("email", _("Email")),
    ("wechat", _("WeChat messages")),
)

COMPARE = {"gte": "int", "lte": "int", "between": "int_range"}
COMPARE_MONEY = {"gte": "money", "lte": "money", "between": "money_range"}


def _behaviour_events() -> tuple:
    from points.models import EarningRule  # campaigns sits above points: reading its choices is allowed

    return _choices(EarningRule.BehaviourEvent)


FIELDS = {
    "tier": Field(
        _("Tier"), _("The member's tier is one of (or none of) the tiers given."),
        {"in": "ids", "not_in": "ids"}, model="members.Tier",
    ),
    "tags": Field(
        _("Tags"), _("The member has any, all or none of the tags given."),
        {"any": "ids", "all": "ids", "none": "ids"}, model="members.Tag",
    ),
    "home_store": Field(
        _("Home store"), _("The member's home store is one of (or none of) the stores given."),
        {"in": "ids", "not_in": "ids"}, model="members.Store",
    ),
    "gender": Field(
        _("Gender"), _("The member's gender is one of (or none of) the values given; \"\" is not given."),
        {"in": "choices", "not_in": "choices"}, choices=_choices(Member.Gender),
    ),
    "age": Field(
        _("Age"), _("The member's age in years today (members without a birthday never match)."),
        COMPARE,
    ),
    "birthday_month": Field(
        _("Birthday month"),
        _("The member's birthday falls in one of the months given (1-12), or in the current month."),
        {"in": "months", "current": "none"},
    ),
    "joined": Field(
        _("Join date"),
        _("When the member joined: on or after, before, between two dates (YYYY-MM-DD, the second one excluded), "
          "within the last N days or more than N days ago."),
        {"after": "date", "before": "date", "between": "date_range", "within_days": "days",
         "more_than_days_ago": "days"},
    ),
    "join_source": Field(
        _("Join source"),
        _("Where the member joined. \"referral\" is the referral source: members do not record who referred them."),
        {"in": "choices", "not_in": "choices"}, choices=_choices(Member.JoinSource),
    ),
    "days_since_last_purchase": Field(
        _("Days since the last purchase"),
        _("Recency: whole days since the member's last purchase; \"never\" matches members who never bought "
          "(the comparisons never match them)."),
        {**COMPARE, "never": "none"},
    ),
    "purchase_count": Field(
        _("Purchases in a window"),
        _("Frequency: purchases in the last N days (\"days\"), fully refunded ones left out."),
        COMPARE, params={"days": ("days", True)},
    ),
    "spend": Field(
        _("Spend in a window"),
        _("Monetary: paid in money and stored value over the last N days (\"days\"), fully refunded purchases "
          "left out, as the tier review counts spend."),
        COMPARE_MONEY, params={"days": ("days", True)},
    ),
    "points_balance": Field(
        _("Points available"),
        _("Points the member can spend now: the balance less the points held for orders being paid."),
        COMPARE,
    ),
    "points_expiring": Field(
        _("Points expiring"),
        _("Points the member holds that expire within the next N days (\"days\")."),
        COMPARE, params={"days": ("days", True)},
    ),
    "unused_coupons": Field(
        _("Unused coupons"),
        _("Coupons available to the member and not expired; \"templates\" (optional) counts only those templates."),
        COMPARE, params={"templates": ("ids:coupons.CouponTemplate", False)},
    ),
    "consent": Field(
        _("Consent"),
        _("The member's consent on a channel (\"channel\": marketing, sms, email or wechat) is given (true) or not "
          "(false)."),
        {"is": "bool"}, params={"channel": ("channel", True)},
    ),
    "behaviour": Field(
        _("Behaviour"),
        _("Times the member was rewarded for a behaviour (\"event\") in the last N days (\"days\"): behaviours are "
          "recorded when an active behaviour rule rewards them."),
        COMPARE, params={"event": ("event", True), "days": ("days", True)},
    ),
    "bucket": Field(
        _("Random bucket"),
        _("The member's stable random bucket (0-9999) for \"salt\" (optional, 0 by default): for hold-outs and "
          "samples."),
        {"between": "bucket_range"}, params={"salt": ("int", False)},
    ),
}  # fmt: skip

MATCHES = {"all": pgettext_lazy("segment group", "all"), "any": pgettext_lazy("segment group", "any")}


class _Problems:
    def __init__(self):
        self.messages: list[str] = []

    def group(self, path: str, message: str):
        if path:
            self.messages.append(gettext("Group %(path)s: %(problem)s") % {"path": path, "problem": message})
        else:
            self.messages.append(gettext("The rule: %(problem)s") % {"problem": message})

    def condition(self, path: str, name: str | None, message: str):
        if name in FIELDS:
            label = f"{name}, {FIELDS[name].label}"
            self.messages.append(
                gettext("Condition %(path)s (%(field)s): %(problem)s")
                % {"path": path, "field": label, "problem": message}
            )
        else:
            self.messages.append(gettext("Condition %(path)s: %(problem)s") % {"path": path, "problem": message})


def rule_errors(rule, *, check_ids: bool = True) -> list[str]:
    """Return every problem of `rule` against the schema, each naming its condition; [] when it is valid.

    With `check_ids`, ids of tiers, tags, stores and coupon templates must exist (a query per model named).
    """
    problems = _Problems()
    wanted_ids: dict[str, list[tuple[str, str, set]]] = {}
    counter = [0]
    _check_group(rule, "", 1, problems, wanted_ids, counter)
    if counter[0] > MAX_CONDITIONS:
        problems.group("", gettext("at most %(count)d conditions.") % {"count": MAX_CONDITIONS})
    if check_ids and not problems.messages:
        _check_ids_exist(wanted_ids, problems)
    return problems.messages


def _check_group(group, path, depth, problems, wanted_ids, counter):
    if not isinstance(group, dict):
        problems.group(path, gettext('a group is an object with "match" and "conditions".'))
        return
    unknown = sorted(set(group) - {"match", "conditions"})
    if unknown:
        problems.group(path, gettext('unknown key "%(key)s".') % {"key": unknown[0]})
    if group.get("match") not in MATCHES:
        problems.group(path, gettext('"match" must be "all" or "any".'))
    conditions = group.get("conditions")
    if not isinstance(conditions, list):
        problems.group(path, gettext('"conditions" must be a list.'))
        return
    if not conditions:
        problems.group(path, gettext("the group is empty: add a condition or remove the group."))
        return
    for index, item in enumerate(conditions, start=1):
        item_path = f"{path}.{index}" if path else str(index)
        if isinstance(item, dict) and "conditions" in item and "field" not in item:
            if depth >= MAX_DEPTH:
                problems.group(item_path, gettext("groups nest at most %(depth)d deep.") % {"depth": MAX_DEPTH})
                continue
            _check_group(item, item_path, depth + 1, problems, wanted_ids, counter)
        else:
            counter[0] += 1
            _check_condition(item, item_path, problems, wanted_ids)


def _check_condition(condition, path, problems, wanted_ids):
    if not isinstance(condition, dict):
        problems.condition(path, None, gettext('a condition is an object with "field", "op" and "value".'))
        return
    name = condition.get("field")
    spec = FIELDS.get(name) if isinstance(name, str) else None
    if spec is None:
        problems.condition(path, None, gettext('unknown field "%(field)s".') % {"field": name})
        return
    unknown = sorted(set(condition) - {"field", "op", "value", *spec.params})
    if unknown:
        problems.condition(path, name, gettext('unknown key "%(key)s".') % {"key": unknown[0]})
    op = condition.get("op")
    if op not in spec.ops:
        problems.condition(
            path, name,
            gettext('unknown operator "%(op)s"; use one of: %(ops)s.') % {"op": op, "ops": ", ".join(spec.ops)},
        )  # fmt: skip
        return
    kind = spec.ops[op]
    problem = _check_value(kind, condition.get("value"), spec) if kind != "none" else None
    if kind == "none" and condition.get("value") not in (None, "", []):
        problem = gettext("this operator takes no value.")
    if problem:
        problems.condition(path, name, problem)
    elif kind == "ids":
        wanted_ids.setdefault(spec.model, []).append((path, name, set(condition["value"])))
    for param, (param_kind, required) in spec.params.items():
        if param not in condition:
            if required:
                problems.condition(path, name, gettext('give "%(param)s".') % {"param": param})
            continue
        problem = _check_param(param_kind, condition[param])
        if problem:
            problems.condition(path, name, f'"{param}": {problem}')
        elif param_kind.startswith("ids:"):
            wanted_ids.setdefault(param_kind[4:], []).append((path, name, set(condition[param])))


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)) or (
        isinstance(value, str) and _money(value) is not None
    )


def _money(value):
    from decimal import Decimal, InvalidOperation

    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount >= 0 and amount == amount.quantize(Decimal("0.01")) else None


def _date(value):
    if not isinstance(value, str):
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        return None


def _check_value(kind, value, spec) -> str | None:  # noqa: PLR0911 (one answer per kind)
    if kind == "ids":
        if not isinstance(value, list) or not value or not all(_is_int(item) and item > 0 for item in value):
            return gettext("give a non-empty list of ids.")
        if len(value) > MAX_IDS:
            return gettext("at most %(count)d ids.") % {"count": MAX_IDS}
        return None
    if kind == "choices":
        allowed = [choice for choice, _label in spec.choices]
        if not isinstance(value, list) or not value or not all(item in allowed for item in value):
            return gettext("give a non-empty list of: %(values)s.") % {
                "values": ", ".join(f'"{choice}"' for choice in allowed)
            }
        return None
    if kind == "months":
        if not isinstance(value, list) or not value or not all(_is_int(m) and 1 <= m <= 12 for m in value):
            return gettext("give a non-empty list of months, 1 to 12.")
        return None
    if kind == "int":
        return None if _whole(value) else _whole_refusal()
    if kind == "days":
        return _check_param("days", value)
    if kind == "money":
        return None if _is_number(value) and _money(value) is not None else gettext("give an amount, 0 or more.")
    if kind == "bool":
        return None if isinstance(value, bool) else gettext("give true or false.")
    if kind == "date":
        return None if _date(value) else gettext("give a date as YYYY-MM-DD.")
    if kind in ("int_range", "money_range", "date_range", "bucket_range"):
        if not isinstance(value, list) or len(value) != 2:
            return gettext("give two values, [from, to].")
        low, high = value
        if kind == "date_range":
            low, high = _date(low), _date(high)
            ok = low is not None and high is not None
        elif kind == "money_range":
            low, high = (_money(low), _money(high)) if _is_number(low) and _is_number(high) else (None, None)
            ok = low is not None and high is not None
        else:
            top = 9999 if kind == "bucket_range" else None
            ok = all(_whole(v) and (top is None or v <= top) for v in (low, high))
            if not ok and kind == "bucket_range":
                return gettext("give two buckets from 0 to 9999, [from, to].")
        if not ok:
            return gettext("give two values, [from, to].")
        if low > high:
            return gettext("the first value is greater than the second.")
        return None
    raise ValueError(kind)


# Whole numbers in a rule stay far inside PostgreSQL's bigint (a bucket's salt is multiplied by 7,919 in SQL), so a
# number typed with too many digits is refused at save, not a database error when counting.
MAX_WHOLE = 10**12


def _whole(value) -> bool:
    return _is_int(value) and 0 <= value <= MAX_WHOLE


def _whole_refusal() -> str:
    return gettext("give a whole number from 0 to %(max)s.") % {"max": f"{MAX_WHOLE:,}"}


def _check_param(kind, value) -> str | None:
    if kind == "days":
        if not _is_int(value) or not 1 <= value <= MAX_DAYS:
            return gettext("give a number of days from 1 to %(max)d.") % {"max": MAX_DAYS}
        return None
    if kind == "int":
        return None if _whole(value) else _whole_refusal()
    if kind == "channel":
        allowed = [value for value, _label in CONSENT_CHANNELS]
        if value not in allowed:
            return gettext("give one of: %(values)s.") % {"values": ", ".join(allowed)}
        return None
    if kind == "event":
        allowed = [value for value, _label in _behaviour_events()]
        if value not in allowed:
            return gettext("give one of: %(values)s.") % {"values": ", ".join(allowed)}
        return None
    if kind.startswith("ids:"):
        if not isinstance(value, list) or not value or not all(_is_int(item) and item > 0 for item in value):
            return gettext("give a non-empty list of ids.")
        return None
    raise ValueError(kind)


def _check_ids_exist(wanted_ids, problems):
    from django.apps import apps

    for label, uses in wanted_ids.items():
        model = apps.get_model(label)
        asked = set().union(*(ids for _path, _name, ids in uses))
        known = set(model._default_manager.filter(pk__in=asked).values_list("pk", flat=True))
        for path, name, ids in uses:
            missing = sorted(ids - known)
            if missing:
                problems.condition(
                    path, name,
                    gettext("no %(object)s has the id %(ids)s.")
                    % {"object": model._meta.verbose_name, "ids": ", ".join(map(str, missing))},
                )  # fmt: skip


def schema_for_editor() -> dict:
    """Return the schema as plain JSON for the console's editor: fields, operators, parameters and choices."""
    return {
        "matches": {key: str(label) for key, label in MATCHES.items()},
        "labels": {"condition": gettext("condition"), "group": gettext("group")},
        "fields": {
            name: {
                "label": str(spec.label),
                "help": str(spec.help),
                "ops": spec.ops,
                "params": {param: kind for param, (kind, _required) in spec.params.items()},
                "choices": [[value, str(label)] for value, label in spec.choices],
                "model": spec.model,
            }
            for name, spec in FIELDS.items()
        },
        "channels": [[value, str(label)] for value, label in CONSENT_CHANNELS],
        "events": [[value, str(label)] for value, label in _behaviour_events()],
    }
