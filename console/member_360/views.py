"""The member page (Member 360) and its actions: thin views over members', coupons' and points' services.

Who may open what:
- the page needs `members.view_member` and the member in the staff member's store scope (a clerk of store A does not
  open a member of store B here; the header's exact search still finds them, on the brand-wide member form);
- each section shows only to staff who may view its list (points ledger, stored value, coupons, purchases, refunds,
  reward orders, messages, tier history);
- each action needs its own permission (ACTIONS) and the same scope, and is one service call: the ledgers keep who
  and why for points and stored value, TierHistory for an override, the member's history for tags, freezing and
  anonymisation, Django's admin log for an export.
"""

import json
from dataclasses import dataclass

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpResponse, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from console.member_360 import forms as action_forms
from console.selectors import member_360 as selectors
from coupons.models import Coupon
from coupons.services import coupon_template_issue_to_member
from infra.csv_exports import EXCEL_BOM, ExportWriter
from infra.errors import LoyaltyError
from members.console import staff_store_id
from members.formats import is_ascii_digits
from members.models import Member
from members.selectors.tiers import money_display
from members.services.ledger import points_adjust
from members.services.member_actions import member_anonymise, member_freeze, member_tags_set, member_unfreeze
from members.services.stored_value import stored_value_adjust
from members.services.tiers import tier_override_set

VIEW_PERMISSION = "members.view_member"
EXPORT_PERMISSION = "members.export_member_data"
AUDIT_LOG_PERMISSION = "console.view_audit_log"
# Sections and the permission that shows each (the permission of the section's own list in the console).
SECTION_PERMISSIONS = {
    "points": "members.view_pointsentry",
    "stored_value": "members.view_storedvalueentry",
    "tier_history": "members.view_tierhistory",
    "coupons": "coupons.view_coupon",
    "purchases": "members.view_purchase",
    "refunds": "points.view_purchaserefund",
    "reward_orders": "points.view_rewardorder",
    "messages": "members.view_notification",
}


def _member_admin():
    return admin.site._registry[Member]


def member_in_scope(request, member) -> bool:
    return _member_admin().is_in_store_scope(request, member)


def _member_or_refuse(request, member_id, *, permission=VIEW_PERMISSION):
    """The member, when this staff member holds the permission and the member is in their store scope; else 403."""
    if not request.user.has_perm(VIEW_PERMISSION) or not request.user.has_perm(permission):
        raise PermissionDenied
    member = selectors.member_360_get(member_id=member_id)
    if member is None:
        raise Http404
    if not member_in_scope(request, member):
        raise PermissionDenied
    return member


# Django admin's name for the list filters a page carries (a change form keeps them for its way back to the list).
LIST_FILTERS = "_changelist_filters"


def _list_filters(request) -> str:
    """The member list's filters the page was opened with, as the list's query string ("" without any)."""
    return QueryDict(request.GET.get(LIST_FILTERS, "")).urlencode()


def _with_list_filters(url: str, filters: str) -> str:
    return f"{url}?{QueryDict.fromkeys([LIST_FILTERS], filters).urlencode()}" if filters else url


def _list_url(request) -> str:
    """The member list with the filters this page was opened from (the page's "back to the list" link).

    The header's trail is Unfold's own (the app, the member list, the member: context `opts` and `original`); its links
    do not carry a list's filters, so the page body leads back to the filtered list itself."""
    filters = _list_filters(request)
    return reverse("admin:members_member_changelist") + (f"?{filters}" if filters else "")


def _page_number(request, name):
    value = request.GET.get(name, "")
    return int(value) if is_ascii_digits(value) and len(value) <= 6 and int(value) > 0 else 1


def member_360(request, member_id, *, site):
    """One page per member: profile, card, tier, points, lots, stored value, holds, coupons, sales, orders, messages."""
    member = _member_or_refuse(request, member_id)
    now = timezone.now()
    user = request.user
    show = {name: user.has_perm(permission) for name, permission in SECTION_PERMISSIONS.items()}
    filters = _list_filters(request)
    context = {
        **site.each_context(request),
        "title": str(member),
        "subtitle": _("Member 360"),
        "opts": Member._meta,
        "original": member,  # Unfold's header trail: Members › members › this member
        "list_url": _list_url(request),
        "member": member,
        "show": show,
        "anonymisation": selectors.member_anonymisation(member=member),
        "tags": selectors.member_tags(member=member),
        "card": selectors.member_card(member=member, now=now),
        "tier": selectors.member_tier(member=member, now=now),
        "stored_value": selectors.member_stored_value_summary(member=member),
        "actions": [
            {"key": key, "title": action.title, "url": _with_list_filters(_action_url(member, key), filters)}
            for key, action in ACTIONS.items()
            if user.has_perm(action.permission) and action.applies(member)
        ],
        "may_export": user.has_perm(EXPORT_PERMISSION),
        "change_url": _with_list_filters(reverse("admin:members_member_change", args=[member.pk]), filters),
        "audit_url": _audit_url(member) if user.has_perm(AUDIT_LOG_PERMISSION) else None,
    }
    tier = context["tier"]
    if tier.progress_percent is not None:
        context["tier_progress"] = max(1, tier.progress_percent)  # a sliver, so that the bar is seen
        context["tier_progress_label"] = f"{tier.score} / {tier.next_tier.min_score_to_reach}"
    if show["tier_history"]:
        context["tier_history"] = selectors.member_tier_history(member_id=member.pk)
    if show["points"]:
        context["entries"] = selectors.member_points_entries(
            member_id=member.pk, page=_page_number(request, "points_page")
        )
        context["expiry"] = selectors.member_points_expiry(member_id=member.pk, now=now)
        context["holds"] = selectors.member_active_holds(member_id=member.pk)
    if show["stored_value"]:
        context["stored_value_entries"] = selectors.member_stored_value_entries(member_id=member.pk)
    if show["coupons"]:
        context["coupons"] = selectors.member_coupons(member_id=member.pk)
    if show["purchases"]:
        context["purchases"] = selectors.member_purchases(
            member_id=member.pk, page=_page_number(request, "purchases_page")
        )
    if show["reward_orders"]:
        context["reward_orders"] = selectors.member_reward_orders(member_id=member.pk)
    if show["messages"]:
        context["messages_received"] = selectors.member_messages(member_id=member.pk)
    request.current_app = site.name
    return TemplateResponse(request, "console/member_360.html", context)


def _action_url(member, key):
    return reverse("admin:console_member_360_action", args=[member.pk, key])


def _audit_url(member):
    """The audit log (console/audit_views.py) filtered to this member's changes."""
    return reverse("admin:console_audit_log") + f"?member={member.pk}"


# -- actions ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Action:
    title: str
    permission: str
    form: type
    run: object  # (request, member, cleaned_data, now) -> success message
    applies: object = lambda member: True  # noqa: E731
    template: str = "console/member_360_action.html"


def _adjust_points(request, member, data, now):
    entry = points_adjust(
        member_id=member.pk, points=data["points"], reason=data["reason"], created_by=request.user, now=now,
        idempotency_key=f"console:adjust:{data['idempotency_key']}",
    )  # fmt: skip
    return _("Points adjusted by %(delta)+d for %(member)s; the balance is now %(balance)d.") % {
        "delta": entry.delta, "member": member, "balance": entry.balance_after,
    }  # fmt: skip


def _adjust_stored_value(request, member, data, now):
    entry = stored_value_adjust(
        member_id=member.pk, amount=data["amount"], reason=data["reason"], created_by=request.user, now=now,
        idempotency_key=f"console:stored_value_adjust:{data['idempotency_key']}",
    )  # fmt: skip
    return _("Stored value adjusted by %(amount)s for %(member)s; the balance is now %(balance)s.") % {
        "amount": f"{entry.amount:+}", "member": member, "balance": money_display(entry.balance_after, places=2),
    }  # fmt: skip


def _issue_coupon(request, member, data, now):
    coupon = coupon_template_issue_to_member(
        template_id=data["template"].pk, member_id=member.pk, source=Coupon.Source.MANUAL, now=now,
        issued_by_id=request.user.pk, issue_key=f"console:member:{data['idempotency_key']}",
    )  # fmt: skip
    return _("Coupon %(code)s issued to %(member)s.") % {"code": coupon.code, "member": member}


def _set_tags(request, member, data, now):
    added, removed = member_tags_set(member_id=member.pk, tag_ids=[tag.pk for tag in data["tags"]],
                                     changed_by=request.user, now=now)  # fmt: skip
    if not added and not removed:
        return _("The tags were not changed.")
    return _("Tags of %(member)s changed.") % {"member": member}


def _override_tier(request, member, data, now):
    tier_override_set(member_id=member.pk, tier_id=data["tier"].pk, until=data["until"], reason=data["reason"],
                      created_by=request.user, now=now)  # fmt: skip
    until = timezone.localtime(data["until"]).strftime("%Y-%m-%d %H:%M")
    return _("%(member)s is in tier %(tier)s until %(until)s.") % {
        "member": member, "tier": data["tier"].name, "until": until,
    }  # fmt: skip


def _freeze(request, member, data, now):
    member_freeze(member_id=member.pk, reason=data["reason"], frozen_by=request.user, now=now)
    return _("%(member)s is frozen.") % {"member": member}


def _unfreeze(request, member, data, now):
    member_unfreeze(member_id=member.pk, reason=data["reason"], unfrozen_by=request.user, now=now)
    return _("%(member)s is active again.") % {"member": member}


def _anonymise(request, member, data, now):
    record = member_anonymise(member_id=member.pk, reason=data["reason"], requested_by=request.user, now=now)
    return _("The member's personal data was erased; their accounts remain as %(pseudonym)s.") % {
        "pseudonym": record.pseudonym
    }


def _not_anonymised(member):
    return selectors.member_anonymisation(member=member) is None


ACTIONS = {
    "points": Action(gettext_lazy("Adjust points"), "members.adjust_points", action_forms.AdjustPointsForm,
                     _adjust_points),
    "stored-value": Action(gettext_lazy("Adjust stored value"), "members.adjust_stored_value",
                           action_forms.AdjustStoredValueForm, _adjust_stored_value),
    "coupon": Action(gettext_lazy("Issue a coupon"), "members.issue_member_coupon", action_forms.IssueCouponForm,
                     _issue_coupon, applies=lambda member: member.status == Member.Status.ACTIVE),
    "tags": Action(gettext_lazy("Change tags"), "members.tag_member", action_forms.TagsForm, _set_tags),
    "tier": Action(gettext_lazy("Set the tier by hand"), "members.override_tier", action_forms.TierOverrideForm,
                   _override_tier),
    "freeze": Action(gettext_lazy("Freeze"), "members.freeze_member", action_forms.StatusReasonForm, _freeze,
                     applies=lambda member: member.status == Member.Status.ACTIVE),
    "unfreeze": Action(gettext_lazy("Unfreeze"), "members.freeze_member", action_forms.StatusReasonForm, _unfreeze,
                       applies=lambda member: member.status == Member.Status.FROZEN),
    "anonymise": Action(gettext_lazy("Anonymise (PDPO request)"), "members.anonymise_member",
                        action_forms.AnonymiseForm, _anonymise, applies=_not_anonymised),
}  # fmt: skip


def _form(action_key, request, member, data=None):
    form_class = ACTIONS[action_key].form
    kwargs = {}
    if action_key == "coupon":
        kwargs["store_id"] = staff_store_id(request.user)
    if action_key == "anonymise":
        kwargs["member"] = member
    if data is not None:
        return form_class(data, **kwargs)
    initial = {}
    if "idempotency_key" in form_class.base_fields:
        initial["idempotency_key"] = action_forms.new_key()
    if action_key == "tags":
        initial["tags"] = [tag.pk for tag in selectors.member_tags(member=member)]
    return form_class(initial=initial, **kwargs)


def member_360_action(request, member_id, action, *, site):
    """GET: the action's form; POST: one service call, then back to the member page with what happened."""
    if action not in ACTIONS:
        raise Http404
    spec = ACTIONS[action]
    member = _member_or_refuse(request, member_id, permission=spec.permission)
    page_url = _with_list_filters(reverse("admin:console_member_360", args=[member.pk]), _list_filters(request))
    form = _form(action, request, member, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            message = spec.run(request, member, form.cleaned_data, timezone.now())
        except LoyaltyError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, message)
            return HttpResponseRedirect(page_url)
    context = {
        **site.each_context(request),
        "title": spec.title,
        "subtitle": str(member),
        "opts": Member._meta,
        "original": member,
        "list_url": _list_url(request),
        "member": member,
        "action": action,
        "form": form,
        "page_url": page_url,
    }
    request.current_app = site.name
    return TemplateResponse(request, spec.template, context)


# -- the data access request (PDPO) --------------------------------------------------------------------------------
def member_360_export(request, member_id, fmt, *, site):
    """The member's data as JSON or CSV (section, row, field, value); the export is logged in the admin log."""
    if fmt not in ("json", "csv"):
        raise Http404
    member = _member_or_refuse(request, member_id, permission=EXPORT_PERMISSION)
    data = selectors.member_data_export(member=member)
    _member_admin().log_change(request, member, _("Exported the member's data (%(format)s)") % {"format": fmt.upper()})
    filename = f"member-{member.member_number}.{fmt}"
    if fmt == "json":
        response = HttpResponse(
            json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=1),
            content_type="application/json; charset=utf-8",
        )
    else:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response.write(EXCEL_BOM)
        writer = ExportWriter(response)
        writer.writerow(["section", "row", "field", "value"])
        for section, rows in data.items():
            for number, row in enumerate(rows, start=1):
                for field, value in row.items():
                    writer.writerow([section, number, field, "" if value is None else value])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
