"""The console's own pages: the dashboard (its home) and the header's member search."""

import json

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from console.selectors import dashboard_figures
from console.selectors.figures import PERIODS
from members.console import member_exact_lookup_q, staff_store_id, visitors_admit
from members.formats import is_ascii_digits
from members.models import Member, Store

DASHBOARD_PERMISSION = "console.view_dashboard"
DEFAULT_PERIOD = 30
KPI_TITLES = {
    "members": gettext_lazy("Members"),
    "new_members": gettext_lazy("New members"),
    "active_members": gettext_lazy("Active members"),
    "repurchase_rate": gettext_lazy("Repurchase rate"),
    "average_spend": gettext_lazy("Average spend per member"),
    "points_outstanding": gettext_lazy("Points outstanding"),
    "points_liability": gettext_lazy("Points liability"),
    "coupon_redemption_rate": gettext_lazy("Coupon redemption rate"),
    "stored_value_outstanding": gettext_lazy("Stored value outstanding"),
}
KPI_HELP = {
    "members": gettext_lazy("Members who have joined, against the count at the start of the period."),
    "new_members": gettext_lazy("Members who joined in the period."),
    "active_members": gettext_lazy("Members who purchased in the period."),
    "repurchase_rate": gettext_lazy("Members with two or more purchases in the period, of the members who purchased."),
    "average_spend": gettext_lazy("Sales (gross) in the period per member who purchased."),
    "points_outstanding": gettext_lazy("Points members hold now, against the balance at the start of the period."),
    "points_liability": gettext_lazy("Points outstanding at the points policy's point value."),
    "coupon_redemption_rate": gettext_lazy("Coupons redeemed in the period, of the coupons issued in the period."),
    "stored_value_outstanding": gettext_lazy("Stored value members hold and may still spend."),
}
SERIES_NAMES = {
    "purchases": gettext_lazy("Purchases"),
    "sales": gettext_lazy("Sales"),
    "issued": gettext_lazy("Issued"),
    "redeemed": gettext_lazy("Redeemed"),
    "expired": gettext_lazy("Expired"),
}
COLOURS = (
    "var(--color-primary-600)",
    "var(--color-primary-300)",
    "#f59e0b",
    "#10b981",
    "#ef4444",
    "#6366f1",
    "#64748b",
)


def member_find(request):
    """Open the member an exact phone, member number or card code names; otherwise search the member list.

    Exact identifiers find a member of any store (members are brand-wide for the till) through the unique indexes
    on phone and member number; anything else goes to the member list's search, which stays in the store scope.
    """
    term = (request.GET.get("q") or "").strip()
    changelist = reverse("admin:members_member_changelist")
    if not term:
        return redirect(changelist)
    exact = member_exact_lookup_q(term)
    if exact is not None:
        found = list(Member.objects.filter(exact).values_list("pk", flat=True)[:2])
        if len(found) == 1:
            visitors_admit(request, found)
            return redirect(_member_page_url(request, found[0]))
        if not found:
            messages.info(request, _("No member has this phone, member number or card code."))
    return redirect(f"{changelist}?{urlencode({'q': term})}")


def _member_page_url(request, member_id):
    """The member page (Member 360) of a member in the staff member's store scope; the brand-wide member form
    of another store's member (the till serves a visitor, the full page stays with their store)."""
    from console.member_360.views import member_in_scope

    member = Member(pk=member_id)
    if member_in_scope(request, member):
        return reverse("admin:console_member_360", args=[member_id])
    return reverse("admin:members_member_change", args=[member_id])


def _chart(series, names, *, stacked=False):
    """Chart.js data and options for Unfold's chart component (rendered by its bundled Chart.js, no CDN)."""
    data = {
        "labels": series.labels,
        "datasets": [
            {"label": str(names.get(key, key)), "data": values, "backgroundColor": COLOURS[index % len(COLOURS)],
             "borderColor": COLOURS[index % len(COLOURS)]}
            for index, (key, values) in enumerate(series.datasets)
        ],
    }  # fmt: skip
    options = {
        "animation": False,
        "responsive": True,
        "maintainAspectRatio": False,
        "plugins": {"legend": {"display": True, "position": "top", "align": "end"}},
        "scales": {"x": {"stacked": stacked}, "y": {"stacked": stacked, "beginAtZero": True}},
    }
    return json.dumps(data), json.dumps(options)


def _dashboard_store(request):
    """The store the figures are for: a store's staff see theirs only; others pick one or see every store."""
    asked = request.GET.get("store") or None
    own = staff_store_id(request.user)
    if own is not None:
        if asked is not None and asked != str(own):
            raise PermissionDenied
        return Store.objects.get(pk=own)
    if asked is None:
        return None
    if not is_ascii_digits(asked) or len(asked) > 18:
        raise PermissionDenied
    return get_object_or_404(Store, pk=int(asked))


def dashboard(request, *, site, extra_context=None):
    """The console's home: KPI cards and charts for staff with the dashboard permission, the member search for all."""
    context = {**site.each_context(request), "title": _("Today"), "subtitle": None, **(extra_context or {})}
    request.current_app = site.name
    if request.user.has_perm(DASHBOARD_PERMISSION):
        period = request.GET.get("period", "")
        days = next((days for days in PERIODS if str(days) == period), DEFAULT_PERIOD)
        store = _dashboard_store(request)
        figures = dashboard_figures(now=timezone.now(), days=days, store_id=store.pk if store else None)
        join_sources = dict(Member.JoinSource.choices)
        join_names = {
            key: join_sources.get(key) or _("Not recorded") for key, _values in figures.joins_by_source.datasets
        }
        charts = {
            "joins": _chart(figures.joins_by_source, join_names, stacked=True),
            "tiers": _chart(figures.sales_by_tier, SERIES_NAMES),
            "points": _chart(figures.points_by_month, SERIES_NAMES),
            "coupons": _chart(figures.coupons_by_day, SERIES_NAMES),
        }
        context.update(
            figures=figures,
            kpis=[
                {"key": key, "title": KPI_TITLES[key], "help": KPI_HELP[key], "kpi": kpi}
                for key, kpi in figures.kpis.items()
            ],
            charts=charts,
            periods=PERIODS,
            store=store,
            stores=None if staff_store_id(request.user) is not None else Store.objects.order_by("name"),
            store_locked=staff_store_id(request.user) is not None,
            currency=settings.CURRENCY,
        )
    return TemplateResponse(request, site.index_template, context)
