"""Partner voucher pools: a CSV of codes adds codes and stock; bad rows are reported by row and column and written
not at all; a file-level fault writes nothing."""

import pytest

from infra.csv_uploads.decoding import ImportFileRefused
from infra.errors import InvalidInput
from points.models import RewardPartnerCode
from points.services.mall import reward_partner_codes_import
from tests.factories import RewardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def voucher():
    return RewardFactory(kind="partner_voucher", stock_total=0)


def run(reward, text, now, encoding="auto"):
    return reward_partner_codes_import(reward_id=reward.pk, data=text.encode(), now=now, encoding=encoding)


def test_codes_with_a_header_are_added_to_the_pool_and_to_the_stock(voucher, now):
    result = run(voucher, "code,pin,valid_until\nAAA-111,1234,2027-01-31\nBBB-222,,\n", now)

    voucher.refresh_from_db()
    assert (result.imported, result.errors) == (2, [])
    assert (voucher.stock_total, voucher.stock_remaining) == (2, 2)
    rows = list(RewardPartnerCode.objects.order_by("row_number").values_list("code", "pin", "row_number"))
    assert rows == [("AAA-111", "1234", 2), ("BBB-222", "", 3)]
    assert str(RewardPartnerCode.objects.get(code="AAA-111").valid_until) == "2027-01-31"


def test_a_file_without_a_header_is_read_as_code_pin_valid_until(voucher, now):
    result = run(voucher, "\ufeffAAA-111,99\n", now)

    assert (result.imported, RewardPartnerCode.objects.get().pin) == (1, "99")


def test_bad_rows_are_named_by_row_and_column_and_the_good_rows_are_written(voucher, now):
    RewardPartnerCode.objects.create(reward=RewardFactory(kind="partner_voucher"), code="TAKEN", row_number=1,
                                     imported_at=now)  # fmt: skip
    text = "code,valid_until\nGOOD-1,\n,2027-01-01\nBAD-DATE,31/01/2027\nGOOD-1,\nTAKEN,\n" + "X" * 65 + ",\n"

    result = run(voucher, text, now)

    assert result.imported == 1
    assert [(error["row"], error["column"]) for error in result.errors] == [
        (3, "code"),
        (4, "valid_until"),
        (5, "code"),
        (6, "code"),
        (7, "code"),
    ]
    assert result.errors[2]["message"] == "This code is already on row 2."
    assert result.errors[3]["message"] == "This code is already in a pool of partner codes."
    voucher.refresh_from_db()
    assert (voucher.stock_total, voucher.stock_remaining) == (1, 1)


def test_a_cell_past_the_headers_columns_is_a_row_error_not_lost(voucher, now):
    result = run(voucher, "code,pin\nAAA-111,1234,2027-01-31\nBBB-222,99\n", now)

    assert result.imported == 1
    assert [(error["row"], error["column"], error["value"]) for error in result.errors] == [
        (2, "column 3", "2027-01-31")
    ]


def test_a_column_named_twice_refuses_the_whole_file(voucher, now):
    with pytest.raises(ImportFileRefused) as refused:
        run(voucher, "code,pin,code\nAAA-111,1,BBB-222\n", now)

    assert refused.value.message == "These columns appear more than once: code."


def test_an_unknown_column_refuses_the_whole_file(voucher, now):
    with pytest.raises(ImportFileRefused) as error:
        run(voucher, "code,price\nAAA,1\n", now)

    assert error.value.code == "header"
    assert RewardPartnerCode.objects.count() == 0


def test_an_empty_file_is_refused(voucher, now):
    with pytest.raises(ImportFileRefused):
        run(voucher, "", now)


def test_a_header_alone_is_refused_not_reported_as_nothing_added(voucher, now):
    with pytest.raises(InvalidInput) as refused:
        run(voucher, "code,pin\n\n", now)

    assert refused.value.fields == {"file": ["The file holds no codes (a header row alone, or empty rows)."]}


def test_a_file_no_encoding_reads_is_refused(voucher, now):
    with pytest.raises(ImportFileRefused):
        reward_partner_codes_import(reward_id=voucher.pk, data=b"AAA\n\x81\x20\n", now=now)


def test_a_big5_file_is_read_by_auto_detection(voucher, now):
    data = "AAA,張美玲\nBBB,黃志強\n".encode("big5")

    result = reward_partner_codes_import(reward_id=voucher.pk, data=data, now=now)

    assert result.imported == 2
    assert sorted(RewardPartnerCode.objects.values_list("pin", flat=True)) == ["張美玲", "黃志強"]


def test_only_partner_voucher_rewards_take_codes(now):
    with pytest.raises(InvalidInput):
        run(RewardFactory(kind="physical"), "AAA\n", now)
