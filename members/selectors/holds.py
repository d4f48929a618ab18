"""What a member may spend now: the balances less what holds set aside for checkouts waiting for their payment.

Pure reads of the member row (its balances and the held caches members.services.holds keeps under the member lock);
every debit a member chooses asks them, under that lock, and so do the reads that show or check it.
"""

from decimal import Decimal

from members.models import Member

ZERO = Decimal("0.00")


def points_available(member: Member) -> int:
    """The points a member may spend now: the balance less what active holds set aside (never below 0)."""
    return max(0, member.points_balance - member.points_held)


def stored_value_available(member: Member) -> Decimal:
    """The stored value a member may spend now: the balance less what active holds set aside (never below 0)."""
    return max(ZERO, member.stored_value_balance - member.stored_value_held)
