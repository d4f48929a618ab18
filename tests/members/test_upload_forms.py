"""Every CSV upload of the console offers the same encodings and refuses empty or oversized files before reading."""

from django.core.files.uploadedfile import SimpleUploadedFile

from coupons.admin.templates import IssueToMembersForm
from infra.csv_uploads.forms import CsvUploadForm
from points.admin.mall import PartnerCodeUploadForm


def form(form_class, content: bytes, **data):
    return form_class({"encoding": "auto", **data}, {"file": SimpleUploadedFile("codes.csv", content)})


def test_a_file_within_the_limit_is_accepted(settings):
    settings.MEMBER_IMPORT_MAX_BYTES = 20

    assert form(CsvUploadForm, b"code\nA-1\n").is_valid()


def test_empty_and_oversized_files_are_refused_with_the_reason(settings):
    settings.MEMBER_IMPORT_MAX_BYTES = 20

    for form_class in (CsvUploadForm, PartnerCodeUploadForm):
        oversized, empty = form(form_class, b"code\n" + b"A-1\n" * 10), form(form_class, b"")
        assert not oversized.is_valid()
        assert "the limit is 20 bytes" in oversized.errors["file"][0]
        assert not empty.is_valid()


def test_the_list_for_issuing_coupons_is_checked_only_when_given(settings):
    settings.MEMBER_IMPORT_MAX_BYTES = 20

    oversized = form(IssueToMembersForm, b"phone\n" + b"+85291234567\n" * 5, audience="member_list")
    assert not oversized.is_valid()
    assert "the limit is 20 bytes" in oversized.errors["file"][0]


def test_big5_and_gb18030_are_offered_everywhere():
    choices = {value for value, _label in CsvUploadForm().fields["encoding"].choices}

    assert {"auto", "utf-8", "big5", "gb18030"} <= choices
