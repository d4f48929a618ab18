"""Celery tasks of the coupons app: thin, idempotent wrappers around the scheduled services."""

from celery import shared_task
from django.utils import timezone

from coupons.services import coupons_expire, coupons_release_stale_reservations


@shared_task(acks_late=True)
def coupons_expire_task() -> int:
    """Expire available coupons past their end (safe to run twice)."""
    return coupons_expire(now=timezone.now())


@shared_task(acks_late=True)
def coupons_release_stale_reservations_task() -> int:
    """Give back reservations whose time is up (safe to run twice)."""
    return coupons_release_stale_reservations(now=timezone.now())
