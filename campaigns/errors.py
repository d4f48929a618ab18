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
