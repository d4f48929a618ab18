"""WeChat subscribe messages: what the member accepted, and the one send each one-time acceptance allows.

The mini program calls wx.requestSubscribeMessage and reports its answer ({template id: "accept" | "reject" |
"ban" | "filter"}). An acceptance allows exactly one send of that template (`available` = 1; accepting again
before it is used adds nothing: WeChat may count more, we never rely on it); a refusal withdraws what was left.
The sender takes the send by a conditional UPDATE before calling WeChat and gives it back when WeChat could not
be reached; WeChat's errcode 43101 ("the user refused") sets it to 0 for good.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from campaigns.models import MessageTemplate, WechatSubscription
from campaigns.selectors.wechat_subscriptions import wechat_subscriptions_of_member
from infra.errors import InvalidInput
from members.models import OutboxMessage

ACCEPTED = "accept"
REFUSED = frozenset({"reject", "ban", "filter"})
MAX_TEMPLATES_PER_REPORT = 20


def known_template_ids() -> set[str]:
    return set(
        MessageTemplate.objects.filter(channel=OutboxMessage.Channel.WECHAT_SUBSCRIBE)
        .exclude(wechat_template_id="")
        .values_list("wechat_template_id", flat=True)
    )


@transaction.atomic
def wechat_subscriptions_report(*, member_id: int, results: dict, now: datetime) -> list[WechatSubscription]:
    """Record the mini program's answer to a subscription request; return the member's subscriptions.

    Raises InvalidInput (an empty or too long report, an unknown template id, an unknown answer).
    """
    if not isinstance(results, dict) or not results or len(results) > MAX_TEMPLATES_PER_REPORT:
        raise InvalidInput.for_field("results", _("Give 1 to %(max)d templates.") % {"max": MAX_TEMPLATES_PER_REPORT})
    known = known_template_ids()
    errors = {}
    for template_id, answer in results.items():
        if template_id not in known:
            errors[template_id] = [_("Unknown template.")]
        elif answer != ACCEPTED and answer not in REFUSED:
            errors[template_id] = [_("Answer accept, reject, ban or filter.")]
    if errors:
        raise InvalidInput.for_field_errors({"results": [errors]})
    for template_id, answer in sorted(results.items()):
        subscription, _created = WechatSubscription.objects.select_for_update().get_or_create(
            member_id=member_id, template_id=template_id
        )
        if answer == ACCEPTED:
            subscription.available, subscription.accepted_at = 1, now
        else:
            subscription.available, subscription.refused_at = 0, now
        subscription.save()
    return list(wechat_subscriptions_of_member(member_id=member_id))


def wechat_subscription_take(*, member_id: int, template_id: str, now: datetime) -> bool:
    """Take the one send of the member's subscription to `template_id`; False when there is none."""
    return bool(
        WechatSubscription.objects.filter(member_id=member_id, template_id=template_id, available=1).update(
            available=F("available") - 1, used_at=now
        )
    )


def wechat_subscription_give_back(*, member_id: int, template_id: str) -> None:
    """Return a send taken for a message WeChat never received (it could not be reached)."""
    WechatSubscription.objects.filter(member_id=member_id, template_id=template_id, available=0).update(available=1)


def wechat_subscription_refused(*, member_id: int, template_id: str, now: datetime) -> None:
    """WeChat answered 43101: nothing is left of this subscription."""
    WechatSubscription.objects.filter(member_id=member_id, template_id=template_id).update(available=0, refused_at=now)
