"""The console's own pages: the home page and the header's member search."""

from django.contrib import messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from members.console import member_exact_lookup_q
from members.models import Member


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
            return redirect(reverse("admin:members_member_change", args=[found[0]]))
        if not found:
            messages.info(request, _("No member has this phone, member number or card code."))
    return redirect(f"{changelist}?{urlencode({'q': term})}")


def dashboard(request, *, site, extra_context=None):
    """The console's home: the member search (the dashboard's figures come next)."""
    context = {**site.each_context(request), "title": _("Today"), "subtitle": None, **(extra_context or {})}
    request.current_app = site.name
    return TemplateResponse(request, site.index_template, context)
