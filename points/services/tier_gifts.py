"""The monthly tier gift: once per calendar month, each active member of a tier gets the tier's points
and/or coupon.

The daily job grants a month the first time it runs in that month (so a day of downtime on the 1st only
delays the gift); TierGiftRun's unique (tier, month) makes a second run, or two workers at once, grant
nothing twice. The members are reached through the existing bulk jobs, which are chunked, resumable and
idempotent per member. Members who enter a tier after its run wait for the next month's.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from coupons.models import CouponIssueJob
from coupons.services.bulk import coupon_issue_job_create
from infra.errors import LoyaltyError
from infra.translation import in_language, languages, translations_of
from points.models import PointsGrantJob, TierGiftRun, TierMonthlyGift
from points.services.grants import points_grant_job_enqueue

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GiftRunResult:
    started: list[TierGiftRun] = field(default_factory=list)
    already_granted: int = 0


def tier_monthly_gifts_grant(*, now: datetime) -> GiftRunResult:
    """Start this month's gift of every active tier gift not yet granted this month."""
    month = timezone.localdate(now).replace(day=1)
    started, already = [], 0
    for gift in TierMonthlyGift.objects.filter(is_active=True).select_related("tier").order_by("tier__rank"):
        run = _tier_gift_run(gift=gift, month=month, now=now)
        if run is None:
            already += 1
        else:
            started.append(run)
    return GiftRunResult(started=started, already_granted=already)


def _gift_reason(*, gift: TierMonthlyGift, month) -> dict[str, str]:
    """The gift's reason in every language, the tier's name in that language: kept on every member's ledger entry,
    which each reader then sees in their own language (the job runs in none)."""
    names = translations_of(gift.tier, "name")
    texts = {}
    for language in languages():
        with translation.override(language):
            texts[language] = _("Monthly gift %(month)s: %(tier)s") % {
                "month": f"{month:%Y-%m}",
                "tier": in_language(names, language),
            }
    return texts


def _tier_gift_run(*, gift: TierMonthlyGift, month, now: datetime) -> TierGiftRun | None:
    try:
        with transaction.atomic():
            run = TierGiftRun.objects.create(tier=gift.tier, month=month, points=gift.points, created_at=now)
            reason = _gift_reason(gift=gift, month=month)
            if gift.points:
                run.points_job = points_grant_job_enqueue(
                    points=gift.points,
                    reason=reason,
                    now=now,
                    audience=PointsGrantJob.Audience.TIER,
                    tier_id=gift.tier_id,
                )
            if gift.coupon_template_id:
                try:
                    with transaction.atomic():
                        run.coupon_job = coupon_issue_job_create(
                            template_id=gift.coupon_template_id,
                            audience=CouponIssueJob.Audience.TIER,
                            tier_id=gift.tier_id,
                            now=now,
                        )
                except LoyaltyError as error:  # e.g. the coupon template was switched off: points still go out
                    run.message = f"{error.code}: {error.message}"[:255]
                    logger.warning("monthly gift of tier %s: coupon not issued (%s)", gift.tier_id, error.code)
            run.save(update_fields=["points_job", "coupon_job", "message"])
            return run
    except IntegrityError:  # this month was already granted (or is being granted by another worker)
        return None
