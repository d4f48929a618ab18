"""One parser for the preview and the job: csv-module line handling, control characters refused (issue 12, D7, D8).

A record ends only where the csv module ends it (CR, LF, CRLF outside quotes), never at a vertical tab or a
Unicode line separator; a cell holding a control character (NUL among them) is a row error naming its row
and column; the background job imports the other rows; a job that still stops says where and why.
"""

from datetime import UTC, datetime

import pytest
from django.db import DataError
from django.utils import translation

from members.imports.validation import chunk_data_rows, count_data_rows, plan_members_csv, read_members_csv
from members.models import Member, MemberImportJob
from members.services.member_import import member_import_preview
from tests.factories import MemberFactory
from tests.members.import_helpers import csv_bytes, run_import

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 6, 1, 4, 0, tzinfo=UTC)


def _control_message(code):
    if code in ("U+000A", "U+000D"):
        return (
            'The cell runs over several lines of the file: a quote (") opened in this row is not closed, so the rows '
            "after it were read into this cell. Close or remove the quote and import the file again."
        )
    return (
        f"The cell holds an invisible control character ({code}). Delete it (retype the value) and import the "
        "file again."
    )


def _run_in_background(settings, capture, data, **kwargs):
    settings.MEMBER_IMPORT_BACKGROUND_ROWS = 1
    with capture(execute=True):
        job = run_import(data, now=NOW, **kwargs)
    job.refresh_from_db()
    return job


def test_nul_byte_in_a_cell_is_a_row_error_and_the_job_imports_the_other_rows(
    settings, django_capture_on_commit_callbacks
):
    # given a file whose second data row holds a NUL byte in its name
    data = csv_bytes("phone,name", "91234567,Ann", "61234567,B\x00b", "63000001,Cy")

    # when it is previewed, then imported in the background
    preview = member_import_preview(data=data, now=NOW)
    job = _run_in_background(settings, django_capture_on_commit_callbacks, data)

    # then the preview and the job report that row and column, and the job imports the other rows
    expected = [{"row": 3, "column": "name", "message": _control_message("U+0000")}]
    assert [error.as_dict() for error in preview.errors] == expected
    assert (job.status, job.created_count, job.error_count, job.errors) == ("done", 2, 1, expected)
    assert sorted(Member.objects.values_list("name", flat=True)) == ["Ann", "Cy"]


def test_a_background_job_reports_in_the_language_of_the_staff_member_who_started_it(
    settings, django_capture_on_commit_callbacks
):
    # given an import started by staff working in Traditional Chinese, its chunks left to a worker
    settings.MEMBER_IMPORT_BACKGROUND_ROWS = 1
    data = csv_bytes("phone,name", "91234567,Ann", "61234567,B\x00b")
    with translation.override("zh-hant"), django_capture_on_commit_callbacks() as queued:
        job = run_import(data, now=NOW)

    # when the worker runs them, in no staff member's language
    for task in queued:
        task()

    # then the row error reads in Traditional Chinese
    job.refresh_from_db()
    assert (job.status, job.language) == ("done", "zh-hant")
    assert job.errors == [
        {
            "row": 3,
            "column": "name",
            "message": "此儲存格含有看不見的控制字元（U+0000）。請刪除它（重新輸入該值），然後再次匯入檔案。",
        }
    ]


@pytest.mark.parametrize(
    ("cell", "code"),
    [
        ("Ann\x0bLee", "U+000B"),
        ("Ann\x0cLee", "U+000C"),
        ("Ann\x1eLee", "U+001E"),
        ("Ann\x85Lee", "U+0085"),
        ("Ann\u2028Lee", "U+2028"),
        ("Ann\u2029Lee", "U+2029"),
        ('"Ann\u2028Lee"', "U+2028"),
        ('"Ann\nLee"', "U+000A"),
        ('"Ann\tLee"', "U+0009"),
    ],
)
def test_line_breaking_characters_inside_a_cell_do_not_split_the_row_and_are_refused(cell, code):
    # given a name holding a character str.splitlines breaks at, between two good rows
    data = csv_bytes("phone,name,email", f"91234567,{cell},ann@example.com", "61234567,Bob,")

    # when imported
    job = run_import(data, now=NOW)

    # then the file has its two rows, the name is refused whole on its own row, and the other row is written
    assert job.total_rows == 2
    assert job.errors == [{"row": 2, "column": "name", "message": _control_message(code)}]
    assert list(Member.objects.values_list("name", flat=True)) == ["Bob"]


def test_a_quote_left_open_is_named_on_the_row_that_swallowed_the_rows_after_it():
    # given a name typed with an opening quote and no closing one, before two good rows
    data = csv_bytes("phone,name", '91234567,"Ann', "61234567,Bob", "62345678,Cy")

    # when imported
    job = run_import(data, now=NOW)

    # then the row with the quote says what happened to the rows after it, and nothing is written
    assert job.errors == [{"row": 2, "column": "name", "message": _control_message("U+000A")}]
    assert not Member.objects.exists()


def test_whitespace_controls_around_a_value_are_trimmed_like_spaces():
    # given a name ending in a vertical tab (what Excel leaves from a line break typed in a cell)
    data = csv_bytes("phone,name", "91234567,Ann\x0b")

    # when imported; then the name is kept without it
    run_import(data, now=NOW)
    assert Member.objects.get().name == "Ann"


@pytest.mark.parametrize(
    "text",
    [
        "phone,name\r\n91234567,Ann\x0bLee\r\n61234567,Bob\r\n",
        "phone,name\n91234567,Ann\u2028Lee\n\x1c\n61234567,Bob\x85Lee\n",
        'phone,name\r\n91234567,"Ann\u2028\r\nLee"\r\n61234567,"B\x0bob"\r\n',
        "phone,name\r91234567,Ann\r61234567,Bob\r",
    ],
)
def test_counted_rows_are_the_rows_the_parser_reads(text):
    # given files with characters str.splitlines breaks at; when counted and previewed
    preview = member_import_preview(data=text.encode(), now=NOW)

    # then the cheap count (which sizes the job) is the parser's count
    assert count_data_rows(text) == preview.total_rows == 2


TRICKY_FILE = (
    "\r\n , \r\n"  # blank records before the header
    "phone,name,tags\r\n"
    "91234567,Ann,vip\r\n"
    '61234567,"Bob\r\nLee",\r\n'  # a quoted cell over two lines
    "\r\n"  # a blank record
    ",,\n"  # another, ended by LF
    "+852 9123 4567,Ann again\r"  # row 8 repeats row 4's phone, written another way; ended by CR
    '51234567,"Cy, ""the"" third",x\r\n'
    "not-a-phone,Dee,,extra\r\n"  # a cell past the header
    ",Eve,\r\n"  # no phone
    "81234567,Fay"  # short row, no line end
    "\r\n\r\n"  # trailing blank records
)


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 4, 6, 7, 100])
def test_a_file_cut_into_chunks_reads_as_the_whole_file_reads(chunk_rows):
    # given a file with blank records, a quoted line break, every line end and a repeated phone
    whole = read_members_csv(TRICKY_FILE)

    # when the job cuts it into chunks and each chunk reads its own rows
    plan = plan_members_csv(TRICKY_FILE, chunk_rows=chunk_rows)
    rows = [row for chunk in plan.chunks for row in chunk_data_rows(chunk, columns=plan.columns)]

    # then the chunks hold the rows the whole file holds, with the same numbers, cells, phones and repeats
    assert len(plan.chunks) == -(-len(whole.rows) // chunk_rows)
    assert plan.total_rows == len(whole.rows) == count_data_rows(TRICKY_FILE) == 7
    assert rows == whole.rows
    assert [row.row for row in rows] == [4, 5, 8, 9, 10, 11, 12]
    assert [row.repeats for row in rows] == [(8,), (), (4,), (), (), (), ()]
    assert [row.index for row in rows] == list(range(7))


def test_preview_counts_equal_the_jobs_counts_on_the_same_file(settings, django_capture_on_commit_callbacks):
    # given a file with an update, new rows, a duplicate phone, a control character and a bad phone
    MemberFactory(phone="+85291234567")
    data = csv_bytes(
        "phone,name",
        "91234567,Known",
        "61234567,New\u2028Line",
        "63000001,Cy",
        "63000002,Di",
        "63000002,Di again",
        "12,Bad",
        "63000003,\x00",
    )

    # when previewed and imported in the background
    preview = member_import_preview(data=data, now=NOW)
    job = _run_in_background(settings, django_capture_on_commit_callbacks, data)

    # then they agree row for row
    assert (preview.total_rows, preview.new_count, preview.update_count, preview.error_rows) == (7, 1, 1, 5)
    assert (job.total_rows, job.created_count, job.updated_count, job.error_count) == (7, 1, 1, 5)
    assert [error.as_dict() for error in preview.errors] == job.errors


def test_a_row_the_database_refuses_is_a_row_error_and_the_others_are_written(
    settings, django_capture_on_commit_callbacks, monkeypatch
):
    # given a database that refuses one row's values (as PostgreSQL refuses what SQLite takes)
    from members.imports import writer

    real_write_chunk = writer.write_chunk

    def write_chunk(rows, *, context):
        if any(row.phone == "+85261234567" for row in rows):
            raise DataError("value too long for type character varying(100)")
        return real_write_chunk(rows, context=context)

    monkeypatch.setattr("members.services.member_import.write_chunk", write_chunk)
    data = csv_bytes("phone,name", "91234567,Ann", "61234567,Bob", "63000001,Cy", "63000002,Di")

    # when imported in the background
    job = _run_in_background(settings, django_capture_on_commit_callbacks, data)

    # then the job finishes, that row is reported with the database's reason, and the others are written
    assert (job.status, job.created_count, job.error_count) == ("done", 3, 1)
    assert job.errors == [
        {
            "row": 3,
            "column": "",
            "message": "The database refused this row: value too long for type character varying(100)",
        }
    ]
    assert sorted(Member.objects.values_list("name", flat=True)) == ["Ann", "Cy", "Di"]


def test_a_job_that_stops_says_which_rows_and_why_without_asking_to_run_it_again(
    settings, django_capture_on_commit_callbacks, monkeypatch
):
    # given a chunk writer that fails on something no re-run changes
    def write_chunk(rows, *, context):
        raise ValueError("tag table is missing")

    monkeypatch.setattr("members.services.member_import.write_chunk", write_chunk)

    # when a job runs
    job = _run_in_background(settings, django_capture_on_commit_callbacks, csv_bytes("phone", "91234567", "61234567"))

    # then it failed naming the rows and the cause, and does not promise that running it again helps
    assert job.status == MemberImportJob.Status.FAILED
    assert job.message == (
        "The import stopped at rows 2 to 3: tag table is missing. The rows before them are imported. Running it "
        "again would stop at the same rows: send this message to your administrator."
    )


def test_a_job_stopped_by_the_database_connection_says_to_run_it_again(
    settings, django_capture_on_commit_callbacks, monkeypatch
):
    # given a chunk writer that loses its database connection
    from django.db import OperationalError

    def write_chunk(rows, *, context):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("members.services.member_import.write_chunk", write_chunk)

    # when a job runs
    job = _run_in_background(settings, django_capture_on_commit_callbacks, csv_bytes("phone", "91234567", "61234567"))

    # then the message says what happened and that running it again finishes it
    assert job.status == MemberImportJob.Status.FAILED
    assert "rows 2 to 3" in job.message
    assert "server closed the connection unexpectedly" in job.message
    assert "run the import again to finish it" in job.message


def test_coupon_member_lists_end_rows_where_the_member_import_does():
    # given a list of phones saved with classic Mac line ends (CR), one with a vertical tab
    from coupons.services.bulk import member_list_resolve

    known = MemberFactory(phone="+85291234567")
    other = MemberFactory(phone="+85261234567")

    # when the list is read
    member_ids, errors = member_list_resolve(data=b"phone\r91234567\r61234567\r6300\x0b0001\r")

    # then every line is a row, and the cell with the vertical tab is one value (not found)
    assert member_ids == sorted([known.pk, other.pk])
    assert [(error["row"], error["value"]) for error in errors] == [(4, "6300\x0b0001")]


def test_points_grant_lists_end_rows_where_the_member_import_does():
    # given a grant list saved with CR line ends
    from points.models import PointsGrantJob
    from points.services.grants import grant_members_resolve

    known = MemberFactory(phone="+85291234567")
    other = MemberFactory(phone="+85261234567")
    job = PointsGrantJob(audience=PointsGrantJob.Audience.LIST, member_list="phone\r91234567\r61234567\r")

    # when resolved; then both rows are found
    assert grant_members_resolve(job=job) == (sorted([known.pk, other.pk]), [])
