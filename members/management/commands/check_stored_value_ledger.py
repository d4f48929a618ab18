from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError

from members.services.holds import balance_holds_drift
from members.services.stored_value import stored_value_drift


class Command(BaseCommand):
    help = (
        "Verify that every member's cached stored-value balance equals the sum of its ledger entries, and that the "
        "stored value held equals the sum of the member's active holds."
    )

    def handle(self, *args, **options):
        drift = stored_value_drift()
        for member_id, balance, entries_sum in drift:
            entries_sum = Decimal(entries_sum).quantize(Decimal("0.01"))
            self.stdout.write(f"member {member_id}: balance={balance} entries_sum={entries_sum}")
        holds = [row for row in balance_holds_drift() if row.stored_value_held != row.active_stored_value_sum]
        for row in holds:
            self.stdout.write(
                f"member {row.member_id}: stored_value_held={row.stored_value_held} "
                f"active_holds_sum={Decimal(row.active_stored_value_sum).quantize(Decimal('0.01'))}"
            )
        if drift or holds:
            members = {row[0] for row in drift} | {row.member_id for row in holds}
            raise CommandError(f"{len(members)} member(s) drift from their stored-value ledger.")
        self.stdout.write(self.style.SUCCESS("Stored-value ledger consistent for every member."))
