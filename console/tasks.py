from celery import shared_task
from django.utils import timezone

from console.services.figures import daily_figures_refresh


@shared_task(name="console.refresh_daily_figures")
def refresh_daily_figures() -> str:
    """Store the dashboard's figures of the closed days (idempotent: a rerun writes the same rows)."""
    refreshed = daily_figures_refresh(now=timezone.now())
    return "nothing to count" if refreshed is None else f"{refreshed[0]}..{refreshed[1]}"
