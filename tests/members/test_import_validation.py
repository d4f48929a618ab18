"""Member CSV import: bad rows are reported by row and column and not written; bad files are refused."""

import csv
import io
from datetime import UTC, date, datetime

import pytest

from infra.csv_uploads.decoding import ImportFileRefused, decode
from members.imports.validation import _birthday, _sniff_delimiter, count_data_rows
from members.models import Member, PointsEntry, Tag
from members.services.member_import import member_import_preview
from tests.factories import MemberFactory, StoreFactory, TierFactory
from tests.members.import_helpers import csv_bytes, run_import

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 6, 1, 4, 0, tzinfo=UTC)  # noon in Hong Kong
GOOD = "91234567,Good Row,,,,,,,vip,,,,,10"
HEADER = (
    "phone,name,gender,birthday,email,locale,tier,store,tags,"
    "consent_marketing,consent_sms,consent_email,consent_wechat,opening_points"
)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("1990-05-01", (date(1990, 5, 1), None)),
        ("1990/5/1", (date(1990, 5, 1), None)),
        ("1990-5-01", (date(1990, 5, 1), None)),
        ("１９９０-05-01", (date(1990, 5, 1), None)),  # full-width digits, as the pattern's \d reads them
        ("2023-02-30", (None, "“2023-02-30” is not a real date.")),
        ("1899-12-31", (None, "1899-12-31 is before 1900.")),
        # Shapes date.fromisoformat reads and the import does not:
        ("19900501", (None, "“19900501” is not a date in the form YYYY-MM-DD.")),
        ("1990-W18-2", (None, "“1990-W18-2” is not a date in the form YYYY-MM-DD.")),
        ("1990-05-01T00:00", (None, "“1990-05-01T00:00” is not a date in the form YYYY-MM-DD.")),
    ],
)
def test_a_birthday_cell_is_read_alike_on_the_quick_path_and_the_pattern(cell, expected):
    """Cells shaped YYYY-MM-DD are read by date.fromisoformat (the shape most files hold), every other cell by the
    pattern: a cell means the same date, or gets the same message, either way."""
    assert _birthday(cell, date(2026, 1, 1)) == expected


@pytest.mark.parametrize(
    ("bad_row", "column", "message"),
    [
        ("9123,Bad,,,,,,,,,,,,", "phone", "“9123” is not a valid phone number."),
        ("abc,Bad,,,,,,,,,,,,", "phone", "“abc” is not a valid phone number."),
        (",Bad,,,,,,,,,,,,", "phone", "The phone is missing."),
        ("61234567,Bad,,,,,,NOPE,,,,,,", "store", "No store has the code “NOPE”."),
        ("61234567,Bad,,,,,V9,,,,,,,", "tier", "No tier has the code “V9”."),
        ("61234567,Bad,,2023-02-30,,,,,,,,,,", "birthday", "“2023-02-30” is not a real date."),
        ("61234567,Bad,,2030-01-01,,,,,,,,,,", "birthday", "2030-01-01 is in the future."),
        ("61234567,Bad,,30/01/1990,,,,,,,,,,", "birthday", "“30/01/1990” is not a date in the form YYYY-MM-DD."),
        ("61234567,Bad,,,not-an-email,,,,,,,,,", "email", "“not-an-email” is not a valid e-mail address."),
        ("61234567,Bad,,,,,,,,maybe,,,,", "consent_marketing", "“maybe” is not one of true/false, 1/0, yes/no, 是/否."),
        ("61234567,Bad,,,,,,,,,,,2,", "consent_wechat", "“2” is not one of true/false, 1/0, yes/no, 是/否."),
        ("61234567,Bad,,,,,,,,,,,,-5", "opening_points", "Opening points cannot be negative (-5)."),
        ("61234567,Bad,,,,,,,,,,,,1.5", "opening_points", "“1.5” is not a whole number."),
        ("61234567,Bad,x,,,,,,,,,,,", "gender", "“x” is not f, m or o."),
        ("61234567,Bad,,,,fr,,,,,,,,", "locale", "“fr” is not en, zh-hant or zh-hans."),
        # 14 columns in the header; the 16th cell is the first that holds something past them
        ("61234567,Bad,,,,,,,,,,,,,,stray", "column 16", "The row has more cells than the header row has columns."),
    ],
)
def test_bad_row_is_reported_with_row_and_column_and_not_written(bad_row, column, message):
    # given a file whose second data row (row 3 in Excel) is bad
    data = csv_bytes(HEADER, GOOD, bad_row)

    # when it is imported
    job = run_import(data, now=NOW)

    # then the good row is written with its tag and opening balance, the bad one not at all
    assert job.status == "done"
    assert (job.created_count, job.error_count) == (1, 1)
    assert job.errors == [{"row": 3, "column": column, "message": message}]
    assert list(Member.objects.values_list("phone", flat=True)) == ["+85291234567"]
    assert list(PointsEntry.objects.values_list("idempotency_key", "delta")) == [("opening:+85291234567", 10)]
    assert list(Tag.objects.values_list("name", flat=True)) == ["vip"]


def test_duplicate_phone_within_file_rejects_both_rows_naming_each_other():
    # given the same phone twice, once in another format
    data = csv_bytes("phone,name", "91234567,First", "61234567,Other", "+852 9123 4567,Second")

    # when it is imported
    job = run_import(data, now=NOW)

    # then both rows are reported, each naming the other, and neither is written
    assert job.errors == [
        {"row": 2, "column": "phone", "message": "The phone +85291234567 also appears in row 4 of this file."},
        {"row": 4, "column": "phone", "message": "The phone +85291234567 also appears in row 2 of this file."},
    ]
    assert list(Member.objects.values_list("phone", flat=True)) == ["+85261234567"]


def test_a_phone_many_rows_share_names_the_first_five_others_and_counts_the_rest(settings):
    # given the shop's own phone on 30 rows (staff typed it for members who gave none), among good rows
    settings.MEMBER_IMPORT_BACKGROUND_ROWS = 10_000
    lines = ["23456789,Walk-in" for _ in range(30)] + ["91234567,Good"]

    # when it is imported
    job = run_import(csv_bytes("phone,name", *lines), now=NOW)

    # then every row holding it is refused, naming five of the others and how many more there are
    messages = {error["row"]: error["message"] for error in job.errors}
    assert sorted(messages) == list(range(2, 32))
    assert messages[2] == "The phone +85223456789 also appears in rows 3, 4, 5, 6, 7 and 24 more rows of this file."
    assert messages[5] == "The phone +85223456789 also appears in rows 2, 3, 4, 6, 7 and 24 more rows of this file."
    assert messages[31] == "The phone +85223456789 also appears in rows 2, 3, 4, 5, 6 and 24 more rows of this file."
    assert list(Member.objects.values_list("phone", flat=True)) == ["+85291234567"]


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("zh-hant", "手機號碼 +85223456789 亦出現在此檔案的第 3, 4, 5, 6, 7 行及另外 1 行。"),
        ("zh-hans", "手机号 +85223456789 也出现在该文件的第 3, 4, 5, 6, 7 行及另外 1 行。"),
    ],
)
def test_the_count_of_more_rows_is_translated(language, expected):
    from django.utils import translation

    lines = ["23456789,Walk-in" for _ in range(7)]
    with translation.override(language):
        preview = member_import_preview(data=csv_bytes("phone,name", *lines), now=NOW)

    assert preview.errors[0].message == expected


def test_row_numbers_count_blank_lines_like_excel():
    # given a blank line between the header and a bad row
    data = csv_bytes("phone,name", "", "123,Bad")

    # when previewed
    preview = member_import_preview(data=data, now=NOW)

    # then the error is on row 3 (header 1, blank 2)
    assert [(e.row, e.column) for e in preview.errors] == [(3, "phone")]


def test_valid_codes_are_matched_and_consents_parsed():
    # given an existing tier and store
    tier = TierFactory(code="V2", rank=2)
    store = StoreFactory(code="causeway")
    data = csv_bytes(
        "phone,tier,store,consent_marketing,consent_sms,consent_email,consent_wechat,birthday",
        "91234567,V2,causeway,是,yes,1,否,1990-05-17",
    )

    # when imported
    run_import(data, now=NOW)

    # then the member carries them
    member = Member.objects.get()
    assert (member.tier_id, member.home_store_id) == (tier.pk, store.pk)
    assert (member.consent_marketing, member.consent_sms, member.consent_email, member.consent_wechat) == (
        True,
        True,
        True,
        False,
    )
    assert member.consent_updated_at == NOW
    assert str(member.birthday) == "1990-05-17"


@pytest.mark.parametrize(
    ("data", "code", "message"),
    [
        (b"", "empty_file", "The file is empty."),
        (b"\r\n  \r\n", "empty_file", "The file is empty."),
        (csv_bytes("name,email", "Ann,ann@example.com"), "missing_column", "The required column phone is missing"),
        (csv_bytes("phone,name,shoe_size", "91234567,Ann,38"), "unknown_column", "Unknown columns: shoe_size."),
        (csv_bytes("phone,name,name", "91234567,Ann,Ann"), "header", "These columns appear more than once: name."),
        (
            b"phone,name\r\n91234567,\xff\xfe\xfa\r\n",
            "undecodable",
            "The file is neither UTF-8, Big5 nor GB18030 (undecodable bytes on line 2)",
        ),
    ],
)
def test_file_level_fault_refuses_the_whole_file(data, code, message):
    # given a broken file; when previewed; then it is refused with a clear message
    with pytest.raises(ImportFileRefused) as refused:
        member_import_preview(data=data, now=NOW)
    assert refused.value.code == code
    assert str(refused.value.message).startswith(message)


def test_file_above_the_size_limit_is_refused_and_nothing_written(settings):
    # given a limit smaller than the file
    settings.MEMBER_IMPORT_MAX_BYTES = 20
    data = csv_bytes("phone,name", "91234567,Ann", "61234567,Bob")

    # when imported; then it is refused and no member is written
    with pytest.raises(ImportFileRefused) as refused:
        run_import(data, now=NOW)
    assert refused.value.code == "file_too_large"
    assert Member.objects.count() == 0


def test_refused_file_in_a_background_job_marks_it_failed_and_writes_nothing(
    settings, django_capture_on_commit_callbacks
):
    # given a file with an unknown column, big enough for the background
    settings.MEMBER_IMPORT_BACKGROUND_ROWS = 1
    data = csv_bytes("phone,shoe", "91234567,38", "61234567,40")

    # when imported (the Celery task runs eagerly once the transaction commits)
    with django_capture_on_commit_callbacks(execute=True):
        job = run_import(data, now=NOW)
    job.refresh_from_db()

    # then the job failed with the reason
    assert job.status == "failed"
    assert job.message.startswith("Unknown columns: shoe.")
    assert Member.objects.count() == 0


@pytest.mark.parametrize(
    ("encoding_choice", "codec", "name"),
    [
        ("auto", "utf-8-sig", "陳大文"),
        ("auto", "utf-8", "陳大文"),
        ("big5", "cp950", "陳大文"),
        ("gb18030", "gb18030", "陈大文"),
    ],
)
def test_encodings_are_read_correctly(encoding_choice, codec, name):
    # given a file in the encoding (UTF-8 with and without BOM, Big5, GB18030)
    data = csv_bytes("phone,name", f"91234567,{name}", encoding=codec)

    # when imported with that choice
    job = run_import(data, now=NOW, encoding=encoding_choice)

    # then the name is read as written
    assert job.status == "done"
    assert Member.objects.get().name == name


# Names as Excel writes them on Traditional (Big5) and Simplified (GB18030) Chinese Windows, several per file as in
# a real member list; the last GB18030 name holds a GBK character outside GB2312 (喆).
BIG5_NAMES = ["陳大文", "李小明", "張美玲", "黃志強", "梁朝偉"]
GB_NAMES = ["陈大文", "李小明", "张美玲", "黄志强", "刘德华"]


@pytest.mark.parametrize(
    ("names", "codec", "detected"),
    [
        (BIG5_NAMES, "cp950", "big5"),
        (GB_NAMES, "gb18030", "gb18030"),
        ([*GB_NAMES, "王喆"], "gb18030", "gb18030"),
        (["會員陳小姐"], "gb18030", "gb18030"),  # traditional characters saved by a Simplified Chinese Excel
        (BIG5_NAMES, "utf-8", "utf-8"),
    ],
)
def test_auto_detection_reads_big5_and_gb18030_files_as_excel_writes_them(names, codec, detected):
    # given a member list saved in that encoding
    rows = [f"9123456{index},{name}" for index, name in enumerate(names)]
    data = csv_bytes("phone,name", *rows, encoding=codec)

    # when decoded with the default (auto) choice
    text, used = decode(data)

    # then every name is read as written, and the encoding is named
    assert used == detected
    assert [line.split(",")[1] for line in text.splitlines()[1:]] == names


def test_a_big5_file_imported_with_auto_detection_keeps_its_names():
    data = csv_bytes("phone,name", "91234567,陳大文", "91234568,張美玲", encoding="cp950")

    job = run_import(data, now=NOW)

    assert job.status == "done"
    assert sorted(Member.objects.values_list("name", flat=True)) == ["張美玲", "陳大文"]


def test_preview_counts_new_updated_and_errors_without_writing():
    # given one known member
    MemberFactory(phone="+85291234567")
    data = csv_bytes("phone,name", "91234567,Known", "61234567,New", "12,Bad")

    # when previewed
    preview = member_import_preview(data=data, now=NOW)

    # then the counts say what confirming would do, and nothing is written
    assert (preview.total_rows, preview.new_count, preview.update_count, preview.error_rows) == (3, 1, 1, 1)
    assert [row for row, _cells in preview.sample] == [2, 3, 4]
    assert Member.objects.count() == 1


@pytest.mark.parametrize(
    "text",
    [
        "phone,name\r\n91234567,Ann\r\n\r\n,,\r\n , \t\r\n61234567,Bob\r\n",
        "phone;name\n91234567;Ann\n;\n\n",
        "phone\tname\n91234567\tAnn\x0c\n\x1c\n\x85x\n",
        'phone,name\r\n91234567,"Ann\r\n\r\nLee"\r\n"",""\r\n',
        "phone,name",
        "\n\n",
        "phone,name\r\n" + "9" * 140_000 + ",x\r\n",
        "phone,name\r91234567,Ann\x0bLee\r\x1c\r61234567,B\u2028ob\r",
    ],
)
def test_counted_rows_are_the_non_blank_rows_the_csv_module_reads(text):
    # given a file with blank, delimiter-only, whitespace and quoted rows; when counted
    # then the count is the csv module's number of non-blank records after the header (a file opened with
    # newline="", as the csv module asks: records end at CR, LF or CRLF only), or the file is refused
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text))
    try:
        expected = max(sum(1 for cells in reader if any(cell.strip() for cell in cells)) - 1, 0)
    except csv.Error:
        with pytest.raises(ImportFileRefused):
            count_data_rows(text)
        return
    assert count_data_rows(text) == expected
