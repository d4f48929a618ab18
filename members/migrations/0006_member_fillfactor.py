"""Leave a tenth of each members page free on PostgreSQL (fillfactor 90).

A member row is rewritten on every purchase, expiry, grant and import update (balances, statistics), and none
of those columns is indexed: with room on its page the new row version stays there (a HOT update) and none
of the member indexes is written again. New pages get the room at once; existing ones as they are rewritten.

(No longer so for purchases and balance changes: later migrations index last_purchase_at and carry the balances
in member_store_balances, for the console and the segments; docs/ARCHITECTURE.md, "Indexes and what they cost
the writers". An update that changes no indexed column still stays on its page.)
"""

from django.db import migrations


def set_fillfactor(apps, schema_editor, value=90):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE members_member SET (fillfactor = {int(value)})")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE members_member RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("members", "0005_leaner_member_and_ledger_indexes")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor, elidable=False)]
