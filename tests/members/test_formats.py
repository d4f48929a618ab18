import pytest

from members.errors import InvalidPhone
from members.formats import (
    card_code_for,
    is_valid_member_number,
    luhn_check_digit,
    member_number_from_card_code,
    new_member_number,
    normalize_phone,
)


def test_new_member_numbers_have_ten_digits_and_a_luhn_check_digit():
    for _ in range(200):
        number = new_member_number()
        assert len(number) == 10
        assert is_valid_member_number(number)


def test_luhn_check_digit_matches_the_textbook_example():
    assert luhn_check_digit("7992739871") == "3"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("91234567", "+85291234567"), ("+852 9123 4567", "+85291234567"), ("+86 138 0013 8000", "+8613800138000")],
)
def test_phones_are_normalised_to_e164(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "123", "not a phone", "+852 1234"])
def test_malformed_phones_are_refused(raw):
    with pytest.raises(InvalidPhone):
        normalize_phone(raw)


def test_card_code_is_18_digits_and_valid_within_one_step_of_skew():
    code = card_code_for("7992739871"[:9] + luhn_check_digit("799273987"), timestamp=1_000_000)
    assert len(code) == 18
    assert code.isdigit()
    assert member_number_from_card_code(code, timestamp=1_000_000 + 60) == code[:10]
    assert member_number_from_card_code(code, timestamp=1_000_000 - 60) == code[:10]


def test_card_code_is_refused_after_two_steps_or_when_tampered():
    number = "799273987" + luhn_check_digit("799273987")
    code = card_code_for(number, timestamp=1_000_000)
    assert member_number_from_card_code(code, timestamp=1_000_000 + 180) is None
    tampered = code[:-1] + str((int(code[-1]) + 1) % 10)
    assert member_number_from_card_code(tampered, timestamp=1_000_000) is None
