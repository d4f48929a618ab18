"""The audit log's indexes on the records it reads (console.audit_log): each source is read newest first, a page at a
time, and only for its rows made by staff, so each gets an index on (date, id) holding just those rows, and one on
(staff member, date, id) for the log of one staff member or of one store's staff. Partial: the rows written by the
system (every purchase, expiry, review) add nothing to them.

They live here because the audit log is their only reader; the tables are members' and campaigns'. The SQL is the
same on PostgreSQL and SQLite (both have partial indexes), so both legs of the tests run with them.
"""

from django.db import migrations

INDEXES = (
    ("audit_points_staff_date", "members_pointsentry", "created_at, id", "created_by_id IS NOT NULL"),
    ("audit_points_by_staff", "members_pointsentry", "created_by_id, created_at, id", "created_by_id IS NOT NULL"),
    ("audit_stored_value_staff_date", "members_storedvalueentry", "created_at, id", "created_by_id IS NOT NULL"),
    ("audit_stored_value_by_staff", "members_storedvalueentry", "created_by_id, created_at, id", "created_by_id IS NOT NULL"),
    ("audit_tier_staff_date", "members_tierhistory", "created_at, id", "created_by_id IS NOT NULL"),
    ("audit_tier_by_staff", "members_tierhistory", "created_by_id, created_at, id", "created_by_id IS NOT NULL"),
    ("audit_consent_date", "campaigns_consentrecord", "recorded_at, id", None),
)


def _create(name, table, columns, condition):
    where = f" WHERE {condition}" if condition else ""
    return f"CREATE INDEX {name} ON {table} ({columns}){where}"


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0002_audit_log_and_staff_history"),
        ("members", "0016_member_360_actions_and_anonymisation"),
        ("campaigns", "0002_channels_and_webhooks"),
    ]

    operations = [
        migrations.RunSQL(sql=_create(*index), reverse_sql=f"DROP INDEX {index[0]}") for index in INDEXES
    ]
