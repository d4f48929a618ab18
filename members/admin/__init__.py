"""The console: Django's admin at /console/, scoped by the staff member's store (members.console).

One module per concept: program (settings, stores, tiers, tags), member (members, tokens, the points
adjustment form), ledger (purchases, points entries, import jobs), staff (console users), tiers (tier policy,
overrides, tier history, top-up offers, the stored-value ledger and its adjustment), plans (paid plans and
plan periods), notifications (the inbox and the outbox, read-only).
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from members.admin import ledger, member, notifications, plans, program, staff, tiers  # noqa: F401  (registers the admins)

admin.site.site_header = _("Loyalty console")
admin.site.site_title = _("Loyalty console")
admin.site.site_url = None  # there is no public site to view; members use the mini-program
