"""Turn the uploaded bytes into text, or refuse the whole file with a message the merchant understands."""

import codecs

from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from infra.errors import LoyaltyError

AUTO = "auto"
# value -> (Python codec, label). CP950 is Big5 as Excel on Traditional Chinese Windows writes it;
# GB18030 is a superset of GBK/GB2312 (Simplified Chinese Windows).
ENCODINGS = {
    AUTO: (None, _("Detect (UTF-8, Big5 or GB18030)")),
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


# Auto-detection decodes strictly in this order and takes the first that reads every byte. Big5 and GB18030 both
# read most of each other's bytes, but not the other way round in the same measure: Big5 text almost never decodes
# as GB2312 (the common simplified set, whose second bytes are never 0x40-0x7E and whose rows 0xAA-0xAF are empty),
# while GB2312 text nearly always decodes as Big5 (as nonsense). So GB2312 is tried before Big5, and full GB18030
# (rare and traditional characters in GBK) last. The preview shows the decoded names, so a wrong guess on a very
# short file is seen, and the encoding chosen by hand, before anything is imported.
DETECTION_ORDER = (("utf-8-sig", "utf-8"), ("gb2312", "gb18030"), ("cp950", "big5"), ("gb18030", "gb18030"))


def _detect(data: bytes) -> tuple[str, str]:
    """Return (text, encoding value) of the first codec of DETECTION_ORDER that reads every byte, or raise the
    first codec's UnicodeDecodeError (it names the line that is not UTF-8)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    first_error = None
    for codec, used in DETECTION_ORDER:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError as exc:
            first_error = first_error or exc
            continue
        if used == "big5" and any("\ue000" <= char <= "\uf8ff" for char in text):
            continue  # Big5's user-defined area: bytes of another encoding, not a name
        return text, used
    raise first_error


def decode(data: bytes, encoding: str = AUTO) -> tuple[str, str]:
    """Return (text, encoding used). Raises ImportFileRefused on an unknown or wrong encoding.

    Auto-detection reads a UTF-16 BOM (Excel's "Unicode text"), UTF-8 with or without BOM, then GB18030 or Big5
    as Excel writes them on Chinese Windows (DETECTION_ORDER says how the two are told apart).
    """
    check_size(len(data))
    if encoding not in ENCODINGS:
        raise ImportFileRefused(gettext("Unknown encoding %(encoding)s.") % {"encoding": encoding}, code="encoding")
    try:
        if encoding == AUTO:
            text, used = _detect(data)
        else:
            text, used = data.decode(ENCODINGS[encoding][0]), encoding
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        if encoding == AUTO:
            message = gettext(
                "The file is neither UTF-8, Big5 nor GB18030 (undecodable bytes on line %(line)s). Save it from "
                "Excel as “CSV UTF-8” and upload it again."
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
