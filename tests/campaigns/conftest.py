"""Fixtures of the campaigns tests: the channels' fake providers (tests/campaigns/channel_fakes.py), and beat."""

import pytest

from tests.campaigns.channel_fakes import (  # noqa: F401 (fixtures)
    fake_sms,
    fake_smtp,
    fake_webhook_receiver,
    fake_wechat_messages,
    no_breakers,
)


@pytest.fixture
def run_beat(django_capture_on_commit_callbacks):
    """Run the due campaigns at `now` (chunks eager, after commit), then the runs' check, as beat does."""
    from campaigns.services.campaign_runs import campaign_runs_check, campaigns_run_due

    def run(now):
        with django_capture_on_commit_callbacks(execute=True):
            result = campaigns_run_due(now=now)
        campaign_runs_check(now=now)
        return result

    return run
