"""Exports staff open in a spreadsheet: what a member or staff member typed is text there, never a formula, and an
exported file reads back as it was."""

import pytest

from infra.csv_exports import formula_escape, formula_unescape
from infra.csv_uploads.reading import csv_records


@pytest.mark.parametrize(
    ("typed", "written"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTab", "'\tTab"),
        ("+85291234567", "+85291234567"),  # a phone: a plain signed number carries no formula
        ("-5", "-5"),
        ("Ann = Bob", "Ann = Bob"),
        ("'quoted", "'quoted"),
        (42, 42),
    ],
)
def test_a_cell_that_starts_like_a_formula_is_written_as_text(typed, written):
    assert formula_escape(typed) == written


@pytest.mark.parametrize("typed", ["=Ann", "-VIP", "@home", "+852 9123 4567", "'quoted", "''=twice", "+85291234567"])
def test_a_cell_reads_back_as_it_was_typed(typed):
    assert formula_unescape(formula_escape(typed)) == typed


def test_records_of_a_file_read_escaped_formulas_back():
    text = "phone,name,tags\r\n+85291234567,'=Ann,'-VIP\r\n+85291234568,'quoted,x\r\n"

    assert list(csv_records(text)) == [
        ["phone", "name", "tags"], ["+85291234567", "=Ann", "-VIP"], ["+85291234568", "'quoted", "x"],
    ]  # fmt: skip
