"""Console for campaigns: the list with status and counters, the form (the kind's settings checked as the services
check them), the lifecycle actions (launch, pause, resume, finish, through the services and behind the
`campaigns.launch_campaign` permission), and the runs and recipients, read-only.

Scoped like the segments: staff of a store see, write and launch only their store's campaigns, pick only their
store's segments, and follow only their campaigns' runs and recipients. A campaign is edited while it is a draft,
scheduled or paused; a running or finished one is shown read-only (pause it to change it). Every save and status
change is recorded by django-simple-history with the user.
"""

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from campaigns.admin.campaign_report import CampaignReportAdminMixin
from campaigns.models import Campaign, CampaignRecipient, CampaignRun
from campaigns.services.campaign_runs import campaign_finish, campaign_launch, campaign_pause, campaign_resume
from campaigns.services.campaigns import CHANNELS, EDITABLE_STATUSES, campaign_errors, campaign_save
from infra.errors import LoyaltyError
from infra.translation_admin import TranslatedFieldsAdminMixin
from members.console import (
    ConsoleHistoryAdmin,
    ConsoleModelAdmin,
    ReadOnlyAdminMixin,
    ScopedRelatedFieldListFilter,
    StoreScopedAdminMixin,
)

RUNS_SHOWN = 10
CHANNEL_LABELS = {"wechat": _("WeChat subscribe message"), "sms": _("SMS"), "email": _("Email")}


class CampaignForm(forms.ModelForm):
    params = forms.JSONField(
        label=_("settings of the kind"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text=_(
            'By kind: birthday {"mode": "day" or "month"}; member day {"weekday": 2} (0 = Monday) or '
            '{"day_of_month": 8}; dates {"dates": ["2027-02-10"]}; recurring {"every": "day"}, '
            '{"every": "weekday", "weekdays": [0, 4]} or {"every": "month_day", "days": [1, 15]}; win-back '
            '{"days": 21}; a broadcast needs none.'
        ),
    )
    channels = forms.MultipleChoiceField(
        label=_("channels"),
        required=False,
        choices=[(name, CHANNEL_LABELS[name]) for name in CHANNELS],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Besides the inbox, which is always on; marketing goes only to members who consented to it."),
    )

    class Meta:
        model = Campaign
        fields = (
            "name", "store", "kind", "params", "segment", "starts_on", "ends_on", "send_at", "coupon_template",
            "points_bonus", "multiplier", "multiplier_days", "message_title", "message_body", "channels",
            "is_marketing", "budget_coupons", "budget_points", "cap_per_member", "cap_per_member_per_day",
            "cap_per_member_per_week", "holdout_percent", "lift_days", "respects_global_control",
        )  # fmt: skip

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        campaign = self.instance  # already holds the form's values (ModelForm's _post_clean runs after clean)
        for name, value in cleaned.items():
            if hasattr(campaign, name) and name not in ("segment", "coupon_template", "store"):
                setattr(campaign, name, value)
        campaign.segment = cleaned.get("segment")
        campaign.coupon_template = cleaned.get("coupon_template")
        campaign.store = cleaned.get("store")
        campaign.params = cleaned.get("params") or {}
        campaign.channels = list(cleaned.get("channels") or [])
        errors = campaign_errors(campaign=campaign)
        for name, problems in errors.items():
            field = "params" if name.startswith("params.") else name
            if field in self.fields:
                self.add_error(field, [f"{name}: {problem}" if field != name else problem for problem in problems])
            else:
                self.add_error(None, problems)
        if not errors:
            cleaned["params"] = campaign.params
        return cleaned


@admin.register(Campaign)
class CampaignAdmin(TranslatedFieldsAdminMixin, CampaignReportAdminMixin, StoreScopedAdminMixin, ConsoleHistoryAdmin):
    form = CampaignForm
    store_scope_field = "store"
    store_scoped_fk_fields = {"segment": "store"}
    list_display = ("name", "kind", "status", "store", "starts_on", "ends_on", "coupons_issued", "points_granted")
    list_filter = ("status", "kind", ("store", ScopedRelatedFieldListFilter))
    search_fields = ("name",)
    readonly_fields = ("status", "coupons_issued", "points_granted", "recent_runs")
    actions = ("launch_selected", "pause_selected", "resume_selected", "finish_selected")
    fieldsets = (
        (None, {"fields": ("name", "store", "kind", "params", "segment", "status")}),
        (_("When"), {"fields": ("starts_on", "ends_on", "send_at")}),
        (_("Reward"), {"fields": ("coupon_template", "points_bonus", "multiplier", "multiplier_days")}),
        (_("Message"), {"fields": ("message_title", "message_body", "channels", "is_marketing")}),
        (
            _("Limits"),
            {
                "fields": (
                    "budget_coupons",
                    "coupons_issued",
                    "budget_points",
                    "points_granted",
                    "cap_per_member",
                    "cap_per_member_per_day",
                    "cap_per_member_per_week",
                )
            },
        ),
        (_("Measurement"), {"fields": ("holdout_percent", "lift_days", "respects_global_control")}),
        (_("Runs"), {"fields": ("recent_runs",)}),
    )

    def has_change_permission(self, request, obj=None):
        # Running and finished campaigns are read-only: the lifecycle actions move them, not the form.
        if obj is not None and obj.status not in EDITABLE_STATUSES:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # recipients and rewards point at it; finish it instead

    def has_launch_permission(self, request):
        return request.user.has_perm("campaigns.launch_campaign")

    def save_model(self, request, obj, form, change):
        obj._history_user = request.user
        campaign_save(campaign=obj, user=request.user)

    @admin.display(description=_("recent runs"))
    def recent_runs(self, obj):
        runs = list(obj.runs.order_by("-pk")[:RUNS_SHOWN]) if obj and obj.pk else []
        if not runs:
            return gettext("None yet.")
        rows = format_html_join(
            "",
            "<li>{} · {} · {}</li>",
            (
                (
                    run.key,
                    run.get_status_display(),
                    gettext("%(delivered)d delivered, %(held_out)d held out of %(audience)d")
                    % {
                        "delivered": run.delivered_count,
                        "held_out": run.held_out_count,
                        "audience": run.audience_count,
                    },
                )
                for run in runs
            ),
        )
        return format_html("<ul>{}</ul>", rows)

    # -- lifecycle actions -----------------------------------------------------------------------------------

    def _lifecycle(self, request, queryset, service, done_message):
        done = 0
        for campaign in queryset.order_by("pk"):
            try:
                service(campaign_id=campaign.pk, user=request.user, now=timezone.now())
            except LoyaltyError as exc:
                fields = "; ".join(f"{name}: {' '.join(map(str, problems))}" for name, problems in exc.fields.items())
                self.message_user(
                    request, f"{campaign}: {exc.message}" + (f" ({fields})" if fields else ""), messages.ERROR
                )
            else:
                done += 1
        if done:
            self.message_user(request, done_message(done), messages.SUCCESS)

    @admin.action(description=_("Launch the selected campaigns"), permissions=["launch"])
    def launch_selected(self, request, queryset):
        self._lifecycle(
            request,
            queryset,
            campaign_launch,
            lambda n: ngettext("%(count)d campaign launched.", "%(count)d campaigns launched.", n) % {"count": n},
        )

    @admin.action(description=_("Pause the selected campaigns"), permissions=["launch"])
    def pause_selected(self, request, queryset):
        self._lifecycle(
            request,
            queryset,
            campaign_pause,
            lambda n: ngettext("%(count)d campaign paused.", "%(count)d campaigns paused.", n) % {"count": n},
        )

    @admin.action(description=_("Resume the selected campaigns"), permissions=["launch"])
    def resume_selected(self, request, queryset):
        self._lifecycle(
            request,
            queryset,
            campaign_resume,
            lambda n: ngettext("%(count)d campaign resumed.", "%(count)d campaigns resumed.", n) % {"count": n},
        )

    @admin.action(description=_("Finish the selected campaigns"), permissions=["launch"])
    def finish_selected(self, request, queryset):
        self._lifecycle(
            request,
            queryset,
            campaign_finish,
            lambda n: ngettext("%(count)d campaign finished.", "%(count)d campaigns finished.", n) % {"count": n},
        )


@admin.register(CampaignRun)
class CampaignRunAdmin(ReadOnlyAdminMixin, StoreScopedAdminMixin, ConsoleModelAdmin):
    store_scope_field = "campaign__store"
    list_display = (
        "key",
        "campaign",
        "day",
        "status",
        "audience_count",
        "held_out_count",
        "delivered_count",
        "chunks_done",
        "chunks_total",
        "started_at",
        "finished_at",
    )
    list_filter = ("status",)
    list_select_related = ("campaign",)
    search_fields = ("key",)
    show_full_result_count = False


@admin.register(CampaignRecipient)
class CampaignRecipientAdmin(ReadOnlyAdminMixin, StoreScopedAdminMixin, ConsoleModelAdmin):
    store_scope_field = "campaign__store"
    list_display = ("campaign", "member", "occasion", "status", "held_out", "points_granted", "created_at")
    list_filter = ("status", "held_out")
    list_select_related = ("campaign", "member")
    raw_id_fields = ("member", "coupon", "notification", "run")
    search_fields = ("=member__member_number", "=occasion")
    show_full_result_count = False
