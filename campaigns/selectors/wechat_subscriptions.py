"""The member's WeChat subscribe-message subscriptions (what they accepted and what is left of it)."""

from django.db.models import QuerySet

from campaigns.models import WechatSubscription


def wechat_subscriptions_of_member(*, member_id: int) -> QuerySet:
    """The member's subscriptions, by template id."""
    return WechatSubscription.objects.filter(member_id=member_id).order_by("template_id")
