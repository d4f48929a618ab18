from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError

from members.services.stored_value import stored_value_drift


class Command(BaseCommand):
    help = "Verify that every member's cached stored-value balance equals the sum of its ledger entries."

    def handle(self, *args, **options):
        drift = stored_value_drift()
        for member_id, balance, entries_sum in drift:
            entries_sum = Decimal(entries_sum).quantize(Decimal("0.01"))
            self.stdout.write(f"member {member_id}: balance={balance} entries_sum={entries_sum}")
        if drift:
            raise CommandError(f"{len(drift)} member(s) drift from their stored-value ledger.")
        self.stdout.write(self.style.SUCCESS("Stored-value ledger consistent for every member."))
