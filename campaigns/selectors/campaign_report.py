"""The report of a campaign (or of one of its runs): who it reached, through which channels, what it gave, and
whether it worked: purchases and sales of the members it reached against those it held out, with the lift.

The comparison is by assignment (intention to treat): "treated" is every recipient row not held out, whatever
happened next (delivered, capped, out of budget, no consent), because the hold-out is drawn at random from the
same audience before any of that; comparing only the delivered members with the held-out ones would compare a
chosen group with a random one. What was actually delivered is reported beside it.

Outcomes are measured per recipient row in the `lift_days` days after its `created_at` (the moment of delivery,
or of the decision to hold out) and before `now`: purchases not fully refunded, their spend as segments and the
tier review count it (paid plus stored value). One aggregate query per group, a correlated subquery per row on
the purchases' (member, purchased_at) index. A member who is a recipient on several occasions (a recurring
campaign) counts once per occasion.
"""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import (
    CharField,
    Count,
    DateTimeField,
    DecimalField,
    ExpressionWrapper,
    F,
    FloatField,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Concat

from campaigns.errors import CampaignPermissionDenied
from campaigns.lift import stats
from campaigns.models import Campaign, CampaignRecipient, CampaignRun
from campaigns.selectors.scope import campaign_check_scope
from campaigns.selectors.segments import jit_off
from coupons.models import Coupon
from infra.errors import NotFound
from members.models import OutboxMessage, Purchase
from points.models import MultiplierWindow

INBOX = "inbox"
_MONEY = DecimalField(max_digits=16, decimal_places=2)
_NO_LIMIT = 2**62  # a LIMIT no group reaches: an optimisation fence (see _group_outcome)


@dataclass(frozen=True)
class GroupOutcome:
    members: int  # recipient rows
    buyers: int  # rows with at least one purchase in their window
    purchases: int
    sales: Decimal
    sales_of_squares: float  # sum over rows of (sales of the row) squared, for the variance

    @property
    def conversion_rate(self) -> float | None:
        return self.buyers / self.members if self.members else None

    @property
    def sales_per_member(self) -> Decimal | None:
        return (self.sales / self.members).quantize(Decimal("0.01")) if self.members else None


@dataclass(frozen=True)
class DeliveryCount:
    channel: str  # INBOX or an OutboxMessage.Channel
    status: str  # "delivered" for the inbox, else an OutboxMessage.Status
    count: int


@dataclass(frozen=True)
class CampaignReport:
    campaign: Campaign
    run: CampaignRun | None
    now: datetime.datetime
    lift_days: int
    audience: int  # recipient rows, held out included
    held_out: int
    treated: int
    by_status: dict[str, int]  # CampaignRecipient.Status: rows
    deliveries: list[DeliveryCount]
    coupons_issued: int
    coupons_redeemed: int
    points_granted: int
    multiplier_windows: int  # points multiplier windows granted to the recipients
    treated_outcome: GroupOutcome
    control_outcome: GroupOutcome
    conversion: stats.ProportionLift
    sales: stats.MeanLift
    sample_ratio: stats.SampleRatio
    first_at: datetime.datetime | None  # the first and last recipient rows
    last_at: datetime.datetime | None
    runs: list[CampaignRun] = field(default_factory=list)

    @property
    def is_measuring(self) -> bool:
        """Whether some recipients' windows are still open at `now` (the figures may still move)."""
        return self.last_at is not None and self.last_at + datetime.timedelta(days=self.lift_days) > self.now


VIEW_PERMISSION = "campaigns.view_campaign"


def campaign_report_allowed(*, campaign: Campaign, user) -> bool:
    """Return whether `user` may read the campaign's report: the view permission and the campaign in their store
    scope (a store's staff see their store's campaigns only; head office, all)."""
    try:
        campaign_check_scope(campaign=campaign, user=user, permission=VIEW_PERMISSION)
    except CampaignPermissionDenied:
        return False
    return True


def _group_outcome(recipients: QuerySet, *, lift_days: int, now: datetime.datetime) -> GroupOutcome:
    """Return the outcome of a group of recipient rows in one aggregate query."""
    window_end = ExpressionWrapper(
        OuterRef("created_at") + datetime.timedelta(days=lift_days), output_field=DateTimeField()
    )
    window = (
        Purchase.objects.filter(
            member_id=OuterRef("member_id"), purchased_at__gt=OuterRef("created_at"), purchased_at__lte=window_end
        )
        .filter(purchased_at__lte=now)
        .exclude(status=Purchase.Status.REFUNDED)
        .order_by()
        .values("member_id")
    )
    counted = window.annotate(n=Count("pk")).values("n")
    spent = window.annotate(total=Sum(F("paid_amount") + F("stored_value_amount"), output_field=_MONEY)).values("total")
    # Bare subqueries (NULL for a row without purchases: the grouped subquery has no row), computed in an inner
    # query and aggregated outside. The slice puts a LIMIT on the inner query, which stops PostgreSQL from pulling
    # it up into the outer one: pulled up, each subquery is repeated in every aggregate that uses it (five index
    # scans per row instead of two, measured by bench/campaign_report.py).
    rows = recipients.order_by().annotate(
        row_purchases=Subquery(counted, output_field=IntegerField()),
        row_sales=Subquery(spent, output_field=_MONEY),
    )[:_NO_LIMIT]
    # Squares in floating point: the variance is a float anyway, and no decimal column overflows.
    sales_float = Cast("row_sales", FloatField())
    with jit_off():
        totals = rows.aggregate(
            members=Count("pk"),
            buyers=Count("row_purchases"),
            purchases=Coalesce(Sum("row_purchases"), 0),
            sales=Coalesce(Sum("row_sales"), Value(Decimal("0.00")), output_field=_MONEY),
            sales_of_squares=Coalesce(Sum(sales_float * sales_float), Value(0.0), output_field=FloatField()),
        )
    return GroupOutcome(
        members=totals["members"],
        buyers=totals["buyers"],
        purchases=totals["purchases"],
        sales=Decimal(totals["sales"]).quantize(Decimal("0.01")),
        sales_of_squares=float(totals["sales_of_squares"]),
    )


def _deliveries(recipients: QuerySet) -> list[DeliveryCount]:
    """Return the inbox messages written and the outbox messages of the recipients' notifications by status."""
    notified = recipients.filter(notification__isnull=False)
    rows = [DeliveryCount(INBOX, "delivered", notified.count())]
    outbox = (
        OutboxMessage.objects.filter(notification__in=notified.values("notification_id"))
        .values("channel", "status")
        .annotate(n=Count("pk"))
        .order_by("channel", "status")
    )
    rows.extend(DeliveryCount(row["channel"], row["status"], row["n"]) for row in outbox)
    return rows


def campaign_report(
    *, campaign: Campaign, now: datetime.datetime, run_id: int | None = None, user=None
) -> CampaignReport:
    """Return the report of `campaign` (of its run `run_id` when given) at `now`.

    Raises CampaignPermissionDenied when `user` is given and may not read it (campaign_report_allowed), NotFound
    when the run is not the campaign's.
    """
    campaign_check_scope(campaign=campaign, user=user, permission=VIEW_PERMISSION)
    recipients = CampaignRecipient.objects.filter(campaign=campaign)
    run = None
    if run_id is not None:
        run = CampaignRun.objects.filter(campaign=campaign, pk=run_id).first()
        if run is None:
            raise NotFound()
        recipients = recipients.filter(run=run)

    by_status = dict(recipients.order_by().values("status").annotate(n=Count("pk")).values_list("status", "n"))
    totals = recipients.aggregate(
        audience=Count("pk"),
        held_out=Count("pk", filter=Q(held_out=True)),
        coupons_issued=Count("coupon_id"),
        coupons_redeemed=Count("pk", filter=Q(coupon__status=Coupon.Status.REDEEMED)),
        points_granted=Coalesce(Sum("points_granted"), 0),
        first_at=Min("created_at"),
        last_at=Max("created_at"),
    )
    # The engine grants a window under the key campaign:<recipient id> (points does not know campaigns).
    window_keys = recipients.annotate(window_key=Concat(Value("campaign:"), Cast("pk", CharField()))).values(
        "window_key"
    )
    multiplier_windows = (
        MultiplierWindow.objects.filter(key__in=window_keys).count() if campaign.multiplier is not None else 0
    )

    lift_days = campaign.lift_days
    treated = _group_outcome(recipients.filter(held_out=False), lift_days=lift_days, now=now)
    control = _group_outcome(recipients.filter(held_out=True), lift_days=lift_days, now=now)
    return CampaignReport(
        campaign=campaign,
        run=run,
        now=now,
        lift_days=lift_days,
        audience=totals["audience"],
        held_out=totals["held_out"],
        treated=totals["audience"] - totals["held_out"],
        by_status=by_status,
        deliveries=_deliveries(recipients),
        coupons_issued=totals["coupons_issued"],
        coupons_redeemed=totals["coupons_redeemed"],
        points_granted=totals["points_granted"],
        multiplier_windows=multiplier_windows,
        treated_outcome=treated,
        control_outcome=control,
        conversion=stats.proportion_lift(
            treated_n=treated.members,
            treated_successes=treated.buyers,
            control_n=control.members,
            control_successes=control.buyers,
        ),
        sales=stats.mean_lift(
            treated_n=treated.members,
            treated_total=float(treated.sales),
            treated_total_of_squares=treated.sales_of_squares,
            control_n=control.members,
            control_total=float(control.sales),
            control_total_of_squares=control.sales_of_squares,
        ),
        sample_ratio=stats.sample_ratio_check(
            treated_n=treated.members, control_n=control.members, holdout_percent=campaign.holdout_percent
        ),
        first_at=totals["first_at"],
        last_at=totals["last_at"],
        runs=list(CampaignRun.objects.filter(campaign=campaign).order_by("-id")[:50]),
    )
