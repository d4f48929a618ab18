"""Campaigns errors: each a LoyaltyError with a stable code the API and the console show."""

from django.utils.translation import gettext_lazy as _

from infra.errors import LoyaltyError


class SegmentRuleInvalid(LoyaltyError):
    """The rule does not fit the schema; `fields["rule"]` names each problem by its condition."""

    code = "segment_rule_invalid"
    message = _("The segment's rule is not valid.")
    status = 422


class SegmentNotAllowed(LoyaltyError):
    code = "permission_denied"
    message = _("You may not do this with this segment.")
    status = 403


class CampaignInvalid(LoyaltyError):
    """A campaign's settings are refused at save; `fields` names each field at fault (`params.<key>` for a kind's
    setting)."""

    code = "campaign_invalid"
    message = _("The campaign's settings are not valid.")
    status = 422


class CampaignStatusInvalid(LoyaltyError):
    """The lifecycle does not allow this step from the campaign's status (draft -> scheduled -> running <-> paused
    -> finished)."""

    code = "campaign_status_invalid"
    message = _("The campaign cannot do this in its current status.")
    status = 409


class CampaignNotRunning(LoyaltyError):
    code = "campaign_not_running"
    message = _("The campaign is not running.")
    status = 409


class CampaignPermissionDenied(LoyaltyError):
    code = "permission_denied"
    message = _("You may not do this with this campaign.")
    status = 403
