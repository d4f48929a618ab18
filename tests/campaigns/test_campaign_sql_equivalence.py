"""On PostgreSQL, a campaign chunk's one statement (campaigns.sql.chunk_rows_insert) writes exactly the rows of the
ORM reference (recipients' bulk_create, coupons_issue_many, notify_many, the outcome UPDATEs): each runs on the same
data, the other's writes rolled back. A statement that meets a conflict writes nothing and the reference writes the
chunk."""

import datetime

import pytest

from campaigns import sql
from campaigns.models import Campaign, CampaignRecipient
from campaigns.services import campaigns as campaigns_service
from campaigns.services.campaigns import campaign_deliver
from campaigns.sql import chunk_rows_insert
from coupons import codes as code_module
from coupons.models import Coupon
from coupons.services import bulk
from members.models import Member, Notification, OutboxMessage
from tests.campaigns.campaign_factories import CampaignFactory
from tests.coupons.factories import CouponTemplateFactory
from tests.factories import MemberFactory
from tests.members.test_bulk_sql_equivalence import rows_written_by

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]
Status = CampaignRecipient.Status

NOW = datetime.datetime(2024, 6, 3, 2, 0, tzinfo=datetime.UTC)
COUPON_FIELDS = ("member_id", "member_sequence", "code", "status", "source", "issued_by_id", "issued_at",
                 "valid_from", "valid_until", "reserved_until", "redeemed_at", "template_id")  # fmt: skip
NOTIFICATION_FIELDS = ("member_id", "kind", "title", "body", "params", "locale", "read_at", "created_at")
OUTBOX_FIELDS = ("channel", "status", "attempts", "next_attempt_at", "last_error", "sent_at", "created_at")


@pytest.fixture
def known_codes(monkeypatch):
    """Codes drawn in a known order (both paths draw the same ones), restarted by `restart()`; codes drawn before
    the first restart are of another series."""
    drawn, series = [], ["E"]

    def codes(count, *, prefix="", body_length=8):
        drawn.extend(range(len(drawn), len(drawn) + count))
        return [f"{prefix}{series[0]}{number:0{body_length - 1}d}" for number in drawn[-count:]]

    def restart():
        drawn.clear()
        series[0] = "T"

    monkeypatch.setattr(bulk, "generate_codes", codes)
    monkeypatch.setattr(code_module, "generate_codes", codes)
    codes.restart = restart
    return codes


def audience():
    """Members of every kind a chunk meets: languages, channel consents, marketing consent, an inactive one."""
    members = [
        MemberFactory(name="Chan Tai Man", locale="en", consent_marketing=True, consent_sms=True),
        MemberFactory(
            name="Wong Siu Ming",
            locale="zh-hant",
            consent_marketing=True,
            consent_sms=True,
            consent_email=True,
            email="wong@example.com",
        ),  # fmt: skip
        MemberFactory(name="Lee Ka Yan", locale="zh-hans", consent_marketing=False, consent_sms=True),
        MemberFactory(name="", locale="en", consent_marketing=True, consent_email=True, email="x@example.com"),
        MemberFactory(status=Member.Status.FROZEN),
    ]
    return members + MemberFactory.create_batch(11, locale="en", consent_marketing=True, consent_sms=True)


def snapshot(campaign):
    """Every row the campaign's delivery wrote, keyed by member: the recipient, its coupon, message and outbox (ids
    aside; the keys checked to be the recipient's), with the counters it moved."""
    rows = {}
    for recipient in CampaignRecipient.objects.filter(campaign=campaign).order_by("member_id"):
        coupon = Coupon.objects.filter(issue_key=f"campaign:{recipient.pk}").values_list(*COUPON_FIELDS).first()
        message = Notification.objects.filter(dedupe_key=f"campaign:{recipient.pk}").first()
        assert (recipient.coupon_id is None) == (coupon is None)
        assert recipient.notification_id == (message.pk if message else None)
        outbox = (
            sorted(OutboxMessage.objects.filter(notification=message).values_list(*OUTBOX_FIELDS)) if message else []
        )
        rows[recipient.member_id] = (
            recipient.occasion, recipient.run_id, recipient.held_out, recipient.status, recipient.points_granted,
            recipient.channels, recipient.created_at, coupon,
            tuple(getattr(message, name) for name in NOTIFICATION_FIELDS) if message else None, outbox,
        )  # fmt: skip
    campaign.refresh_from_db()
    template = campaign.coupon_template
    if template is not None:
        template.refresh_from_db()
    return rows, campaign.coupons_issued, template.issued_count if template else None


@pytest.mark.parametrize(
    "settings_of",
    [
        pytest.param(
            {
                "holdout_percent": 30,
                "channels": ["sms", "email"],
                "is_marketing": True,
                "message_title": "Hi {first_name}",
                "message_body": "{member_number}: {points_balance} points {x}",
            },
            id="marketing, hold-out, channels",
        ),
        pytest.param({"channels": ["email", "sms"], "is_marketing": False, "message_title": ""}, id="transactional"),
        pytest.param({"budget_coupons": 4, "channels": ["sms"]}, id="coupon budget"),
        pytest.param({"quota": 5, "channels": ["sms"]}, id="template quota"),
        pytest.param({"coupon": False, "channels": ["sms"]}, id="message only"),
    ],
)
def test_the_chunk_statement_writes_the_rows_of_the_orm(known_codes, monkeypatch, settings_of):
    # given a campaign, a member who already holds a coupon of its template, and one already reached
    settings_of = dict(settings_of)
    quota, with_coupon = settings_of.pop("quota", None), settings_of.pop("coupon", True)
    template = CouponTemplateFactory(quota=quota, code_length=10) if with_coupon else None
    campaign = CampaignFactory(coupon_template=template, name="Summer", **settings_of)
    members = audience()
    if template is not None:
        bulk.coupons_issue_many(template_id=template.pk, issue_keys={members[1].pk: "earlier"}, source="bulk", now=NOW)
    campaign_deliver(campaign_id=campaign.pk, member_ids=[members[2].pk], occasion="run:1", now=NOW)
    ids = [member.pk for member in members]

    def deliver():
        known_codes.restart()
        campaign_deliver(campaign_id=campaign.pk, member_ids=ids, occasion="run:1", now=NOW, fields={ids[0]: {"x": 1}})

    written = []
    set_based = campaigns_service._write_set_based

    def statement_path(**kwargs):
        written.append(set_based(**kwargs))
        return written[-1]

    monkeypatch.setattr(campaigns_service, "_write_set_based", statement_path)
    # when each path delivers the chunk
    reference = rows_written_by("orm", deliver, lambda: snapshot(campaign))
    fast = rows_written_by("sql", deliver, lambda: snapshot(campaign))

    # then
    assert [given is not None for given in written] == [True]  # the statement wrote the chunk, not the reference
    assert fast == reference
    rows, _issued, _count = fast
    assert len(rows) == len(members) - 1  # the frozen member gets nothing
    assert {row[3] for row in rows.values()} >= {Status.DELIVERED}


def test_a_coupon_code_already_taken_leaves_the_chunk_to_the_reference(known_codes, monkeypatch):
    # given the first code the chunk will draw is already some coupon's (the fixture's series restarted first)
    tried = []

    def statement(**kwargs):
        tried.append(len(kwargs["rows"]))
        return chunk_rows_insert(**kwargs)

    monkeypatch.setattr(sql, "chunk_rows_insert", statement)
    template = CouponTemplateFactory(code_length=10)
    campaign = CampaignFactory(coupon_template=template)
    members = MemberFactory.create_batch(3)
    known_codes.restart()
    bulk.coupons_issue_many(template_id=template.pk, issue_keys={members[0].pk: "earlier"}, source="bulk", now=NOW)
    known_codes.restart()  # the chunk draws "T000000000" again
    # when
    result = campaign_deliver(
        campaign_id=campaign.pk, member_ids=[member.pk for member in members], occasion="run:1", now=NOW
    )
    # then the statement was tried; each member has one recipient row, one new coupon under its key, one message
    assert tried == [3]
    assert (result.created, result.delivered, result.coupons) == (3, 3, 3)
    for recipient in CampaignRecipient.objects.filter(campaign=campaign):
        assert Coupon.objects.filter(issue_key=f"campaign:{recipient.pk}").count() == 1
        assert recipient.coupon.issue_key == f"campaign:{recipient.pk}"
        assert recipient.notification.dedupe_key == f"campaign:{recipient.pk}"
    assert Coupon.objects.filter(template=template).count() == 4
    template.refresh_from_db()
    campaign.refresh_from_db()
    assert (template.issued_count, campaign.coupons_issued) == (4, 3)
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.RUNNING
