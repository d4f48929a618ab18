"""django-import-export resources of the members app.

MemberResource is the export (and the column names match the import, so an export can be edited and
imported again). Imports do not go through it row by row: the console hands the file to our set-based
pipeline (members/services/member_import.py), because one save() per row is far too slow.
"""

import csv
import io
import re

from import_export import fields, resources

from members.imports.columns import CONSENT_COLUMNS
from members.models import Member

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER_RE = re.compile(r"^[+-]?\d+(\.\d+)?$")


def escape_formula(value):
    """Return a cell a spreadsheet will not evaluate: text starting with = + - @ (or a tab/CR) gets a
    leading apostrophe. Plain signed numbers such as +85291234567 cannot carry a formula and stay as is.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not PLAIN_NUMBER_RE.match(value):
        return "'" + value
    return value


class MemberResource(resources.ModelResource):
    tier = fields.Field(attribute="tier__code", column_name="tier")
    store = fields.Field(attribute="home_store__code", column_name="store")
    tags = fields.Field(column_name="tags")

    class Meta:
        model = Member
        import_id_fields = ("phone",)
        fields = (
            "phone", "member_number", "name", "gender", "birthday", "email", "locale", "tier", "store", "tags",
            *CONSENT_COLUMNS, "points_balance", "status", "joined_at",
        )  # fmt: skip
        export_order = fields

    def dehydrate_tags(self, member):
        return ";".join(sorted(tag.name for tag in member.tags.all()))

    def export_field(self, field, instance, **kwargs):
        return escape_formula(super().export_field(field, instance, **kwargs))

    @staticmethod
    def export_queryset(queryset):
        return queryset.select_related("tier", "home_store").prefetch_related("tags").order_by("pk")

    def export_csv(self, queryset) -> str:
        """Return the members as CSV text (formulae escaped)."""
        dataset = self.export(self.export_queryset(queryset))
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(dataset.headers)
        writer.writerows(dataset)
        return buffer.getvalue()
