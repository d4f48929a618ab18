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


# Auto-detection keeps a UTF-16 BOM and strict UTF-8 first (a file of several GBK or Big5 names is almost never
# valid UTF-8). GB18030 and Big5 then each read nearly all of the other's bytes, as nonsense, so the first codec to
# read every byte is no evidence; each reading that succeeds is judged by how odd its characters are instead.
LEGACY_CANDIDATES = (("gb18030", "gb18030"), ("cp950", "big5"))

# A character is ordinary in a reading when it re-encodes inside that script's everyday set: GB2312's 6,763 hanzi
# (the set Simplified text is written in almost entirely) or Big5's 5,401 level-1 "frequently used" hanzi (sets of
# like size, so neither reading wins by its set being larger), or the punctuation and full-width rows both put
# under lead bytes 0xA1-0xA3 (reached only from each other's punctuation, so they tell nothing). A misreading lands
# outside far more often: Big5 read as GBK gives GBK extension hanzi (from every Big5 trail byte 0x40-0x7E), kana,
# Greek, box drawing and user-defined characters; GBK read as Big5 gives level-2 rarities and kana.
ORDINARY = {
    "gb18030": ("gb2312", ((b"\xa1\xa1", b"\xa3\xfe"), (b"\xb0\xa1", b"\xf7\xfe"))),
    "big5": ("cp950", ((b"\xa1\x40", b"\xc6\x7e"),)),
}


def _odd_characters(text: str, used: str) -> int:
    """How many distinct non-ASCII characters of text are not ordinary in the reading. Distinct characters, not
    occurrences: a misreading shows as many different odd characters, where a real file may repeat one rare
    character (a surname) many times; and a set keeps a file at the 20 MB limit to about a second."""
    codec, ranges = ORDINARY[used]
    odd = 0
    for char in set(text):
        if not char.isascii():
            code = char.encode(codec, "replace")  # b"?" when the codec lacks it: odd
            odd += not any(first <= code <= last for first, last in ranges)
    return odd


def _detect(data: bytes) -> tuple[str, str]:
    """Return (text, encoding value) as read by the UTF-16 BOM, UTF-8, or the GB18030 or Big5 reading with the
    fewest odd characters; or raise UTF-8's UnicodeDecodeError (it names the line that is not UTF-8)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    readings = []
    for codec, used in LEGACY_CANDIDATES:
        try:
            readings.append((data.decode(codec), used))
        except UnicodeDecodeError:
            continue
    if not readings:
        raise utf8_error
    # A tie (a short file whose bytes make ordinary characters both ways) goes to GB18030, being first: everyday
    # Simplified characters sit mostly in GB2312 rows 0xB0-0xC6, which are Big5 level-1 codes too, so mainland
    # names read as Big5 look ordinary more often (46% of characters, measured on a hundred names of each) than
    # Hong Kong names read as GBK do (39%); a tie is the likelier from a GB18030 file. Ties come from files of one
    # or two names, where the preview shows the wrong names and staff choose the encoding before anything is written.
    return min(readings, key=lambda reading: _odd_characters(*reading))


def decode(data: bytes, encoding: str = AUTO) -> tuple[str, str]:
    """Return (text, encoding used). Raises ImportFileRefused on an unknown or wrong encoding.

    Auto-detection reads a UTF-16 BOM (Excel's "Unicode text"), UTF-8 with or without BOM, then GB18030 or Big5
    as Excel writes them on Chinese Windows (_detect says how the two are told apart).
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
