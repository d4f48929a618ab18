"""A campaign's report page in the console (`<id>/report/`, `?run=<id>` for one run) and its CSV (`<id>/report.csv`).

`CampaignReportAdminMixin` goes before the base class of the campaign admin: it adds the two URLs and a `report_link`
column. Who may open them: staff with `campaigns.view_campaign` whose store scope holds the campaign (a store's staff,
their store's campaigns; head office, all); anyone else gets 403. The figures come from
campaigns.selectors.campaign_report; this module only words and lays them out.
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.lift import stats
from campaigns.models import Campaign, CampaignRecipient
from campaigns.selectors.campaign_report import INBOX, CampaignReport, campaign_report, campaign_report_allowed
from infra.csv_exports import EXCEL_BOM, ExportWriter
from infra.errors import NotFound
from members.models import OutboxMessage

SIGNIFICANCE = 0.05


def _percent(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f} %"


def _points(value: float | None) -> str:
    """A difference of rates in percentage points."""
    return "–" if value is None else f"{value * 100:+.1f}"


def _money(value) -> str:
    return "–" if value is None else f"{float(value):,.2f}"


def _p_value(value: float | None) -> str:
    if value is None:
        return "–"
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


def conversion_sentence(report: CampaignReport) -> str:
    """Return the conversion lift in plain words (relative lift, its interval and p-value)."""
    lift = report.conversion
    if report.control_outcome.members == 0:
        return _("No members were held out, so the campaign's lift cannot be measured.")
    if report.treated_outcome.members == 0:
        return _("Nobody has been reached yet.")
    if lift.relative is None:
        return _(
            "Members who got the offer bought %(treated)s of the time, held-out members never: the relative lift "
            "cannot be computed (difference %(difference)s percentage points, 95 %% CI %(low)s to %(high)s, %(p)s)."
        ) % {
            "treated": _percent(lift.treated_rate),
            "difference": _points(lift.difference),
            "low": _points(lift.difference_low),
            "high": _points(lift.difference_high),
            "p": _p_value(lift.p_value),
        }
    values = {
        "relative": _percent(abs(lift.relative)),
        "low": _percent(lift.relative_low),
        "high": _percent(lift.relative_high),
        "p": _p_value(lift.p_value),
    }
    if lift.relative >= 0:
        return (
            _("Members who got the offer bought %(relative)s more often (95 %% CI %(low)s to %(high)s, %(p)s).")
            % values
        )
    return _("Members who got the offer bought %(relative)s less often (95 %% CI %(low)s to %(high)s, %(p)s).") % values


def sales_sentence(report: CampaignReport, currency: str) -> str:
    """Return the lift in sales per member in plain words."""
    lift = report.sales
    if lift.difference is None or lift.difference_low is None:
        return _("Not enough members in both groups to compare sales per member.")
    return _(
        "Sales per member: %(currency)s %(treated)s against %(currency)s %(control)s held out, %(difference)s "
        "per member (95 %% CI %(low)s to %(high)s, %(p)s)."
    ) % {
        "currency": currency,
        "treated": _money(lift.treated_mean),
        "control": _money(lift.control_mean),
        "difference": f"{lift.difference:+,.2f}",
        "low": _money(lift.difference_low),
        "high": _money(lift.difference_high),
        "p": _p_value(lift.p_value),
    }


def verdict_sentence(report: CampaignReport) -> str:
    """Return whether the conversion difference is more than chance, in plain words."""
    p_value = report.conversion.p_value
    if p_value is None:
        return ""
    if p_value < SIGNIFICANCE:
        return _("A difference this large would rarely happen by chance alone (p below 0.05).")
    return _(
        "A difference this large could well be chance (p of 0.05 or more): keep the campaign running or hold out "
        "more members before drawing a conclusion."
    )


def sample_ratio_warning(report: CampaignReport) -> str:
    """Return the warning when the groups' sizes differ from the planned hold-out more than chance allows."""
    check = report.sample_ratio
    if not check.is_mismatch:
        return ""
    return _(
        "The groups' sizes differ from the planned %(percent)s %% hold-out more than chance allows: %(held)s held "
        "out where %(expected)s were expected (%(p)s). Something other than the random draw decided who was held "
        "out, so the lift above cannot be trusted until the cause is found."
    ) % {
        "percent": report.campaign.holdout_percent,
        "held": f"{report.control_outcome.members:,}",
        "expected": f"{check.expected_control:,.0f}",
        "p": _p_value(check.p_value),
    }


def _channel_label(channel: str) -> str:
    if channel == INBOX:
        return _("Inbox")
    return str(OutboxMessage.Channel(channel).label) if channel in OutboxMessage.Channel.values else channel


def _delivery_status_label(channel: str, status: str) -> str:
    if channel == INBOX:
        return _("Delivered")
    return str(OutboxMessage.Status(status).label) if status in OutboxMessage.Status.values else status


def report_rows(report: CampaignReport, currency: str) -> list[tuple[str, str, str]]:
    """Return the report as (section, figure, value) rows: the CSV export and the page's tables share them."""
    treated, control = report.treated_outcome, report.control_outcome
    conversion, sales, check = report.conversion, report.sales, report.sample_ratio
    reach, outcome, lift = _("Reach"), _("Outcome"), _("Lift")
    rows = [
        (reach, _("Audience"), f"{report.audience}"),
        (reach, _("Held out"), f"{report.held_out}"),
        (reach, _("Planned hold-out"), f"{report.campaign.holdout_percent} %"),
    ]
    for status, count in sorted(report.by_status.items()):
        label = CampaignRecipient.Status(status).label if status in CampaignRecipient.Status.values else status
        rows.append((reach, _("Recipients: %(status)s") % {"status": label}, f"{count}"))
    rows += [
        (
            _("Deliveries"),
            f"{_channel_label(row.channel)}: {_delivery_status_label(row.channel, row.status)}",
            f"{row.count}",
        )
        for row in report.deliveries
    ]
    rewards = _("Rewards")
    rows += [
        (rewards, _("Coupons issued"), f"{report.coupons_issued}"),
        (rewards, _("Coupons used"), f"{report.coupons_redeemed}"),
        (rewards, _("Points granted"), f"{report.points_granted}"),
        (rewards, _("Points multiplier windows"), f"{report.multiplier_windows}"),
    ]
    for label, group in ((_("Reached"), treated), (_("Held out"), control)):
        rows += [
            (outcome, _("%(group)s: members") % {"group": label}, f"{group.members}"),
            (outcome, _("%(group)s: members who bought") % {"group": label}, f"{group.buyers}"),
            (outcome, _("%(group)s: purchases") % {"group": label}, f"{group.purchases}"),
            (outcome, _("%(group)s: sales") % {"group": label}, f"{group.sales:.2f}"),
            (outcome, _("%(group)s: conversion") % {"group": label}, _percent(group.conversion_rate, 2)),
            (outcome, _("%(group)s: sales per member") % {"group": label}, _money(group.sales_per_member)),
        ]
    rows += [
        (lift, _("Conversion difference (percentage points)"), _points(conversion.difference)),
        (
            lift,
            _("Conversion difference, 95 % CI (Newcombe)"),
            f"{_points(conversion.difference_low)} .. {_points(conversion.difference_high)}",
        ),
        (lift, _("Relative lift in conversion"), _percent(conversion.relative)),
        (
            lift,
            _("Relative lift, 95 % CI (Katz)"),
            f"{_percent(conversion.relative_low)} .. {_percent(conversion.relative_high)}",
        ),
        (lift, _("Conversion p-value (two-sided z test)"), _p_value(conversion.p_value)),
        (lift, _("Sales per member difference (%(currency)s)") % {"currency": currency}, _money(sales.difference)),
        (
            lift,
            _("Sales per member difference, 95 % CI (Welch)"),
            f"{_money(sales.difference_low)} .. {_money(sales.difference_high)}",
        ),
        (lift, _("Sales p-value (Welch's t test)"), _p_value(sales.p_value)),
        (lift, _("Split check (chi-square)"), "–" if check.chi_square is None else f"{check.chi_square:.2f}"),
        (lift, _("Split check p-value"), _p_value(check.p_value)),
        (lift, _("Split mismatch"), _("yes") if check.is_mismatch else _("no")),
    ]
    return rows


class CampaignReportAdminMixin:
    """Adds the report page, its CSV and a `report_link` column to the campaign admin."""

    report_template = "admin/campaigns/campaign/report.html"

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/report/", view(self.report_view), name=f"{prefix}_report"),
            path("<path:object_id>/report.csv", view(self.report_csv_view), name=f"{prefix}_report_csv"),
            *super().get_urls(),
        ]

    def get_list_display(self, request):
        return (*super().get_list_display(request), "report_link")

    @staticmethod
    def report_link(obj):
        url = reverse("admin:campaigns_campaign_report", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Report"))

    report_link.short_description = gettext_lazy("Report")

    def _report(self, request, object_id) -> CampaignReport:
        """Return the report the request asks for; raise 403 outside the user's permission or store, 404 unknown."""
        try:
            campaign = Campaign.objects.get(pk=int(object_id))
        except (Campaign.DoesNotExist, ValueError) as error:
            raise Http404 from error
        if not campaign_report_allowed(campaign=campaign, user=request.user):
            raise PermissionDenied
        run_id = request.GET.get("run") or None
        try:
            return campaign_report(
                campaign=campaign,
                now=timezone.now(),
                run_id=int(run_id) if run_id else None,
                user=request.user,
            )
        except (ValueError, NotFound) as error:
            raise Http404 from error

    def report_view(self, request, object_id):
        report = self._report(request, object_id)
        currency = settings.CURRENCY
        info = self.opts.app_label, self.opts.model_name
        csv_url = reverse("admin:{}_{}_report_csv".format(*info), args=[report.campaign.pk])
        if report.run is not None:
            csv_url += f"?run={report.run.pk}"
        context = {
            **self.admin_site.each_context(request),
            "title": _("Report: %(campaign)s") % {"campaign": report.campaign},
            "opts": self.opts,
            "original": report.campaign,
            "report": report,
            "currency": currency,
            "conversion_sentence": conversion_sentence(report),
            "sales_sentence": sales_sentence(report, currency),
            "verdict_sentence": verdict_sentence(report),
            "sample_ratio_warning": sample_ratio_warning(report),
            "rows": report_rows(report, currency),
            "csv_url": csv_url,
            "report_url": reverse("admin:{}_{}_report".format(*info), args=[report.campaign.pk]),
            "change_url": reverse("admin:{}_{}_change".format(*info), args=[report.campaign.pk]),
            "srm_alpha": stats.SRM_ALPHA,
        }
        return TemplateResponse(request, self.report_template, context)

    def report_csv_view(self, request, object_id):
        report = self._report(request, object_id)
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        name = slugify(str(report.campaign)) or "campaign"
        suffix = f"-run-{report.run.pk}" if report.run is not None else ""
        response["Content-Disposition"] = f'attachment; filename="campaign-{report.campaign.pk}-{name}{suffix}.csv"'
        response.write(EXCEL_BOM)
        writer = ExportWriter(response)
        writer.writerow([_("Section"), _("Figure"), _("Value")])
        writer.writerows(report_rows(report, settings.CURRENCY))
        return response
