"""Turn the uploaded bytes into text, or refuse the whole file with a message the merchant understands."""

import codecs

from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from members.errors import LoyaltyError

AUTO = "auto"
# value -> (Python codec, label). CP950 is Big5 as Excel on Traditional Chinese Windows writes it;
# GB18030 is a superset of GBK/GB2312 (Simplified Chinese Windows).
ENCODINGS = {
    AUTO: (None, _("Detect (UTF-8 with or without BOM)")),
    "utf-8": ("utf-8-sig", _("UTF-8")),
    "big5": ("cp950", _("Big5 (Traditional Chinese Windows / Excel)")),
    "gb18030": ("gb18030", _("GB18030 / GBK (Simplified Chinese Windows / Excel)")),
}


class ImportFileRefused(LoyaltyError):
    """A file-level fault: nothing of the file is imported."""

    code = "import_file_refused"
    message = _("The file cannot be imported.")


def encoding_choices():
    return [(value, label) for value, (_codec, label) in ENCODINGS.items()]


def check_size(size: int) -> None:
    """Raise ImportFileRefused when the upload is empty or above MEMBER_IMPORT_MAX_BYTES."""
    if size == 0:
        raise ImportFileRefused(gettext("The file is empty."), code="empty_file")
    limit = settings.MEMBER_IMPORT_MAX_BYTES
    if size > limit:
        raise ImportFileRefused(
            gettext("The file is %(size)s bytes; the limit is %(limit)s bytes. Split it into smaller files.")
            % {"size": size, "limit": limit},
            code="file_too_large",
        )


def decode(data: bytes, encoding: str = AUTO) -> tuple[str, str]:
    """Return (text, encoding used). Raises ImportFileRefused on an unknown or wrong encoding.

    Auto-detection reads a UTF-8 BOM, a UTF-16 BOM (Excel's "Unicode text") or plain UTF-8; anything
    else must be chosen by the user, because Big5 and GB18030 bytes both decode "successfully" as each
    other: the preview shows the decoded names so mojibake is seen before confirming.
    """
    check_size(len(data))
    if encoding not in ENCODINGS:
        raise ImportFileRefused(gettext("Unknown encoding %(encoding)s.") % {"encoding": encoding}, code="encoding")
    if encoding == AUTO:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            codec, used = "utf-16", "utf-16"
        else:
            codec, used = "utf-8-sig", "utf-8"
    else:
        codec, used = ENCODINGS[encoding][0], encoding
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        if encoding == AUTO:
            message = gettext(
                "The file is not UTF-8 (undecodable bytes on line %(line)s). Choose its encoding "
                "(Big5 or GB18030 for files saved by Excel on Chinese Windows) and upload it again."
            )
        else:
            message = gettext(
                "The file cannot be read as %(encoding)s (undecodable bytes on line %(line)s). "
                "Choose another encoding or save the file as CSV UTF-8."
            )
        raise ImportFileRefused(
            message % {"line": line, "encoding": ENCODINGS[encoding][1]}, code="undecodable"
        ) from None
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise ImportFileRefused(gettext("The file is empty."), code="empty_file")
    return text, used
