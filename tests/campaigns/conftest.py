"""Fixtures of the campaigns tests: the channels' fake providers (tests/campaigns/channel_fakes.py)."""

from tests.campaigns.channel_fakes import (  # noqa: F401 (fixtures)
    fake_sms,
    fake_smtp,
    fake_webhook_receiver,
    fake_wechat_messages,
    no_breakers,
)
