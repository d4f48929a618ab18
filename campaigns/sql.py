"""The campaigns app's raw SQL: a segment freeze's INSERT ... SELECT (every database), and the writes of one chunk
of a campaign's delivery on PostgreSQL (bench/campaign_fanout.py).

`chunk_rows_insert` writes a chunk's recipient rows, their coupons, inbox notifications and outbox messages in one
statement. Its portable ORM reference is the rest of campaigns.services.campaigns.campaign_deliver (the recipients'
bulk_create and read-back, coupons_issue_many, notify_many, _record_outcomes), and
tests/campaigns/test_campaign_sql_equivalence.py runs both on the same data and compares every row written. The
caller asks `infra.bulk_sql.set_based()` first; nothing here runs on another database.
"""

import json
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import QuerySet

from campaigns.models import CampaignRecipient, SegmentMember
from coupons.models import Coupon
from infra.bulk_sql import pg_array
from members.models import Notification, OutboxMessage

_sequences: dict[str, str] = {}


def freeze_members_insert(*, freeze_id: int, member_ids: QuerySet) -> int:
    """Write the members of `member_ids` (a queryset of one column, the member id) into the freeze in one
    INSERT ... SELECT, on any database; return how many.

    Django has no INSERT ... SELECT: the SELECT is the queryset's own compiled SQL, the same query that the segment's
    count and sample run, so nothing travels through Python.
    """
    select_sql, params = member_ids.query.sql_with_params()
    qn = connection.ops.quote_name
    sql = (
        f"INSERT INTO {qn(SegmentMember._meta.db_table)} ({qn('freeze_id')}, {qn('member_id')}) "  # noqa: S608
        f"SELECT %s, segment_members.* FROM ({select_sql}) AS segment_members"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, (freeze_id, *params))
        return cursor.rowcount


def _sequence(model) -> str:
    """The name of the sequence behind a table's id (read once per process)."""
    table = model._meta.db_table
    if table not in _sequences:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, model._meta.pk.column])
            _sequences[table] = cursor.fetchone()[0]
    return _sequences[table]


def _constants(model, given: dict, skip: tuple[str, ...]) -> tuple[list[str], list]:
    """The columns of `model` other than the id and `skip`, with their values (`given`, else the field's default)
    prepared for the database."""
    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key or field.attname in skip:
            continue
        value = given[field.attname] if field.attname in given else field.get_default()
        columns.append(connection.ops.quote_name(field.column))
        values.append(field.get_db_prep_save(value, connection))
    return columns, values


@dataclass(frozen=True)
class _Constants:
    """The columns a chunk's statement writes with one value for every row, per table: (quoted columns, values)."""

    recipient: tuple[list[str], list]
    notification: tuple[list[str], list]
    outbox: tuple[list[str], list]
    coupon: tuple[list[str], list] | None


# The per-row arrays the statement unnests, in its order, with their types (channels: a JSON text per row).
_ROW_ARRAYS = (
    ("member_id", "bigint"), ("occasion", "text"), ("status", "text"), ("held_out", "boolean"), ("channels", "text"),
    ("code", "text"), ("title", "text"), ("body", "text"), ("locale", "text"),
)  # fmt: skip


def chunk_rows_insert(
    *,
    campaign_id: int,
    run_id: int | None,
    now: datetime,
    rows: list[dict],
    coupon: dict | None,
    notification_params: dict,
) -> tuple[int, list[int], int]:
    """Insert a chunk's recipient rows with their coupons, notifications and outbox messages (one statement).

    `rows`: one dict per recipient with member_id, occasion, status, held_out, channels (the outbox channels),
    code (the coupon's code, None for no coupon), title, body and locale (None: no notification). `coupon`: the
    coupon rows' constant columns (template, status, source, issued_at, validity), or None. `notification_params`:
    the parameters every notification stores besides its title and body.

    The ids come from the tables' sequences first, so each recipient row is written once, already pointing at its
    coupon and notification, whose keys (`campaign:<recipient id>`) are the reference's. Each coupon's member
    sequence continues the member's coupons of the template. Recipients that meet a row already there are skipped
    with their coupon and notification (ON CONFLICT DO NOTHING); any other unique conflict (a coupon code taken)
    fails the statement. Returns (recipient rows inserted, coupon ids inserted, notifications inserted): the caller
    compares them with what it asked for.
    """
    constants = _chunk_constants(campaign_id=campaign_id, run_id=run_id, now=now, coupon=coupon)
    # In the order of the statement's placeholders: given, recipients, coupons (if any), notifications, outbox.
    params = [
        _sequence(CampaignRecipient),
        _sequence(Coupon),
        _sequence(Notification),
        *(pg_array([_row_value(row, name) for row in rows]) for name, _type in _ROW_ARRAYS),
        *constants.recipient[1],
    ]
    if coupon is not None:
        params += [coupon["template_id"], *constants.coupon[1]]
    params += [json.dumps(notification_params), *constants.notification[1], *constants.outbox[1]]
    with connection.cursor() as cursor:
        cursor.execute(_chunk_rows_sql(constants), params)
        recipients, coupon_ids, notifications = cursor.fetchone()
    return recipients, sorted(coupon_ids or []), notifications


def _row_value(row: dict, name: str):
    return json.dumps(row["channels"]) if name == "channels" else row[name]


def _chunk_constants(*, campaign_id, run_id, now, coupon) -> _Constants:
    return _Constants(
        recipient=_constants(
            CampaignRecipient,
            {"campaign_id": campaign_id, "run_id": run_id, "points_granted": 0, "created_at": now},
            ("member_id", "occasion", "status", "held_out", "channels", "coupon_id", "notification_id"),
        ),
        notification=_constants(
            Notification,
            {"kind": Notification.Kind.CAMPAIGN, "created_at": now},
            ("member_id", "title", "body", "params", "locale", "dedupe_key"),
        ),
        outbox=_constants(OutboxMessage, {"next_attempt_at": now, "created_at": now}, ("notification_id", "channel")),
        coupon=None
        if coupon is None
        else _constants(Coupon, coupon, ("member_id", "member_sequence", "code", "issue_key")),
    )


def _placeholders(values) -> str:
    return ", ".join(["%s"] * len(values))


def _chunk_rows_sql(constants: _Constants) -> str:
    """The chunk's statement: the rows with their ids, then each table's INSERT fed by the rows that went in."""
    qn = connection.ops.quote_name
    recipient_columns, recipient_values = constants.recipient
    notification_columns, notification_values = constants.notification
    outbox_columns, outbox_values = constants.outbox
    arrays = ", ".join(f"%s::{type_}[]" for _name, type_ in _ROW_ARRAYS)
    return f"""
        WITH given AS MATERIALIZED (
            -- The chunk's rows with their ids drawn first: a coupon for a row with a code, a notification for a row
            -- with a title.
            SELECT nextval(%s) AS id,
                CASE WHEN row.code IS NOT NULL THEN nextval(%s) END AS coupon_id,
                CASE WHEN row.title IS NOT NULL THEN nextval(%s) END AS notification_id,
                row.*
            FROM unnest({arrays}) AS row({", ".join(name for name, _type in _ROW_ARRAYS)})
        ), recipients AS (
            INSERT INTO {qn(CampaignRecipient._meta.db_table)} (id, member_id, occasion, status, held_out, channels,
                coupon_id, notification_id, {", ".join(recipient_columns)})
            SELECT id, member_id, occasion, status, held_out, channels::jsonb, coupon_id, notification_id,
                {_placeholders(recipient_values)}
            FROM given
            ON CONFLICT DO NOTHING
            RETURNING id
        ), landed AS (
            -- Only the rows that went in get a coupon and a message.
            SELECT given.* FROM given JOIN recipients USING (id)
        ){_coupons_cte(constants.coupon)}, notifications AS (
            INSERT INTO {qn(Notification._meta.db_table)} (id, member_id, title, body, params, locale, dedupe_key,
                {", ".join(notification_columns)})
            SELECT notification_id, member_id, title, body,
                %s::jsonb || jsonb_build_object('title', title, 'body', body), locale, 'campaign:' || id,
                {_placeholders(notification_values)}
            FROM landed WHERE notification_id IS NOT NULL
            RETURNING id
        ), outbox AS (
            INSERT INTO {qn(OutboxMessage._meta.db_table)} (notification_id, channel, {", ".join(outbox_columns)})
            SELECT landed.notification_id, channel.value, {_placeholders(outbox_values)}
            FROM landed CROSS JOIN LATERAL jsonb_array_elements_text(landed.channels::jsonb) AS channel(value)
            WHERE landed.notification_id IS NOT NULL
        )
        SELECT (SELECT count(*) FROM recipients),
            {"(SELECT array_agg(id) FROM coupons)" if constants.coupon else "NULL"},
            (SELECT count(*) FROM notifications)
    """  # noqa: S608 - table and column names from the models, values as parameters


def _coupons_cte(coupon: tuple[list[str], list] | None) -> str:
    """The coupons of the rows that went in (none when the campaign gives no coupon): its parameters are the
    template's id, then the coupon's constants."""
    if coupon is None:
        return ""
    qn = connection.ops.quote_name
    columns, values = coupon
    return f"""
        , coupons AS (
            -- The member's next sequence number of the template, as the reference's _last_sequences reads it.
            INSERT INTO {qn(Coupon._meta.db_table)} (id, member_id, member_sequence, code, issue_key,
                {", ".join(columns)})
            SELECT landed.coupon_id, landed.member_id,
                COALESCE((SELECT max(c.member_sequence) FROM {qn(Coupon._meta.db_table)} c
                          WHERE c.template_id = %s AND c.member_id = landed.member_id), 0) + 1,
                landed.code, 'campaign:' || landed.id, {_placeholders(values)}
            FROM landed WHERE landed.coupon_id IS NOT NULL
            RETURNING id
        )"""  # noqa: S608 - table and column names from the models, values as parameters
