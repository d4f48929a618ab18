"""Console pieces for merchant content kept in every language (infra/translation.py).

Mixed into the admin of a model registered there (first in the bases), they replace each translated field of
the form by one input per language, side by side on one row, the default language first and required where the
model requires the field. Searching a translated field searches every language.
"""

from modeltranslation.admin import TranslationAdmin, TranslationTabularInline
from modeltranslation.utils import get_translation_fields


def _side_by_side(fields, translated) -> list:
    """Regroup a fieldset's flattened translation fields so each original field's languages share one row."""
    by_column = {column: original for original in translated for column in get_translation_fields(original)}
    rows, placed = [], set()

    def expand(entry):
        original = by_column.get(entry)
        if original is None:
            return [entry]
        if original in placed:
            return []
        placed.add(original)
        return list(get_translation_fields(original))

    for entry in fields:
        if isinstance(entry, (list, tuple)):
            row = [column for item in entry for column in expand(item)]
            if row:
                rows.append(tuple(row))
        else:
            columns = expand(entry)
            if len(columns) > 1:
                rows.append(tuple(columns))
            elif columns:
                rows.append(columns[0])
    return rows


class TranslatedFieldsAdminMixin(TranslationAdmin):
    """A ModelAdmin whose translated fields are edited in every language, side by side."""

    def get_fieldsets(self, request, obj=None):
        return self.translated_fieldsets(super().get_fieldsets(request, obj))

    def translated_fieldsets(self, fieldsets):
        """`fieldsets` with each translated field replaced by its languages on one row (for an admin that builds
        its fieldsets itself in get_fieldsets)."""
        translated = list(self.trans_opts.all_fields)
        return [
            (name, {**options, "fields": _side_by_side(self.replace_orig_field(options["fields"]), translated)})
            for name, options in fieldsets
        ]

    def get_search_fields(self, request):
        translated = self.trans_opts.all_fields
        fields = []
        for field in super().get_search_fields(request):
            prefix = field[0] if field[:1] in ("=", "^", "@") else ""
            name = field[len(prefix) :]
            if name in translated:
                fields += [prefix + column for column in get_translation_fields(name)]
            else:
                fields.append(field)
        return fields


class TranslatedTabularInline(TranslationTabularInline):
    """A tabular inline with one column per language of each translated field."""
