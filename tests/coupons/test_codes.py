"""Coupon codes: typable alphabet, check character catching typos before any database look-up."""

import pytest

from coupons.codes import ALPHABET, check_character, generate_code, generate_codes, is_valid_code, normalize_code


def test_the_alphabet_has_no_characters_people_confuse():
    assert set(ALPHABET) & set("01OIL") == set()
    assert len(ALPHABET) == 31


def test_a_generated_code_has_prefix_body_and_a_valid_check_character():
    code = generate_code(prefix="XMAS", body_length=8)

    assert code.startswith("XMAS")
    assert len(code) == 4 + 8 + 1
    assert set(code) <= set(ALPHABET)
    assert is_valid_code(code)


def test_generated_codes_are_not_repeated():
    codes = {generate_code() for _ in range(2000)}

    assert len(codes) == 2000


def test_every_single_character_typo_is_caught():
    code = generate_code(prefix="HK", body_length=10)

    typos = [
        code[:position] + char + code[position + 1 :]
        for position in range(len(code))
        for char in ALPHABET
        if char != code[position]
    ]

    assert len(typos) == len(code) * 30
    assert [typo for typo in typos if is_valid_code(typo)] == []


def test_every_swap_of_two_different_characters_is_caught():
    code = generate_code(body_length=12)

    swaps = []
    for i in range(len(code)):
        for j in range(i + 1, len(code)):
            if code[i] != code[j]:
                chars = list(code)
                chars[i], chars[j] = chars[j], chars[i]
                swaps.append("".join(chars))

    assert swaps
    assert [swap for swap in swaps if is_valid_code(swap)] == []


@pytest.mark.parametrize("raw", ["abcd-efgh", " ABCD EFGH ", "AbCd-EfGh"])
def test_typed_codes_are_normalized_to_upper_case_without_spaces_or_dashes(raw):
    assert normalize_code(raw) == "ABCDEFGH"


@pytest.mark.parametrize("code", ["", "A", "0ABCDEFG", "ABCDEFGI", "A" * 31])
def test_codes_outside_the_alphabet_or_length_are_invalid(code):
    assert is_valid_code(code) is False


def test_a_prefix_outside_the_alphabet_is_refused():
    with pytest.raises(ValueError, match="outside the code alphabet"):
        generate_code(prefix="SOLO")


def test_the_check_character_is_a_function_of_the_payload():
    assert check_character("ABC234") == check_character("ABC234")
    assert is_valid_code("ABC234" + check_character("ABC234"))


@pytest.mark.parametrize(
    ("prefix", "body_length"), [("", 6), ("", 10), ("XMAS", 8), ("HK", 17), ("", 29), ("A2345678", 21)]
)
def test_codes_generated_in_bulk_have_the_format_of_single_codes(prefix, body_length):
    codes = generate_codes(5000, prefix=prefix, body_length=body_length)

    assert len(codes) == len(set(codes)) == 5000
    assert {len(code) for code in codes} == {len(prefix) + body_length + 1}
    assert all(code.startswith(prefix) and set(code) <= set(ALPHABET) for code in codes)
    assert [code for code in codes if check_character(code[:-1]) != code[-1]] == []


def test_codes_generated_in_bulk_use_every_character_in_every_position():
    codes = generate_codes(3000, body_length=8)

    assert [len({code[position] for code in codes}) for position in range(9)] == [31] * 9


@pytest.mark.parametrize(("prefix", "body_length"), [("SOLO", 10), ("", 5), ("HK", 28)])
def test_bulk_generation_refuses_a_bad_prefix_or_length(prefix, body_length):
    with pytest.raises(ValueError, match="outside the code alphabet|too short or too long"):
        generate_codes(10, prefix=prefix, body_length=body_length)
