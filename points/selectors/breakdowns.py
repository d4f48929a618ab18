"""The points breakdowns the ledger keeps, named in the reader's language.

A breakdown is stored with each rule's name as it read when the purchase was recorded, in the language of that
request (often the till's). A member reads their ledger in their own: rules that still exist are named again in
the active language (infra/translation.py), the others keep the stored name.
"""

from collections.abc import Iterable

from points.models import EarningRule


def breakdown_rule_names(*, breakdowns: Iterable[dict | None]) -> dict[int, str]:
    """Return {rule id: name in the active language} for the rules the breakdowns name (one query)."""
    rule_ids = {
        step["rule_id"]
        for breakdown in breakdowns
        for step in (breakdown or {}).get("rules", ())
        if isinstance(step, dict) and step.get("rule_id")
    }
    if not rule_ids:
        return {}
    return dict(EarningRule.objects.filter(pk__in=rule_ids).values_list("pk", "name"))


def breakdown_named(breakdown: dict, names: dict[int, str]) -> dict:
    """`breakdown` with each rule step named from `names` where it has a name there."""
    rules = [
        {**step, "name": names[step["rule_id"]]} if names.get(step.get("rule_id")) else step
        for step in breakdown.get("rules", ())
    ]
    return {**breakdown, "rules": rules}
