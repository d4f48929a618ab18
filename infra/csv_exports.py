"""The one way the console writes a CSV file that staff open in Excel or Numbers: every export goes through it.

- Formulas: a cell that a member or staff member wrote (a name, a reason, a tag) and that starts with = + - @ (or a
  tab or CR) would run as a formula when the file is opened. It gets a leading apostrophe, which a spreadsheet
  reads as "this is text" and does not show. Plain signed numbers (+85291234567, -5) cannot carry a formula and
  stay as they are.
- The byte-order mark: Excel reads UTF-8 (Chinese names) correctly only with one (EXCEL_BOM, first in the file).

Imports take the apostrophe off again (`formula_unescape`, in infra.csv_uploads.reading), so an exported member
file imports as it was.
"""

import csv
import re

EXCEL_BOM = "\ufeff"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER_RE = re.compile(r"^[+-]?\d+(\.\d+)?$")


def formula_escape(value):
    """Return the cell as a spreadsheet will not evaluate it (see the module's docstring); non-text as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not PLAIN_NUMBER_RE.match(value):
        return "'" + value
    return value


def formula_unescape(text: str) -> str:
    """Undo formula_escape on a cell read back from a file: the apostrophe it added goes, any other stays."""
    if text.startswith("'") and formula_escape(text[1:]) == text:
        return text[1:]
    return text


class _Echo:
    """A stream whose write returns what it was given: a streamed response yields the writer's lines."""

    def write(self, value):
        return value


class ExportWriter:
    """csv.writer (CRLF line ends) whose every cell goes through formula_escape. Without a stream, `writerow`
    returns the line it wrote, for a StreamingHttpResponse."""

    def __init__(self, stream=None):
        self._writer = csv.writer(_Echo() if stream is None else stream, lineterminator="\r\n")

    def writerow(self, row):
        return self._writer.writerow([formula_escape(cell) for cell in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)
