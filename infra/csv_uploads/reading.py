"""The one way an uploaded CSV's decoded text becomes records, for every CSV upload of the console.

Records end where the csv module ends them (CR, LF or CRLF outside quotes), never at the other characters
`str.splitlines` also breaks at (vertical tab, form feed, U+001C..U+001E, U+0085, U+2028, U+2029): those
stay inside their cell, where `control_character` finds them, so a stray one is reported on its row and
column instead of cutting a name in two and inventing an error row from the rest.

A cell our exports escaped as text (a leading apostrophe before = + - @: infra.csv_exports) reads back without
the apostrophe, so an exported file imports as it was.
"""

import csv
import io
import re
from collections.abc import Iterator

from django.utils.translation import gettext

from infra.csv_exports import FORMULA_PREFIXES, formula_unescape
from infra.csv_uploads.decoding import ImportFileRefused

# Characters no cell we import may hold: C0 and C1 controls and DEL (NUL among them, which PostgreSQL
# refuses in text, and tab, CR and LF, which only a quoted cell can carry), and the Unicode line and
# paragraph separators (invisible in Excel, line breaks elsewhere).
CONTROL_CHARACTERS_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
LINE_END_RE = re.compile(r"\r\n|\r|\n")
ESCAPED_FORMULA_MARKS = tuple(f"'{prefix}" for prefix in FORMULA_PREFIXES)


def _unescaping(records, text: str):
    """The records with escaped formulas taken back; the records themselves when `text` holds none (one
    search of the text, so a file without any costs nothing per cell)."""
    if not any(mark in text for mark in ESCAPED_FORMULA_MARKS):
        return records
    return ([formula_unescape(cell) for cell in cells] for cells in records)


def csv_records(text: str, *, delimiter: str = ",") -> Iterator[list[str]]:
    """Yield the records of `text` as the csv module reads a file opened with newline="".

    Raises ImportFileRefused while iterating when the csv module cannot read the file (a cell above its
    size limit), so no caller shows a raw csv.Error.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        yield from _unescaping(reader, text)
    except csv.Error as exc:
        raise _unreadable(exc) from None


def csv_records_ending(text: str, *, delimiter: str = ",") -> Iterator[tuple[list[str], int]]:
    """Yield each record of `text` (as csv_records) with the offset in `text` where it ends.

    The csv module reads its source a line at a time and returns a record as soon as its last line is read, so
    the stream's position after a record is where the next one starts: a run of records cut out there reads
    alone as it reads within the whole text.
    """
    stream = io.StringIO(text, newline="")
    reader = csv.reader(stream, delimiter=delimiter)
    try:
        for cells in _unescaping(reader, text):
            yield cells, stream.tell()
    except csv.Error as exc:
        raise _unreadable(exc) from None


def _unreadable(exc: csv.Error) -> ImportFileRefused:
    return ImportFileRefused(
        gettext("The file is not a readable CSV file (%(reason)s).") % {"reason": exc}, code="not_csv"
    )


def csv_lines(text: str) -> list[str]:
    """Split `text` where the csv module ends a record when no quote is open (CRLF, CR or LF)."""
    return LINE_END_RE.split(text)


def first_line(text: str) -> str:
    """Return the text before the first line end the csv module would see."""
    return LINE_END_RE.split(text, maxsplit=1)[0]


def control_character(value: str) -> str | None:
    """Return the first control character of `value` as U+XXXX, or None when it holds none."""
    match = CONTROL_CHARACTERS_RE.search(value)
    return None if match is None else f"U+{ord(match.group()):04X}"


def control_character_message(code: str) -> str:
    """The row error of a cell holding a control character (`code` as control_character returns it)."""
    if code in ("U+000A", "U+000D"):
        # A line end inside a cell: a quote opened in this row and never closed, most often, which read the rows
        # after it into this cell (so the file seems to have fewer rows).
        return gettext(
            'The cell runs over several lines of the file: a quote (") opened in this row is not closed, so the rows '
            "after it were read into this cell. Close or remove the quote and import the file again."
        )
    return gettext(
        "The cell holds an invisible control character (%(character)s). Delete it (retype the value) and import "
        "the file again."
    ) % {"character": code}
