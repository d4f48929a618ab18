"""The console's CSV uploads: one encoding choice everywhere, and an empty or oversized file refused before reading."""

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminFileFieldWidget

from infra.csv_uploads.decoding import AUTO, check_size, encoding_choices
from infra.errors import LoyaltyError


def encoding_field(**kwargs) -> forms.ChoiceField:
    """The encoding of an uploaded CSV: detected (UTF-8), or Big5 / GB18030 as Excel on Chinese Windows saves."""
    return forms.ChoiceField(
        label=_("Encoding"),
        choices=encoding_choices,
        initial=AUTO,
        help_text=_("Files saved by Excel on Chinese Windows are Big5 (Traditional) or GB18030 (Simplified)."),
        **kwargs,
    )


def csv_file_field(*, label=None, **kwargs) -> forms.FileField:
    """An uploaded CSV in the console's own file widget: the console's script writes the chosen file's name into that
    widget's text box, and fails on a plain file input, which has none."""
    return forms.FileField(
        label=label or _("CSV file"), widget=UnfoldAdminFileFieldWidget(attrs={"accept": ".csv,text/csv"}), **kwargs
    )


def checked_upload(upload):
    """The upload itself, or a form error when it is empty or above MEMBER_IMPORT_MAX_BYTES."""
    if upload:
        try:
            check_size(upload.size)
        except LoyaltyError as exc:
            raise forms.ValidationError(str(exc.message)) from None
    return upload


class CsvUploadForm(forms.Form):
    file = csv_file_field()
    encoding = encoding_field()

    def clean_file(self):
        return checked_upload(self.cleaned_data.get("file"))
