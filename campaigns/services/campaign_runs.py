"""A campaign's lifecycle and its runs: launch, pause, resume, finish; the beat's due runs and their completion.

Lifecycle: draft -> scheduled (launched) -> running (its first run started; an event kind runs at launch) <->
paused -> finished. Any other step is refused with `campaign_status_invalid`. Launch, pause, resume and finish
need the `campaigns.launch_campaign` permission and, for staff of a store, a campaign of their store.

A run is one occasion of a scheduled kind (`campaigns.kinds.occasion_due`), unique by its key, so a beat that
fires twice or two beats at once start it once; an occasion the beat missed (down over its time) is started when
it is back, within CAMPAIGN_CATCH_UP_HOURS. Starting it only writes the run, `preparing`, and queues its
preparation (`campaigns.prepare_campaign_run`) after commit, so a launch from the console answers at once however
large the segment. The preparation (`campaign_run_prepare`, once per run under the run's row lock: a second task
finds it `sending` and does nothing) freezes the segment under the run's key (for the kinds that send to the whole
segment at once), splits the audience into id ranges of CAMPAIGN_CHUNK_SIZE members and fans them out as Celery
chunk tasks (infra/fanout.py) after commit; the beat's check queues it again for a run left `preparing` (a lost
task). A chunk delivers through `campaign_deliver`,
so a chunk that runs twice, or again after a failure (`campaign_run_resume`, or resuming the campaign), reaches
nobody twice. The beat's check (`campaign_runs_check`) marks a run finished only when every chunk is done, every
member of its audience has a row, and none of its outbox messages is still waiting to be sent or retried.
"""

import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils.translation import gettext as _

from campaigns.channels.sender import outbox_release_paused
from campaigns.errors import CampaignInvalid, CampaignNotRunning, CampaignStatusInvalid
from campaigns.kinds import (
    DEFAULT_WIN_BACK_DAYS,
    EVENT_KINDS,
    FREEZING_KINDS,
    SCHEDULED_KINDS,
    Occasion,
    birthday_filter,
    occasion_due,
)
from campaigns.lift.control import exclude_global_control
from campaigns.models import Campaign, CampaignRecipient, CampaignRun, SegmentMember
from campaigns.selectors.scope import campaign_check_scope
from campaigns.selectors.segments import segment_members_of
from campaigns.services.campaigns import campaign_deliver, campaign_errors
from campaigns.services.segments import segment_freeze
from coupons.models import Coupon
from infra.db_session import planner_statistics_refresh
from infra.errors import NotFound
from infra.fanout import fan_out
from members.models import Member, Notification, OutboxMessage

CampaignStatus = Campaign.Status
RunStatus = CampaignRun.Status
OPEN_RUN_STATUSES = (RunStatus.PENDING, RunStatus.PREPARING, RunStatus.SENDING, RunStatus.RETRYING)
# A run still `preparing` this long after it started lost its task (a broker restart): the beat's check queues it again.
PREPARE_RETRY_AFTER = datetime.timedelta(minutes=10)
LAUNCH_PERMISSION = "campaigns.launch_campaign"


def _local(now: datetime.datetime) -> datetime.datetime:
    return now.astimezone(ZoneInfo(settings.TIME_ZONE))


# -- the audience of a run -------------------------------------------------------------------------------------
def run_audience(*, run: CampaignRun, first_id: int | None = None, last_id: int | None = None) -> QuerySet:
    """Return the active members a run delivers to (its frozen segment, the live segment or the campaign's scope,
    narrowed by the kind: whose birthday it is, who lapsed), as a queryset of members; with `first_id` and
    `last_id`, only the members of that id range (a chunk)."""
    campaign = run.campaign
    started_at = run.started_at
    within = {} if first_id is None else {"pk__gte": first_id, "pk__lte": last_id}
    if run.freeze_id:
        frozen = SegmentMember.objects.filter(freeze_id=run.freeze_id)
        if within:
            # The chunk's range on the frozen side too, where the key (freeze, member) serves it: left to the outer
            # query alone, PostgreSQL walks the whole freeze for every chunk (measured: 337 ms a chunk at 1M).
            frozen = frozen.filter(member_id__gte=first_id, member_id__lte=last_id)
        members = Member.objects.filter(pk__in=frozen.values("member"))
    else:
        members = (
            segment_members_of(segment=campaign.segment, now=started_at)
            if campaign.segment_id
            else Member.objects.all()
        )
        # Read live, the audience is still the members of the run's moment: one who joined later (a run resumed
        # weeks on) is not owed that birthday or broadcast.
        members = members.filter(Q(joined_at__isnull=True) | Q(joined_at__lte=started_at))
    members = members.filter(status=Member.Status.ACTIVE, **within)
    if campaign.store_id:
        members = members.filter(home_store_id=campaign.store_id)
    if campaign.kind == Campaign.Kind.BIRTHDAY:
        day = run.day or _local(started_at).date()
        members = members.filter(**birthday_filter(mode=campaign.params.get("mode", "day"), today=day))
    elif campaign.kind == Campaign.Kind.WIN_BACK:
        days = campaign.params.get("days", DEFAULT_WIN_BACK_DAYS)
        members = members.filter(last_purchase_at__lt=started_at - datetime.timedelta(days=days))
    if campaign.is_marketing and campaign.respects_global_control:
        members = exclude_global_control(members)
    return members


def _ranges(member_ids: list[int], size: int) -> list[tuple[int, int]]:
    return [
        (member_ids[start], member_ids[min(start + size, len(member_ids)) - 1])
        for start in range(0, len(member_ids), size)
    ]


def _fan_out_after_commit(run_id: int, ranges: list[tuple[int, int]]) -> None:
    from campaigns.tasks import campaign_run_chunk_task

    chunks = [{"run_id": run_id, "first_id": first_id, "last_id": last_id} for first_id, last_id in ranges]
    transaction.on_commit(lambda: fan_out(campaign_run_chunk_task, chunks))


def _audience_ranges(run: CampaignRun) -> tuple[int, list[tuple[int, int]]]:
    ids = list(run_audience(run=run).order_by("pk").values_list("pk", flat=True))
    return len(ids), _ranges(ids, settings.CAMPAIGN_CHUNK_SIZE)


# -- runs ------------------------------------------------------------------------------------------------------
def _prepare_after_commit(run_id: int) -> None:
    from campaigns.tasks import prepare_campaign_run

    transaction.on_commit(lambda: prepare_campaign_run.delay(run_id=run_id))


@transaction.atomic
def campaign_run_start(*, campaign_id: int, occasion: Occasion, now: datetime.datetime) -> tuple[CampaignRun, bool]:
    """Start the run `occasion` names (unless it exists): write it `preparing` and queue its preparation (the freeze,
    the split and the fan-out of its chunks: campaign_run_prepare) after commit.

    Returns (run, whether this call started it). Raises NotFound, CampaignStatusInvalid (not scheduled or running).
    """
    campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound()
    if campaign.status not in (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING):
        raise CampaignStatusInvalid()
    run, created = CampaignRun.objects.get_or_create(
        key=occasion.key,
        defaults={"campaign": campaign, "day": occasion.day, "started_at": now, "status": RunStatus.PENDING},
    )
    if not created:
        return run, False
    run.occasion = f"run:{run.pk}" if occasion.occasion == "run" else (occasion.occasion or "")
    run.status = RunStatus.PREPARING
    run.save(update_fields=["occasion", "status"])
    if campaign.status == CampaignStatus.SCHEDULED:
        Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING)
    _prepare_after_commit(run.pk)
    return run, True


@transaction.atomic
def campaign_run_prepare(*, run_id: int, now: datetime.datetime) -> bool:
    """Prepare a `preparing` run: freeze its segment (the kinds that send to the whole segment at once), count and
    split its audience, mark it `sending` and fan its chunks out after commit. Returns whether this call did it:
    under the run's row lock, a second call (a task delivered twice, the beat's retry) finds it prepared and does
    nothing. A run whose campaign ended meanwhile is marked failed."""
    run = CampaignRun.objects.select_for_update(of=("self",)).select_related("campaign").filter(pk=run_id).first()
    if run is None or run.status != RunStatus.PREPARING:
        return False
    campaign = run.campaign
    if campaign.status == CampaignStatus.FINISHED:
        CampaignRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, finished_at=now)
        return False
    if campaign.segment_id and campaign.kind in FREEZING_KINDS:
        # The segment as it is when the run started, whenever the task runs (the freeze's own time is `now`).
        run.freeze, _created = segment_freeze(
            segment_id=campaign.segment_id, key=f"campaign-run:{run.pk}", now=run.started_at
        )
    run.audience_count, ranges = _audience_ranges(run)
    run.chunks_total, run.status = len(ranges), RunStatus.SENDING
    run.save(update_fields=["freeze", "audience_count", "chunks_total", "status"])
    _fan_out_after_commit(run.pk, ranges)
    return True


def campaign_run_chunk(*, run_id: int, first_id: int, last_id: int, now: datetime.datetime):
    """Deliver the members of a run between two ids; return the DeliverResult, or None when the run or its campaign
    no longer sends (paused: resuming sends the rest; finished). Safe to run twice."""
    run = CampaignRun.objects.select_related("campaign", "campaign__segment").filter(pk=run_id).first()
    if run is None or run.status not in OPEN_RUN_STATUSES or run.campaign.status != CampaignStatus.RUNNING:
        return None
    members = run_audience(run=run, first_id=first_id, last_id=last_id).order_by("pk")
    if run.campaign.kind == Campaign.Kind.WIN_BACK:
        # Once per lapse: the occasion is the day of the purchase they lapsed after, so a member who buys again and
        # lapses again is welcomed back again.
        occasion = {
            member_id: f"winback:{_local(last_purchase_at).date().isoformat()}"
            for member_id, last_purchase_at in members.values_list("pk", "last_purchase_at")
        }
        member_ids = list(occasion)
    else:
        occasion = run.occasion
        member_ids = list(members.values_list("pk", flat=True))
    with transaction.atomic():
        try:
            result = campaign_deliver(
                campaign_id=run.campaign_id, member_ids=member_ids, occasion=occasion, now=now, run_id=run.pk
            )
        except CampaignNotRunning:  # paused or finished since the chunk was queued
            return None
        CampaignRun.objects.filter(pk=run.pk, chunks_done__lt=F("chunks_total")).update(
            chunks_done=F("chunks_done") + 1
        )
    # The tables the chunk fills, which its foreign-key checks and lookups read: planned on statistics of a (nearly)
    # empty table, the check of a recipient's notification scanned a whole index of the inbox (3 ms a row, 1 s a
    # chunk at 200,000 messages, growing with the run).
    planner_statistics_refresh(CampaignRecipient, Coupon, Notification, OutboxMessage)
    return result


@transaction.atomic
def campaign_run_resume(*, run_id: int, now: datetime.datetime) -> int:
    """Send a run's chunks again (after a chunk failed or a pause): the members already reached get nothing more.

    Returns how many chunks were sent. Raises NotFound.
    """
    run = CampaignRun.objects.select_for_update(of=("self",)).select_related("campaign").filter(pk=run_id).first()
    if run is None:
        raise NotFound()
    if run.status not in OPEN_RUN_STATUSES:
        return 0
    if run.status == RunStatus.PREPARING:  # not split yet: its preparation sends every chunk
        _prepare_after_commit(run.pk)
        return 0
    _count, ranges = _audience_ranges(run)
    # Start the count again: the chunks all run once more (the done ones deliver nothing).
    CampaignRun.objects.filter(pk=run.pk).update(chunks_total=len(ranges), chunks_done=0, status=RunStatus.SENDING)
    _fan_out_after_commit(run.pk, ranges)
    return len(ranges)


def _pending_outbox(run: CampaignRun) -> QuerySet:
    notifications = CampaignRecipient.objects.filter(run=run, notification__isnull=False).values("notification")
    return OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING, notification__in=notifications)


def _everyone_reached(run: CampaignRun) -> bool:
    if not run.freeze_id:
        # Read live (birthdays, win-back, a broadcast to everyone), the audience moves after the chunks were cut (a
        # birthday edited to today): the chunks' count says it, or the run would wait for ever for a member no chunk
        # covers.
        return True
    reached = CampaignRecipient.objects.filter(campaign_id=run.campaign_id, occasion=run.occasion).values("member")
    return not run_audience(run=run).exclude(pk__in=reached).exists()


@transaction.atomic
def campaign_run_check(*, run_id: int, now: datetime.datetime) -> str:
    """Move a run to `retrying` or `finished` as its deliveries allow; return its status.

    Finished only when every chunk is done, every member of the audience has a row and no outbox message of the
    run is pending (a message waiting for a retry keeps it `retrying`). A broadcast finishes with its run.
    """
    run = (
        CampaignRun.objects.select_for_update(of=("self",))
        .select_related("campaign", "campaign__segment")
        .get(pk=run_id)
    )
    if run.status not in OPEN_RUN_STATUSES:
        return run.status
    if run.status == RunStatus.PREPARING:  # its audience is not known yet
        if run.started_at is None or now - run.started_at >= PREPARE_RETRY_AFTER:
            _prepare_after_commit(run.pk)
        return run.status
    if run.chunks_done < run.chunks_total or not _everyone_reached(run):
        return run.status
    pending = _pending_outbox(run)
    if pending.exists():
        status = RunStatus.RETRYING if pending.filter(attempts__gt=0).exists() else RunStatus.SENDING
        CampaignRun.objects.filter(pk=run.pk).update(status=status)
        return status
    counts = CampaignRecipient.objects.filter(run=run).aggregate(
        delivered=Count("pk", filter=Q(status=CampaignRecipient.Status.DELIVERED)),
        held_out=Count("pk", filter=Q(held_out=True)),
    )
    CampaignRun.objects.filter(pk=run.pk).update(
        status=RunStatus.FINISHED,
        finished_at=now,
        delivered_count=counts["delivered"],
        held_out_count=counts["held_out"],
    )
    if run.campaign.kind == Campaign.Kind.BROADCAST:
        Campaign.objects.filter(pk=run.campaign_id, status=CampaignStatus.RUNNING).update(
            status=CampaignStatus.FINISHED
        )
    return RunStatus.FINISHED


def campaign_runs_check(*, now: datetime.datetime) -> dict[str, int]:
    """Check every open run (beat); return how many ended in each status."""
    statuses: dict[str, int] = {}
    for run_id in CampaignRun.objects.filter(status__in=OPEN_RUN_STATUSES).order_by("pk").values_list("pk", flat=True):
        status = campaign_run_check(run_id=run_id, now=now)
        statuses[status] = statuses.get(status, 0) + 1
    return statuses


def _is_due_now(campaign: Campaign, local: datetime.datetime) -> bool:
    if campaign.send_at is None or local.time() >= campaign.send_at:
        return True
    # A broadcast whose day has passed (launched late) goes at once.
    return campaign.kind == Campaign.Kind.BROADCAST and bool(campaign.starts_on) and campaign.starts_on < local.date()


def _due_moment(campaign: Campaign, day: datetime.date) -> datetime.datetime:
    """When the campaign's occasion of `day` was due: its send time that day (midnight without one), local time."""
    return datetime.datetime.combine(day, campaign.send_at or datetime.time(0), tzinfo=ZoneInfo(settings.TIME_ZONE))


def _missed_days(campaign: Campaign, now: datetime.datetime) -> list[datetime.date]:
    """The days before today whose occasion fell due less than CAMPAIGN_CATCH_UP_HOURS ago, while the campaign was
    live: a beat (or its worker) that was down over that moment still starts the run when it is back, the day's
    birthdays and all; later than that, a member day or a birthday greeting would come too late to be one.
    Win-back is left out: each day's run reaches every member lapsed by then, so a missed day costs nothing."""
    if campaign.live_since is None or campaign.kind == Campaign.Kind.WIN_BACK:
        return []
    earliest = max(now - datetime.timedelta(hours=settings.CAMPAIGN_CATCH_UP_HOURS), campaign.live_since)
    day, days = _local(now).date() - datetime.timedelta(days=1), []
    while _due_moment(campaign, day) >= earliest:
        days.append(day)
        day -= datetime.timedelta(days=1)
    return days[::-1]


def campaign_runs_due(*, campaign: Campaign, now: datetime.datetime) -> list[CampaignRun]:
    """Start the runs a scheduled campaign owes now and has not started: today's once its time has come, and
    those of days the beat missed (_missed_days), oldest first. Return them."""
    if campaign.kind not in SCHEDULED_KINDS or campaign.status not in (
        CampaignStatus.SCHEDULED,
        CampaignStatus.RUNNING,
    ):
        return []
    local = _local(now)
    days = _missed_days(campaign, now) + ([local.date()] if _is_due_now(campaign, local) else [])
    runs = []
    for day in days:
        occasion = occasion_due(campaign=campaign, today=day)
        if occasion is None or CampaignRun.objects.filter(key=occasion.key).exists():
            continue
        run, _created = campaign_run_start(campaign_id=campaign.pk, occasion=occasion, now=now)
        runs.append(run)
    return runs


def campaigns_run_due(*, now: datetime.datetime) -> dict[str, int]:
    """Start every due run of the scheduled campaigns and finish those past their last day (beat); return counts."""
    started = finished = 0
    today = _local(now).date()
    campaigns = Campaign.objects.filter(
        status__in=(CampaignStatus.SCHEDULED, CampaignStatus.RUNNING), kind__in=SCHEDULED_KINDS
    ).order_by("pk")
    for campaign in campaigns:
        # Before finishing a campaign past its last day: that day itself may be owed still (beat was down).
        started += len(campaign_runs_due(campaign=campaign, now=now))
        past_its_end = campaign.ends_on and today > campaign.ends_on
        if past_its_end and not CampaignRun.objects.filter(campaign=campaign, status__in=OPEN_RUN_STATUSES).exists():
            finished += Campaign.objects.filter(pk=campaign.pk, status=campaign.status).update(
                status=CampaignStatus.FINISHED
            )
    return {"started": started, "finished": finished}


# -- lifecycle -------------------------------------------------------------------------------------------------
def _locked_for(*, campaign_id: int, user, allowed: set[str]) -> Campaign:
    campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound()
    campaign_check_scope(campaign=campaign, user=user, permission=LAUNCH_PERMISSION)
    if campaign.status not in allowed:
        raise CampaignStatusInvalid(
            _("A campaign that is %(status)s cannot do this.") % {"status": campaign.get_status_display()}
        )
    return campaign


def _set_status(campaign: Campaign, status: str) -> Campaign:
    campaign.status = status
    # A saved change: the history records who did it.
    campaign.save(update_fields=["status", "live_since", "updated_at"])
    return campaign


@transaction.atomic
def campaign_launch(*, campaign_id: int, user, now: datetime.datetime) -> Campaign:
    """Launch a draft: scheduled (a scheduled kind; a run due now starts at once) or running (an event kind).

    Raises NotFound, CampaignPermissionDenied, CampaignStatusInvalid, CampaignInvalid (its settings).
    """
    campaign = _locked_for(campaign_id=campaign_id, user=user, allowed={CampaignStatus.DRAFT})
    errors = campaign_errors(campaign=campaign)
    if errors:
        raise CampaignInvalid.for_field_errors(errors)
    if campaign.ends_on and campaign.ends_on < _local(now).date():
        raise CampaignInvalid.for_field("ends_on", _("The campaign's last day has passed."))
    if hasattr(user, "pk"):
        campaign._history_user = user
    campaign.live_since = now
    _set_status(campaign, CampaignStatus.RUNNING if campaign.kind in EVENT_KINDS else CampaignStatus.SCHEDULED)
    campaign_runs_due(campaign=campaign, now=now)
    campaign.refresh_from_db()
    return campaign


@transaction.atomic
def campaign_pause(*, campaign_id: int, user, now: datetime.datetime) -> Campaign:
    """Pause a scheduled or running campaign: its queued chunks deliver nothing until it is resumed.

    Raises NotFound, CampaignPermissionDenied, CampaignStatusInvalid.
    """
    campaign = _locked_for(
        campaign_id=campaign_id, user=user, allowed={CampaignStatus.SCHEDULED, CampaignStatus.RUNNING}
    )
    if hasattr(user, "pk"):
        campaign._history_user = user
    return _set_status(campaign, CampaignStatus.PAUSED)


@transaction.atomic
def campaign_resume(*, campaign_id: int, user, now: datetime.datetime) -> Campaign:
    """Resume a paused campaign: the open runs' chunks go again (members reached get nothing twice) and the
    messages that waited in the outbox are due at once.

    Raises NotFound, CampaignPermissionDenied, CampaignStatusInvalid.
    """
    campaign = _locked_for(campaign_id=campaign_id, user=user, allowed={CampaignStatus.PAUSED})
    started = campaign.kind in EVENT_KINDS or campaign.runs.exists()
    if hasattr(user, "pk"):
        campaign._history_user = user
    campaign.live_since = now
    _set_status(campaign, CampaignStatus.RUNNING if started else CampaignStatus.SCHEDULED)
    outbox_release_paused(campaign_id=campaign.pk, now=now)
    for run_id in campaign.runs.filter(status__in=OPEN_RUN_STATUSES).values_list("pk", flat=True):
        campaign_run_resume(run_id=run_id, now=now)
    campaign_runs_due(campaign=campaign, now=now)
    campaign.refresh_from_db()
    return campaign


@transaction.atomic
def campaign_finish(*, campaign_id: int, user, now: datetime.datetime) -> Campaign:
    """End a campaign for good: nothing more is delivered, also of the messages waiting in the outbox (the sender
    skips them); a run it stopped half-way is marked failed.

    Raises NotFound, CampaignPermissionDenied, CampaignStatusInvalid.
    """
    campaign = _locked_for(
        campaign_id=campaign_id,
        user=user,
        allowed={CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.PAUSED},
    )
    if hasattr(user, "pk"):
        campaign._history_user = user
    _set_status(campaign, CampaignStatus.FINISHED)
    CampaignRun.objects.filter(campaign=campaign, status__in=OPEN_RUN_STATUSES).filter(
        Q(chunks_done__lt=F("chunks_total")) | Q(status=RunStatus.PREPARING)
    ).update(status=RunStatus.FAILED, finished_at=now)
    return campaign
