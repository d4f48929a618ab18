"""django-import-export resources of the members app.

MemberResource is the export (and the column names match the import, so an export can be edited and
imported again). Imports do not go through it row by row: the console hands the file to our set-based
pipeline (members/services/member_import.py), because one save() per row is far too slow.
"""

import io

from import_export import fields, resources

from infra.csv_exports import ExportWriter
from members.imports.columns import CONSENT_COLUMNS
from members.models import Member


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

    @staticmethod
    def export_queryset(queryset):
        return queryset.select_related("tier", "home_store").prefetch_related("tags").order_by("pk")

    def export_csv(self, queryset) -> str:
        """Return the members as CSV text (formulae escaped)."""
        dataset = self.export(self.export_queryset(queryset))
        buffer = io.StringIO()
        writer = ExportWriter(buffer)
        writer.writerow(dataset.headers)
        writer.writerows(dataset)
        return buffer.getvalue()
