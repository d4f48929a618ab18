"""Campaigns: segments (saved rules over members and their frozen memberships), campaigns and channels.

One module per concept; see each module's docstring for its invariants.
"""

from .campaigns import Campaign, CampaignRecipient, CampaignRun
from .channels import Category, ConsentRecord, DeliveryAttempt, MessageTemplate, WechatSubscription
from .segments import Segment, SegmentFreeze, SegmentMember
from .webhooks import WebhookDelivery, WebhookEndpoint, WebhookEvent

__all__ = [
    "Campaign",
    "CampaignRecipient",
    "CampaignRun",
    "Category",
    "ConsentRecord",
    "DeliveryAttempt",
    "MessageTemplate",
    "Segment",
    "SegmentFreeze",
    "SegmentMember",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "WechatSubscription",
]
