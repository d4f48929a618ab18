"""Pools of partner codes: a partner's file of codes that a template's coupons carry instead of ours."""

import re
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from coupons.codes import MAX_CODE_LENGTH, normalize_code
from coupons.models import Coupon, CouponTemplate, PartnerCode
from coupons.services import _template_get
from coupons.services.claim_hints import claim_hints_clear_on_commit
from infra.csv_uploads.decoding import AUTO, decode
from infra.csv_uploads.reading import control_character, control_character_message, csv_records
from infra.errors import InvalidInput

MIN_PARTNER_CODE_LENGTH = 4
PARTNER_CODE_RE = re.compile(rf"^[A-Z0-9]{{{MIN_PARTNER_CODE_LENGTH},{MAX_CODE_LENGTH}}}$")
LOOKUP_CHUNK = 5000


@dataclass(frozen=True)
class PartnerCodeImport:
    imported: int
    errors: list[dict]


@transaction.atomic
def partner_codes_import(*, template_id: int, data: bytes, now: datetime, encoding: str = AUTO) -> PartnerCodeImport:
    """Add the codes of a partner's CSV (one code per line, an optional `code` header) to a template's pool.

    Codes are stored normalized (capitals, no spaces or dashes). Valid rows are written; each bad row (empty
    of letters and digits, too short or long, twice in the file, already in a pool or on a coupon) is
    reported as {"row", "value", "message"} and written not at all.
    Raises NotFound, InvalidInput (the template does not take partner codes), ImportFileRefused.
    """
    template = _template_get(template_id)
    if template.code_source != CouponTemplate.CodeSource.PARTNER_POOL:
        raise InvalidInput.for_field(
            "code_source", _("Choose the partner pool."),
            message=_("Set this template's codes to a partner pool before uploading codes."),
        )  # fmt: skip
    text, _used = decode(data, encoding)
    errors: list[dict] = []
    first_row: dict[str, int] = {}
    for row, cells in enumerate(csv_records(text), start=1):
        value = (cells[0] if cells else "").strip()
        if not value or (row == 1 and value.lower() == "code"):
            continue
        code = normalize_code(value)
        if character := control_character(value):
            # a line end above all: a quote left open read the next rows into this cell, and their codes would join
            message = control_character_message(character)
        elif not PARTNER_CODE_RE.match(code):
            message = gettext("A code has %(min)d to %(max)d letters and digits.") % {
                "min": MIN_PARTNER_CODE_LENGTH,
                "max": MAX_CODE_LENGTH,
            }
        elif code in first_row:
            message = gettext("This code is already on row %(row)d.") % {"row": first_row[code]}
        else:
            first_row[code] = row
            continue
        errors.append({"row": row, "column": "code", "value": value, "message": message})

    if not first_row and not errors:
        raise InvalidInput.for_field("file", _("The file holds no codes (a header row alone, or empty rows)."))
    codes = list(first_row)
    taken: dict[str, str] = {}
    for start in range(0, len(codes), LOOKUP_CHUNK):
        chunk = codes[start : start + LOOKUP_CHUNK]
        for code in PartnerCode.objects.filter(code__in=chunk).values_list("code", flat=True):
            taken[code] = gettext("This code is already in a pool of partner codes.")
        for code in Coupon.objects.filter(code__in=chunk).values_list("code", flat=True):
            taken.setdefault(code, gettext("A coupon already carries this code."))
    for code, message in taken.items():
        errors.append({"row": first_row[code], "column": "code", "value": code, "message": message})
    PartnerCode.objects.bulk_create(
        [
            PartnerCode(template=template, code=code, row_number=row, imported_at=now)
            for code, row in first_row.items()
            if code not in taken
        ],
        batch_size=LOOKUP_CHUNK,
    )
    claim_hints_clear_on_commit(template_id=template.pk)  # new codes are new stock for a sold-out offer
    errors.sort(key=lambda error: error["row"])
    return PartnerCodeImport(imported=len(first_row) - len(taken), errors=errors)
