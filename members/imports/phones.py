"""A fast, exact path for the phone cells an import repeats most: plain digits, with or without +country code.

Parsing and validating with the phonenumbers library costs ~40 µs a cell, half of a whole import. Most
cells are plain ASCII digits ("91234567", "+85291234567", "+8613812345678", "8613812345678") whose parse
is trivial: nothing to strip, no national prefix, no extension. For those shapes this module decides
validity with the library's own metadata (the same patterns and possible lengths its
`_number_type_helper` checks, compiled into one regular expression per region and length).

The fast path only ever *accepts*: it returns the E.164 phone when it is sure that
`members.imports.validation.import_phone` would return the same, and None otherwise, so the caller asks
phonenumbers. A number the library rejects is never accepted here; tests/members/test_import_phones.py
checks the equivalence on structured sweeps of prefixes and with hypothesis.

Only regions alone on their country code qualify (HK, MO, CN, ...): where a code is shared (+1, +44,
+7) the region is chosen by leading digits, which this path does not reproduce.
"""

import re
from functools import cache

from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

PLUS_DIGITS_RE = re.compile(r"\+([1-9][0-9]{1,17})")  # ASCII digits only (\d would take other scripts' digits)
DIGITS_RE = re.compile(r"[1-9][0-9]{1,17}")
MAX_COUNTRY_CODE_LENGTH = 3  # phonenumbers' _MAX_LENGTH_COUNTRY_CODE


class _Region:
    """What the fast path needs of one region's metadata."""

    def __init__(self, metadata):
        self.country_code = str(metadata.country_code)
        self.general = metadata.general_desc
        self.national_prefix = _compile(metadata.national_prefix_for_parsing)
        self.international_prefix = _compile(metadata.international_prefix)
        # The descriptions _number_type_helper tries after the general one; any match makes a number valid.
        # When fixed-line and mobile share one pattern, the mobile description is not consulted.
        self.types = [
            metadata.premium_rate, metadata.toll_free, metadata.shared_cost, metadata.voip,
            metadata.personal_number, metadata.pager, metadata.uan, metadata.voicemail, metadata.fixed_line,
        ]  # fmt: skip
        if not metadata.same_mobile_and_fixed_line_pattern:
            self.types.append(metadata.mobile)
        self.by_length = {}

    def is_valid(self, national_number: str) -> bool:
        """Return _number_type_helper(national_number) != UNKNOWN, for a string of ASCII digits."""
        length = len(national_number)
        try:
            pattern = self.by_length[length]
        except KeyError:
            pattern = self.by_length[length] = self._pattern(length)
        return pattern is not None and pattern.fullmatch(national_number) is not None

    def _pattern(self, length):
        if not _applies(self.general, length):
            return None
        alternatives = [f"(?:{desc.national_number_pattern})" for desc in self.types if _applies(desc, length)]
        if not alternatives:
            return None
        # fullmatch of the general pattern AND of one of the type patterns
        return re.compile(f"(?=(?:{self.general.national_number_pattern})\\Z)(?:{'|'.join(alternatives)})")


def _compile(pattern):
    return re.compile(pattern) if pattern else None


def _applies(desc, length) -> bool:
    """Return whether `desc` can match a national number of `length` digits (_is_number_matching_desc)."""
    if desc is None or not desc.national_number_pattern:
        return False
    return not desc.possible_length or length in desc.possible_length


@cache
def _region(country_code: int):
    """Return the _Region of a country code held by exactly one region, else None."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    if len(regions) != 1:
        return None
    metadata = PhoneMetadata.metadata_for_region(regions[0], None)
    if metadata is None or metadata.country_code != country_code or metadata.leading_digits:
        return None
    return _Region(metadata)


@cache
def _default_region(region_code: str):
    metadata = PhoneMetadata.metadata_for_region(region_code, None)
    if metadata is None:
        return None
    return _region(metadata.country_code)


@cache
def _country_region(head: str):
    """Return (_Region, length of its country code) of digits starting with `head` (their first
    MAX_COUNTRY_CODE_LENGTH), or None when they start with no country code or with one several regions share."""
    for length in range(1, len(head) + 1):
        code = int(head[:length])
        if code in COUNTRY_CODE_TO_REGION_CODE:  # country codes are prefix-free: the first hit is the one
            region = _region(code)
            return None if region is None else (region, length)
    return None


def _international(digits: str):
    """Return the E.164 phone of "+" + digits when it is surely valid, else None."""
    found = _country_region(digits[:MAX_COUNTRY_CODE_LENGTH])
    if found is None:
        return None
    region, length = found
    national = digits[length:]
    if not national or national[0] == "0":  # a leading zero is kept apart by the parser
        return None
    if region.national_prefix is not None and region.national_prefix.match(national):
        return None  # the parser may strip a national prefix or carrier code here
    return "+" + digits if region.is_valid(national) else None


def fast_import_phone(raw: str, default_region: str):
    """Return the E.164 phone that import_phone(raw) returns, or None when that needs phonenumbers.

    `raw` is a stripped cell. Shapes taken: "+" and digits; digits read as a local number of
    `default_region`; digits read as a number with its country code (import_phone's second try, for
    more than 8 digits that are not a valid local number).
    """
    match = PLUS_DIGITS_RE.fullmatch(raw)
    if match:
        return _international(match.group(1))
    if not DIGITS_RE.fullmatch(raw):
        return None
    region = _default_region(default_region)
    if region is None:
        return None
    if (
        raw.startswith(region.country_code)  # the parser may read the region's own code in front
        or (region.international_prefix is not None and region.international_prefix.match(raw))
        or (region.national_prefix is not None and region.national_prefix.match(raw))
    ):
        return None
    if region.is_valid(raw):
        return "+" + region.country_code + raw
    if len(raw) > 8:
        # Not a valid local number, so phonenumbers refuses it and import_phone tries "+" + digits.
        return _international(raw)
    return None
