"""The columns a member CSV may carry, documented once for the form, the template and the errors."""

import io

from django.utils.translation import gettext_lazy as _

from infra.csv_exports import ExportWriter

REQUIRED_COLUMNS = ("phone",)
# Columns our own export adds: accepted by the import (so an export can be edited and re-imported) and
# ignored, because they are written by the program, never by a file.
EXPORT_ONLY_COLUMNS = ("member_number", "points_balance", "status", "joined_at")
CONSENT_COLUMNS = ("consent_marketing", "consent_sms", "consent_email", "consent_wechat")

# column -> what the merchant reads in the template and the upload form
COLUMNS = {
    "phone": _("Required. Mobile number; without a country code it is read as a local number (E.164 stored)."),
    "name": _("Name, up to 100 characters."),
    "gender": _("f, m or o (female, male, other); empty for not given."),
    "birthday": _("YYYY-MM-DD, not in the future."),
    "email": _("E-mail address."),
    "locale": _("en, zh-hant or zh-hans."),
    "tier": _("Tier code (as in the tier list)."),
    "store": _("Home store code (as in the store list)."),
    "tags": _("Tags separated by ; or |; new tags are created. Tags are added, never removed."),
    "consent_marketing": _("Marketing consent: true/false, 1/0, yes/no, 是/否."),
    "consent_sms": _("SMS consent: true/false, 1/0, yes/no, 是/否."),
    "consent_email": _("E-mail consent: true/false, 1/0, yes/no, 是/否."),
    "consent_wechat": _("WeChat message consent: true/false, 1/0, yes/no, 是/否."),
    "opening_points": _("Opening points balance, a whole number >= 0; written once per member, never again."),
}

TEMPLATE_EXAMPLE_ROWS = (
    [
        "91234567",
        "陳大文",
        "m",
        "1990-05-17",
        "tai.man@example.com",
        "zh-hant",
        "",
        "",
        "VIP;newsletter",
        "yes",
        "1",
        "true",
        "否",
        "500",
    ],
    ["+85261234567", "Mary Lee", "f", "", "", "en", "", "", "", "no", "0", "false", "no", "0"],
)


def template_csv() -> str:
    """Return the CSV template: the header, two example rows and, after them, nothing else.

    The column documentation is shown on the upload page (a comment row would be imported as data).
    """
    buffer = io.StringIO()
    writer = ExportWriter(buffer)
    writer.writerow(COLUMNS)
    writer.writerows(TEMPLATE_EXAMPLE_ROWS)
    return buffer.getvalue()
