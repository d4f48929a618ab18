"""Member CSV import: the fast phone path accepts only what phonenumbers accepts, as the same E.164 phone."""

import random

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

from members.errors import InvalidPhone
from members.imports.phones import fast_import_phone
from members.imports.validation import _slow_import_phone, import_phone

REGIONS = ("HK", "CN", "MO", "SG")


def reference(raw, region):
    """What import_phone returned before the fast path: phonenumbers decides (None: refused)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.conf.settings.PHONE_DEFAULT_REGION", region)
        try:
            return _slow_import_phone(raw)
        except InvalidPhone:
            return None


def assert_agrees(raw, region) -> bool:
    """Assert the fast path gives phonenumbers' phone or steps aside; return whether it gave one."""
    fast = fast_import_phone(raw, region)
    assert fast is None or fast == reference(raw, region), raw
    return fast is not None


def sweep(prefixes, length, rng, per_prefix=2):
    """Digit strings of `length` starting with each prefix, the rest random."""
    for prefix in prefixes:
        for _ in range(per_prefix):
            rest = length - len(prefix)
            yield prefix + (f"{rng.randrange(10**rest):0{rest}d}" if rest > 0 else "")


@pytest.mark.parametrize(
    ("raw", "phone"),
    [
        ("91234567", "+85291234567"),
        ("+85291234567", "+85291234567"),
        ("+8613812345678", "+8613812345678"),
        ("8613812345678", "+8613812345678"),
        ("+85366123456", "+85366123456"),
    ],
)
def test_common_well_formed_numbers_take_the_fast_path(raw, phone):
    # given a well-formed cell; when read by the fast path; then it gives the E.164 phone phonenumbers gives
    assert fast_import_phone(raw, "HK") == phone
    assert reference(raw, "HK") == phone


@pytest.mark.parametrize(
    "raw", ["9123", "12345678", "+85212345678", "+8612345678901", "0091234567", "85291234567", "９１２３４５６７"]
)
def test_numbers_the_fast_path_cannot_settle_go_to_phonenumbers(raw):
    # given a cell that is invalid or needs the full parser; when read; then the fast path steps aside
    assert fast_import_phone(raw, "HK") is None
    try:
        phone = import_phone(raw)
    except InvalidPhone:
        phone = None
    assert phone == reference(raw, "HK")


def test_import_phone_refuses_what_phonenumbers_refuses():
    with pytest.raises(InvalidPhone):
        import_phone("+85212345678")


@pytest.mark.parametrize("region", REGIONS)
def test_fast_path_agrees_with_phonenumbers_on_every_leading_digits(region):
    # given numbers of every 4-digit prefix, local and with country code, for the lengths in use
    rng = random.Random(f"phones-{region}")
    code = str(phonenumbers.country_code_for_region(region))
    prefixes = [f"{n:04d}" for n in range(10_000)]
    cells = [*sweep(prefixes, 8, rng, per_prefix=1), *sweep(prefixes, 11, rng, per_prefix=1)]
    cells += ["+" + code + cell for cell in cells[:10_000]] + [code + cell for cell in cells[10_000:]]

    # when read by the fast path, then each accepted cell is the phone phonenumbers gives
    accepted = sum(assert_agrees(raw, region) for raw in cells)
    assert accepted > 500  # the sweep reaches the fast path, not only phonenumbers


def test_fast_path_agrees_with_phonenumbers_on_example_numbers_of_every_country():
    # given each country's example numbers with their last digits changed, written as +<code><number>
    rng = random.Random("phones-world")
    cells = []
    for code, regions in COUNTRY_CODE_TO_REGION_CODE.items():
        for region in regions:
            for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
                example = phonenumbers.example_number_for_type(region, kind)
                if example is None:
                    continue
                national = phonenumbers.national_significant_number(example)
                for cut in (2, 4, 6):
                    cells += [f"+{code}{cell}" for cell in sweep([national[:-cut]], len(national), rng, per_prefix=3)]

    # when read by the fast path, then each accepted cell is the phone phonenumbers gives
    accepted = sum(assert_agrees(raw, "HK") for raw in cells)
    assert accepted > 1000


@settings(max_examples=1000, deadline=None)
@given(raw=st.from_regex(r"\A\+?(852|853|86|65|1|44|7)?[0-9]{0,13}\Z"), region=st.sampled_from(REGIONS))
def test_fast_path_never_accepts_what_phonenumbers_refuses(raw, region):
    assert_agrees(raw, region)
