"""When points earned at a given time expire: the one rule, which the points app's policy owns.

The members app writes lots of its own (an import's opening balances) but may not import the points app (the apps'
import direction, docs/ARCHITECTURE.md). So the points app registers its policy here when it starts
(points.apps), and the members app asks `lot_expires_at`. Without a registered rule points never expire.
"""

from collections.abc import Callable
from datetime import datetime

_rule: Callable[[datetime], datetime | None] | None = None


def lot_expiry_rule_register(rule: Callable[[datetime], datetime | None]) -> None:
    """Make `rule(earned_at)` the answer of `lot_expires_at` (the points app, at startup)."""
    global _rule
    _rule = rule


def lot_expires_at(*, earned_at: datetime) -> datetime | None:
    """When points made available at `earned_at` expire, or None when they never do."""
    return _rule(earned_at) if _rule is not None else None
