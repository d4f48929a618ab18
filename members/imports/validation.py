"""Read a decoded member CSV, then validate its rows.

Three steps, so that a big import reads and validates its chunks where it writes them
(members.services.member_import):
- plan_members_csv reads the header and each data row's phone, finds the rows whose phone another row repeats
  (the one check that needs the whole file) and cuts the data rows into chunks, each carrying its records' text;
- chunk_data_rows reads a chunk's rows (cells stripped and cut to the header's width);
- validate_rows checks the cells of any run of those rows: field checks in Python per row, tier and store codes
  read with one query each.
read_members_csv does the first two for the whole file and parse_members_csv all three (the preview). Row numbers
are those the merchant sees in Excel: the header is row 1, the first data row is row 2 (blank rows count, as Excel
shows them).
"""

import csv
import math
import re
from dataclasses import dataclass, field
from datetime import date
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils.translation import gettext, ngettext

from infra.bulk_sql import field_in
from infra.csv_uploads.decoding import ImportFileRefused
from infra.csv_uploads.reading import (
    CONTROL_CHARACTERS_RE,
    control_character,
    control_character_message,
    csv_lines,
    csv_records,
    csv_records_ending,
    first_line,
)
from members.errors import InvalidPhone
from members.formats import birthday_problem, normalize_phone
from members.imports.columns import COLUMNS, CONSENT_COLUMNS, EXPORT_ONLY_COLUMNS, REQUIRED_COLUMNS
from members.imports.phones import fast_import_phone
from members.imports.scope import ImportScope
from members.models import Member, Store, Tier

SAMPLE_ROWS = 10
# A row whose phone other rows hold names the first few of them: a file giving the shop's own phone to thousands of
# members would otherwise list thousands of rows on each of those rows (quadratic time and memory).
REPEATS_LISTED = 5
EXISTING_CHUNK = 2000
MAX_NAME = Member._meta.get_field("name").max_length
MAX_EMAIL = Member._meta.get_field("email").max_length
MAX_TAG = 50
MAX_OPENING_POINTS = 100_000_000

CONSENT_VALUES = {
    "true": True, "1": True, "yes": True, "是": True,
    "false": False, "0": False, "no": False, "否": False,
}  # fmt: skip
GENDER_VALUES = {
    "f": "f", "female": "f", "女": "f",
    "m": "m", "male": "m", "男": "m",
    "o": "o", "other": "o", "其他": "o",
}  # fmt: skip
LOCALE_VALUES = {
    "en": "en", "zh-hant": "zh-hant", "zh-hk": "zh-hant", "zh-tw": "zh-hant",
    "zh-hans": "zh-hans", "zh-cn": "zh-hans",
}  # fmt: skip
DATE_RE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")
TAG_SPLIT_RE = re.compile(r"[;|]")
DIGITS_RE = re.compile(r"^\d+$")
# Plain ASCII addresses: a strict subset of what EmailValidator accepts (dot-atom local part, LDH labels,
# an alphabetic top-level domain), so a match needs no further check.
SIMPLE_EMAIL_RE = re.compile(
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r"\.[A-Za-z]{2,63}\Z"
)
_email_validator = EmailValidator()


@dataclass(slots=True)
class RowError:
    row: int
    column: str
    message: str

    def as_dict(self):
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass(slots=True)
class MemberRow:
    """One valid data row: the phone and the model values of its non-empty cells."""

    row: int
    index: int  # position among the data rows (0-based), for chunking and resuming
    phone: str
    values: dict
    tags: tuple = ()
    opening_points: int = 0


@dataclass(slots=True)
class DataRow:
    """One non-blank data row as read, before its cells are checked."""

    row: int
    index: int  # position among the data rows (0-based), for chunking and resuming
    cells: list  # stripped, cut or padded to the header's width
    overflow: int  # the first non-empty cell past the header's columns (1-based; 0: none), cut off
    phone: str  # E.164, or "" when the cell is empty or not a phone
    repeats: tuple = ()  # the first REPEATS_LISTED other rows of the file holding the same phone
    repeats_unlisted: int = 0  # how many more other rows hold it


@dataclass
class MembersFile:
    columns: list
    rows: list  # DataRow
    sample: list


@dataclass
class FileChunk:
    """A run of a file's data rows as a job hands it to its chunk task: the text of their records, and what only
    the whole file tells about them."""

    number: int
    text: str  # whole records: any blank ones, then its data rows (the last chunk: to the end of the file)
    position: int  # the row number of the record before `text`
    index: int  # position of its first data row among the file's data rows (0-based)
    phones: list = field(default_factory=list)  # each data row's E.164 phone, "" when empty or not a phone
    # phone -> (how many rows hold it, the first REPEATS_LISTED + 1 of them), for its phones held by several rows
    repeated: dict = field(default_factory=dict)
    records: list | None = None  # the records of `text` as read, when the reader kept them (the whole file's)


@dataclass
class FilePlan:
    columns: list
    delimiter: str
    total_rows: int = 0
    chunks: list = field(default_factory=list)  # FileChunk
    sample: list = field(default_factory=list)


@dataclass
class ParsedFile:
    columns: list
    total_rows: int = 0
    rows: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    sample: list = field(default_factory=list)

    @property
    def error_rows(self):
        return len({error.row for error in self.errors})


def _sniff_delimiter(text: str) -> str:
    header = first_line(text)
    counts = {delimiter: header.count(delimiter) for delimiter in (",", "\t", ";")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _read_header(header_cells: list) -> list:
    columns = [cell.strip().lower() for cell in header_cells]
    while columns and not columns[-1]:  # Excel leaves trailing separators behind
        columns.pop()
    if not columns:
        raise ImportFileRefused(gettext("The file is empty."), code="empty_file")
    if "" in columns:
        raise ImportFileRefused(
            gettext("Column %(number)s has no name in the header row.") % {"number": columns.index("") + 1},
            code="header",
        )
    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    if duplicated:
        raise ImportFileRefused(
            gettext("These columns appear more than once: %(columns)s.") % {"columns": ", ".join(duplicated)},
            code="header",
        )
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise ImportFileRefused(
            gettext("The required column %(columns)s is missing from the header row.")
            % {"columns": ", ".join(missing)},
            code="missing_column",
        )
    unknown = [name for name in columns if name not in COLUMNS and name not in EXPORT_ONLY_COLUMNS]
    if unknown:
        raise ImportFileRefused(
            gettext("Unknown columns: %(unknown)s. Accepted columns: %(accepted)s.")
            % {"unknown": ", ".join(unknown), "accepted": ", ".join(COLUMNS)},
            code="unknown_column",
        )
    return columns


def import_phone(raw: str) -> str:
    """Return the E.164 phone of a cell; digits that already carry a country code are accepted too.

    Raises InvalidPhone.
    """
    phone = fast_import_phone(raw.strip(), settings.PHONE_DEFAULT_REGION)
    if phone is not None:
        return phone
    return _slow_import_phone(raw)


def _slow_import_phone(raw: str) -> str:
    """Return import_phone(raw) as phonenumbers decides it (the reference the fast path must agree with)."""
    try:
        return normalize_phone(raw)
    except InvalidPhone:
        digits = raw.strip()
        if DIGITS_RE.match(digits) and len(digits) > 8:
            return normalize_phone("+" + digits)
        raise


def _iso_date(raw: str) -> date | None:
    """Return the date of a real YYYY-MM-DD cell (the shape most files hold), read in C; None for anything else.

    The shape is checked first: date.fromisoformat also reads YYYYMMDD and week dates, which DATE_RE refuses.
    """
    if len(raw) != 10 or raw[4] != "-" or raw[7] != "-" or not raw.isascii():
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None  # DATE_RE decides which message


def _birthday(raw: str, today: date):
    value = _iso_date(raw)
    if value is None:
        match = DATE_RE.match(raw)
        if not match:
            return None, gettext("“%(value)s” is not a date in the form YYYY-MM-DD.") % {"value": raw}
        try:
            value = date(*(int(part) for part in match.groups()))
        except ValueError:
            return None, gettext("“%(value)s” is not a real date.") % {"value": raw}
    problem = birthday_problem(value, today=today)
    if problem:
        return None, problem
    return value, None


class _Lookups:
    """Tier and store codes, read once per file (exact code first, then case-insensitive)."""

    def __init__(self):
        self.tiers = dict(Tier.objects.values_list("code", "pk"))
        self.stores = dict(Store.objects.values_list("code", "pk"))
        self.tiers_ci = {code.lower(): pk for code, pk in self.tiers.items()}
        self.stores_ci = {code.lower(): pk for code, pk in self.stores.items()}

    def tier(self, code):
        return self.tiers.get(code) or self.tiers_ci.get(code.lower())

    def store(self, code):
        return self.stores.get(code) or self.stores_ci.get(code.lower())


class _RowValidator:
    """Check the cells of one row at a time; what a file repeats (codes, dates, tags) is worked out once."""

    def __init__(self, columns, *, lookups, today, scope):
        self.phone_at = columns.index("phone")  # a required column
        checks = {
            "name": self._name,
            "gender": self._gender,
            "birthday": self._birthday,
            "email": self._email,
            "locale": self._locale,
            "tier": self._tier,
            "store": self._store,
            "tags": self._tags,
            **{column: partial(self._consent, column) for column in CONSENT_COLUMNS},
            "opening_points": self._opening_points,
        }
        # (position, check) of each other column the file has, in the order of COLUMNS (the order of a row's errors)
        self.checks = [(columns.index(name), checks[name]) for name in COLUMNS if name != "phone" and name in columns]
        self.lookups = lookups
        self.today = today
        self.scope = scope
        # Per-run memos of pure functions of one cell (a file repeats these often).
        self.birthdays = {}
        self.tags = {}

    def validate(self, data: DataRow, errors) -> MemberRow:
        """Return the row's MemberRow, appending a RowError per faulty cell to `errors`."""
        member = MemberRow(data.row, data.index, data.phone, {})
        cells = data.cells
        if not data.phone:
            raw = cells[self.phone_at]
            if raw:
                message = gettext("“%(value)s” is not a valid phone number.") % {"value": raw}
            else:
                message = gettext("The phone is missing.")
            errors.append(RowError(data.row, "phone", message))
        for position, check in self.checks:
            raw = cells[position]
            if raw:  # an empty cell leaves the member's value alone
                check(raw, member, errors)
        return member

    # Each check takes a non-empty cell, sets the member's value and appends a RowError when the cell is faulty.

    @staticmethod
    def _name(raw, member, errors):
        if len(raw) > MAX_NAME:
            message = gettext("The name is longer than %(max)s characters.") % {"max": MAX_NAME}
            errors.append(RowError(member.row, "name", message))
        member.values["name"] = raw

    @staticmethod
    def _gender(raw, member, errors):
        member.values["gender"] = value = GENDER_VALUES.get(raw) or GENDER_VALUES.get(raw.lower())
        if value is None:
            errors.append(RowError(member.row, "gender", gettext("“%(value)s” is not f, m or o.") % {"value": raw}))

    def _birthday(self, raw, member, errors):
        try:
            value, message = self.birthdays[raw]
        except KeyError:
            value, message = self.birthdays[raw] = _birthday(raw, self.today)
        member.values["birthday"] = value
        if message:
            errors.append(RowError(member.row, "birthday", message))

    @staticmethod
    def _email(raw, member, errors):
        if not _is_email(raw):
            message = gettext("“%(value)s” is not a valid e-mail address.") % {"value": raw}
            errors.append(RowError(member.row, "email", message))
        member.values["email"] = raw

    @staticmethod
    def _locale(raw, member, errors):
        member.values["locale"] = value = LOCALE_VALUES.get(raw) or LOCALE_VALUES.get(raw.lower().replace("_", "-"))
        if value is None:
            message = gettext("“%(value)s” is not en, zh-hant or zh-hans.") % {"value": raw}
            errors.append(RowError(member.row, "locale", message))

    def _tier(self, raw, member, errors):
        member.values["tier_id"] = value = self.lookups.tier(raw)
        if value is None:
            errors.append(RowError(member.row, "tier", gettext("No tier has the code “%(value)s”.") % {"value": raw}))

    def _store(self, raw, member, errors):
        member.values["home_store_id"] = value = self.lookups.store(raw)
        if value is None:
            errors.append(RowError(member.row, "store", gettext("No store has the code “%(value)s”.") % {"value": raw}))
        elif refusal := self.scope.store_refusal(value):
            errors.append(RowError(member.row, "store", refusal))

    def _tags(self, raw, member, errors):
        try:
            tags = self.tags[raw]
        except KeyError:
            tags = self.tags[raw] = tuple(dict.fromkeys(tag.strip() for tag in TAG_SPLIT_RE.split(raw) if tag.strip()))
        too_long = [tag for tag in tags if len(tag) > MAX_TAG]
        if too_long:
            message = gettext("The tag “%(tag)s” is longer than %(max)s characters.") % {
                "tag": too_long[0],
                "max": MAX_TAG,
            }
            errors.append(RowError(member.row, "tags", message))
        member.tags = tags

    @staticmethod
    def _consent(column, raw, member, errors):
        value = CONSENT_VALUES.get(raw)
        if value is None:
            value = CONSENT_VALUES.get(raw.lower())
            if value is None:
                message = gettext("“%(value)s” is not one of true/false, 1/0, yes/no, 是/否.") % {"value": raw}
                errors.append(RowError(member.row, column, message))
        member.values[column] = value

    @staticmethod
    def _opening_points(raw, member, errors):
        text = raw.replace(",", "")
        if text.startswith("-") and DIGITS_RE.match(text[1:]):
            message = gettext("Opening points cannot be negative (%(value)s).") % {"value": raw}
        elif not DIGITS_RE.match(text):
            message = gettext("“%(value)s” is not a whole number.") % {"value": raw}
        elif int(text) > MAX_OPENING_POINTS:
            message = gettext("%(value)s points is above the limit of %(max)s.") % {
                "value": raw,
                "max": MAX_OPENING_POINTS,
            }
        else:
            member.opening_points = int(text)
            return
        errors.append(RowError(member.row, "opening_points", message))


def _is_email(value: str) -> bool:
    """Return whether Django's EmailValidator (what the model field uses) accepts `value`.

    Plain ASCII addresses matching SIMPLE_EMAIL_RE (a subset of what the validator accepts) skip it.
    """
    if len(value) > MAX_EMAIL:
        return False
    if SIMPLE_EMAIL_RE.match(value):
        return True
    try:
        _email_validator(value)
    except ValidationError:
        return False
    return True


def parse_members_csv(text: str, *, today: date, scope: ImportScope | None = None) -> ParsedFile:
    """Read and validate every row (the store column within `scope`, all stores by default).

    Whether a row's phone belongs to a member the scope may change needs the database: check_existing.
    Raises ImportFileRefused on a file-level fault.
    """
    read = read_members_csv(text)
    rows, errors = validate_rows(read.columns, read.rows, today=today, scope=scope or ImportScope())
    return ParsedFile(columns=read.columns, total_rows=len(read.rows), rows=rows, errors=errors, sample=read.sample)


def read_members_csv(text: str) -> MembersFile:
    """Read the header and every non-blank data row, with each row's phone and the rows that repeat it.

    Raises ImportFileRefused on a file-level fault.
    """
    plan = plan_members_csv(text, keep_records=True)
    rows = chunk_data_rows(plan.chunks[0], columns=plan.columns) if plan.chunks else []
    return MembersFile(columns=plan.columns, rows=rows, sample=plan.sample)


def plan_members_csv(text: str, *, chunk_rows: int | None = None, keep_records: bool = False) -> FilePlan:
    """Find the header, the data rows' phones and the rows repeating one; cut the data rows into chunks of
    `chunk_rows` (one chunk when None), each carrying its records' text, or, with `keep_records` (one chunk only),
    the records as read, so that reading the whole file parses it once.

    A job reads only this much of its file before it hands out the chunks: each chunk's cells are stripped and
    checked where the chunk is written (chunk_data_rows, then validate_rows). Raises ImportFileRefused on a
    file-level fault.
    """
    delimiter = _sniff_delimiter(text)
    records = csv_records_ending(text, delimiter=delimiter)
    position = 0  # the record number (= the row number Excel shows) of the record in hand
    for cells, end in records:
        position += 1
        if any(cell.strip() for cell in cells):
            start = end  # of the header
            break
    else:
        raise ImportFileRefused(gettext("The file is empty."), code="empty_file")
    columns = _read_header(cells)
    plan = FilePlan(columns=columns, delimiter=delimiter)
    width = len(columns)
    phone_at = columns.index("phone")  # a required column
    phone_of = _phone_reader()
    phones = []  # of every data row
    first_rows = {}  # phone -> the first row holding it
    repeated = {}  # phone -> every row holding it, for the phones held by more than one row
    if keep_records and chunk_rows:
        raise ValueError("records are kept for one chunk only")
    chunk_rows = chunk_rows or math.inf
    chunk = FileChunk(number=0, text="", position=position, index=0, records=[] if keep_records else None)
    for cells, end in records:
        position += 1
        if keep_records:
            chunk.records.append(cells)
        raw = cells[phone_at].strip() if len(cells) > phone_at else ""
        if not raw and not any(cell.strip() for cell in cells):
            continue
        if len(plan.sample) < SAMPLE_ROWS:
            plan.sample.append((position, cells[:width] + [""] * (width - len(cells))))
        phone = phone_of(raw)
        phones.append(phone)
        if phone and first_rows.setdefault(phone, position) != position:
            repeated.setdefault(phone, [first_rows[phone]]).append(position)
        if len(phones) - chunk.index == chunk_rows:
            chunk.text = text[start:end]
            plan.chunks.append(chunk)
            chunk = FileChunk(number=chunk.number + 1, text="", position=position, index=len(phones))
            start = end
    if len(phones) > chunk.index:
        chunk.text = "" if keep_records else text[start:end]
        plan.chunks.append(chunk)
    plan.total_rows = len(phones)
    for chunk, stop in zip(plan.chunks, [*(chunk.index for chunk in plan.chunks[1:]), len(phones)], strict=True):
        chunk.phones = phones[chunk.index : stop]
        if repeated:
            chunk.repeated = {
                phone: (len(repeated[phone]), repeated[phone][: REPEATS_LISTED + 1])
                for phone in chunk.phones
                if phone in repeated
            }
    return plan


def chunk_data_rows(chunk: FileChunk, *, columns: list, delimiter: str = ",") -> list[DataRow]:
    """Return the data rows of `chunk` (cut by plan_members_csv), each cell stripped, cut or padded to the header's
    width."""
    width = len(columns)
    rows = []
    position = chunk.position
    records = chunk.records if chunk.records is not None else csv_records(chunk.text, delimiter=delimiter)
    for cells in records:
        position += 1
        stripped = [cell.strip() for cell in cells]  # one strip per cell
        if not any(stripped):
            continue
        overflow = 0
        if len(stripped) > width:
            overflow = next((width + number for number, cell in enumerate(stripped[width:], start=1) if cell), 0)
            del stripped[width:]
        else:
            stripped.extend([""] * (width - len(stripped)))
        phone = chunk.phones[len(rows)]
        data = DataRow(position, chunk.index + len(rows), stripped, overflow, phone)
        if chunk.repeated and phone in chunk.repeated:
            holders, first = chunk.repeated[phone]
            data.repeats = tuple(row for row in first if row != position)[:REPEATS_LISTED]
            data.repeats_unlisted = holders - 1 - len(data.repeats)
        rows.append(data)
    return rows


def _phone_reader():
    """Return cell -> E.164 phone ("" when empty or not a phone), memoised (a file repeats phones rarely)."""
    region = settings.PHONE_DEFAULT_REGION
    phones = {"": ""}

    def phone_of(raw: str) -> str:
        phone = phones.get(raw)
        if phone is not None:
            return phone
        phone = fast_import_phone(raw, region)  # cells are stripped already
        if phone is None:
            try:
                phone = _slow_import_phone(raw)
            except InvalidPhone:
                phone = ""
        phones[raw] = phone
        return phone

    return phone_of


def validate_rows(columns: list, rows: list, *, today: date, scope: ImportScope) -> tuple[list, list]:
    """Check the cells of `rows` (DataRows of one file): return the valid rows' MemberRows and the row errors.

    The errors come in row order, each row's in the order of its cells, the phone repeated by other rows last.
    """
    validator = _RowValidator(columns, lookups=_Lookups(), today=today, scope=scope)
    valid = []
    errors = []
    for data in rows:
        error_count = len(errors)
        if data.overflow:
            column = gettext("column %(number)d") % {"number": data.overflow}
            message = gettext("The row has more cells than the header row has columns.")
            errors.append(RowError(data.row, column, message))
        if CONTROL_CHARACTERS_RE.search("".join(data.cells)):  # rare: then find the cells
            _control_characters(data.cells, columns, data.row, errors)
        member = validator.validate(data, errors)
        if data.repeats:
            errors.append(RowError(data.row, "phone", _repeats_message(data)))
        if len(errors) == error_count:
            valid.append(member)
    return valid, errors


def _repeats_message(data: DataRow) -> str:
    others = ", ".join(map(str, data.repeats))
    if data.repeats_unlisted:
        return ngettext(
            "The phone %(phone)s also appears in rows %(rows)s and %(more)s more row of this file.",
            "The phone %(phone)s also appears in rows %(rows)s and %(more)s more rows of this file.",
            data.repeats_unlisted,
        ) % {"phone": data.phone, "rows": others, "more": data.repeats_unlisted}
    return ngettext(
        "The phone %(phone)s also appears in row %(rows)s of this file.",
        "The phone %(phone)s also appears in rows %(rows)s of this file.",
        len(data.repeats),
    ) % {"phone": data.phone, "rows": others}


def _control_characters(cells, columns, row_number, errors):
    """Report each cell of a row that holds a control character (the value as it would be stored)."""
    for column, cell in zip(columns, cells, strict=False):
        code = control_character(cell)
        if code is not None:
            errors.append(RowError(row_number, column, control_character_message(code)))


def check_existing(parsed: ParsedFile, *, scope: ImportScope) -> dict:
    """Return phone -> home store id of the members the valid rows' phones already belong to.

    Rows whose member the scope may not change become row errors (and leave parsed.rows): the preview and
    the job both call this after parse_members_csv, so they count the same rows; the job's chunks ask the
    same scope again under the members' locks. One query per EXISTING_CHUNK phones.
    """
    phones = [row.phone for row in parsed.rows]
    existing = {}
    for start in range(0, len(phones), EXISTING_CHUNK):
        chunk = phones[start : start + EXISTING_CHUNK]
        existing.update(Member.objects.filter(field_in(Member, "phone", chunk)).values_list("phone", "home_store_id"))
    refused = []
    for row in parsed.rows:
        if row.phone in existing and (refusal := scope.member_refusal(existing[row.phone])):
            refused.append(RowError(row.row, "phone", refusal))
    if refused:
        rows = {error.row for error in refused}
        parsed.rows = [row for row in parsed.rows if row.row not in rows]
        parsed.errors.extend(refused)
        parsed.errors.sort(key=lambda error: error.row)
        for phone in [phone for phone, store_id in existing.items() if scope.member_refusal(store_id)]:
            del existing[phone]
    return existing


def count_data_rows(text: str) -> int:
    """Return the number of non-blank data rows (cheap: no validation).

    Without a quote character every line (ended by CR, LF or CRLF, where the csv module ends a record) is
    one record whose cells are the line split at the delimiter, so a line is blank exactly when it holds
    nothing but delimiters and whitespace: counted without the csv module, ten times faster. Files with
    quotes (or a line longer than the csv module's field limit) are counted by the csv module.
    Raises ImportFileRefused when the csv module cannot read the file.
    """
    delimiter = _sniff_delimiter(text)
    if '"' not in text:
        lines = csv_lines(text)
        if not lines or max(map(len, lines)) <= csv.field_size_limit():
            rows = sum(1 for line in lines if line.replace(delimiter, "").strip())
            return max(rows - 1, 0)
    reader = csv_records(text, delimiter=delimiter)
    rows = sum(1 for cells in reader if any(cell.strip() for cell in cells))
    return max(rows - 1, 0)
