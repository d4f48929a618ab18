from django.core.management.base import BaseCommand, CommandError

from members.services.holds import balance_holds_drift
from members.services.ledger import points_ledger_drift


class Command(BaseCommand):
    help = (
        "Verify that every member's cached points balance equals the sum of its ledger entries and lots, and that "
        "the points held equal the sum of the member's active holds."
    )

    def handle(self, *args, **options):
        drift = points_ledger_drift()
        for row in drift:
            self.stdout.write(
                f"member {row.member_id}: balance={row.points_balance} debt={row.points_debt} "
                f"entries_sum={row.entries_sum} active_lots_sum={row.active_lots_sum}"
            )
        holds = [row for row in balance_holds_drift() if row.points_held != row.active_points_sum]
        for row in holds:
            self.stdout.write(
                f"member {row.member_id}: points_held={row.points_held} active_holds_sum={row.active_points_sum}"
            )
        if drift or holds:
            raise CommandError(
                f"{len({row.member_id for row in [*drift, *holds]})} member(s) drift from their points ledger."
            )
        self.stdout.write(self.style.SUCCESS("Points ledger consistent for every member."))
