from django.core.management.base import BaseCommand, CommandError

from members.services.ledger import points_ledger_drift


class Command(BaseCommand):
    help = "Verify that every member's cached points balance equals the sum of its ledger entries and lots."

    def handle(self, *args, **options):
        drift = points_ledger_drift()
        for row in drift:
            self.stdout.write(
                f"member {row.member_id}: balance={row.points_balance} debt={row.points_debt} "
                f"entries_sum={row.entries_sum} active_lots_sum={row.active_lots_sum}"
            )
        if drift:
            raise CommandError(f"{len(drift)} member(s) drift from their points ledger.")
        self.stdout.write(self.style.SUCCESS("Points ledger consistent for every member."))
