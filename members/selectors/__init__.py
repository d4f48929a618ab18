"""Read queries shared by the API, the console and reports: member lookups, the member card, stores."""

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import phonenumbers
from django.utils.translation import gettext_lazy as _

from infra.errors import InvalidInput, NotFound
from members.errors import InvalidCardCode, InvalidPhone, MemberNotActive
from members.formats import (
    card_code_for,
    card_code_valid_until,
    is_valid_member_number,
    member_number_from_card_code,
    normalize_phone,
)
from members.models import Member, PointsLot, Store, Tier
from members.selectors.holds import points_available

EARTH_RADIUS_KM = 6371.0088
# Widen the SQL box a little so rounding to the column's 6 decimals never drops a store on its edge.
BOX_MARGIN_DEGREES = 1e-5


# -- members ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MemberKey:
    """A member as one identifier names them: the Member column it reads (pk, member_number, phone) and the value,
    checked and normalised. Made without reading the database, so that a caller may read the member its own way
    (the till's checkout locks the member by it)."""

    column: str
    value: int | str


def member_key_by_card_code(*, card_code: str, now: datetime) -> MemberKey:
    """Raises InvalidCardCode (bad or expired)."""
    number = member_number_from_card_code(card_code, timestamp=now.timestamp())
    if number is None:
        raise InvalidCardCode.for_field("card_code")
    return MemberKey("member_number", number)


def member_key_by_phone(*, phone: str) -> MemberKey:
    """The phone in any common notation. Raises InvalidPhone."""
    try:
        return MemberKey("phone", normalize_phone(phone))
    except InvalidPhone:
        raise InvalidPhone.for_field("phone") from None


def member_key_by_member_number(*, member_number: str) -> MemberKey:
    """Raises InvalidInput (bad check digit)."""
    member_number = (member_number or "").strip()
    if not is_valid_member_number(member_number):
        raise InvalidInput.for_field("member_number", _("This is not a valid member number."))
    return MemberKey("member_number", member_number)


def member_find(key: MemberKey) -> Member | None:
    """The member the key names, with their tier and home store; None if none."""
    return Member.objects.select_related("tier", "home_store").filter(**{key.column: key.value}).first()


def member_get(key: MemberKey) -> Member:
    """member_find, raising NotFound if no member matches."""
    member = member_find(key)
    if member is None:
        raise NotFound(_("No member matches."))
    return member


def member_lookup(*, now: datetime, card_code: str = "", phone: str = "", member_number: str = "") -> Member:
    """Find one member brand-wide by exactly one of card code, phone or member number (the till's search)."""
    given = [
        name for name, value in (("card_code", card_code), ("phone", phone), ("member_number", member_number)) if value
    ]
    if len(given) != 1:
        raise InvalidInput.for_field("non_field_errors", _("Give exactly one of card_code, phone or member_number."))
    if card_code:
        return member_get(member_key_by_card_code(card_code=card_code, now=now))
    if phone:
        return member_get(member_key_by_phone(phone=phone))
    return member_get(member_key_by_member_number(member_number=member_number))


def mask_phone(phone: str | None) -> str:
    """Return the phone with its country code and last four digits only: +852****4567."""
    if not phone:
        return ""
    try:
        country = f"+{phonenumbers.parse(phone).country_code}"
    except phonenumbers.NumberParseException:
        country = phone[:1] if phone.startswith("+") else ""
    return f"{country}****{phone[-4:]}"


@dataclass(frozen=True)
class PosMemberSummary:
    """A member as the till shows them: the phone masked, the points they may spend now."""

    member_number: str
    name: str
    phone_masked: str
    tier: Tier | None
    points_balance: int
    points_available: int
    status: str


def pos_member_summary(
    *, now: datetime, card_code: str = "", phone: str = "", member_number: str = ""
) -> PosMemberSummary:
    """The member the till searched for (member_lookup: exactly one of card code, phone or member number) as it
    shows them. Raises member_lookup's errors."""
    member = member_lookup(now=now, card_code=card_code, phone=phone, member_number=member_number)
    return PosMemberSummary(
        member_number=member.member_number,
        name=member.name,
        phone_masked=mask_phone(member.phone),
        tier=member.tier,
        points_balance=member.points_balance,
        points_available=points_available(member),
        status=member.status,
    )


@dataclass(frozen=True)
class MemberCard:
    member_number: str
    card_code: str
    valid_until: datetime


def member_card_get(*, member: Member, now: datetime) -> MemberCard:
    """Return the member's current card code (valid for this 60-second step). Raises MemberNotActive."""
    if member.status != Member.Status.ACTIVE:
        raise MemberNotActive()
    timestamp = now.timestamp()
    return MemberCard(
        member_number=member.member_number,
        card_code=card_code_for(member.member_number, timestamp=timestamp),
        valid_until=datetime.fromtimestamp(card_code_valid_until(timestamp=timestamp), tz=UTC),
    )


# -- stores ----------------------------------------------------------------------------------------------------
def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi, d_lambda = math.radians(lat2 - lat1), math.radians(lng2 - lng1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class StoreDistance:
    store: Store
    distance_km: float | None


def store_list_nearest(
    *, lat: float | None = None, lng: float | None = None, radius_km: float | None = None, limit: int = 50
) -> list[StoreDistance]:
    """Return active stores, nearest first when a position is given (stores without coordinates last).

    With a radius, a bounding box filters in SQL (portable to SQLite and PostgreSQL) and the exact
    great-circle distance is computed in Python on the few rows left.
    """
    stores = Store.objects.filter(is_active=True)
    if lat is None or lng is None:
        return [StoreDistance(store=store, distance_km=None) for store in stores.order_by("code")[:limit]]
    if radius_km is not None:
        stores = stores.filter(**_bounding_box(lat=lat, lng=lng, radius_km=radius_km))
    results = []
    for store in stores.order_by("code"):
        if store.latitude is None or store.longitude is None:
            if radius_km is None:
                results.append(StoreDistance(store=store, distance_km=None))
            continue
        distance = haversine_km(lat, lng, float(store.latitude), float(store.longitude))
        if radius_km is None or distance <= radius_km:
            results.append(StoreDistance(store=store, distance_km=round(distance, 3)))
    results.sort(key=lambda item: (item.distance_km is None, item.distance_km or 0.0, item.store.code))
    return results[:limit]


def _bounding_box(*, lat: float, lng: float, radius_km: float) -> dict:
    """Return field lookups for a box that contains the circle (Matuschek's bounding coordinates)."""
    angular = radius_km / EARTH_RADIUS_KM
    d_lat = math.degrees(angular) + BOX_MARGIN_DEGREES
    lookup = {
        "latitude__gte": Decimal(f"{max(lat - d_lat, -90.0):.6f}"),
        "latitude__lte": Decimal(f"{min(lat + d_lat, 90.0):.6f}"),
    }
    # Near a pole, or when the box would wrap around the antimeridian, keep the latitude band only.
    if abs(lat) + d_lat < 90.0:
        d_lng = math.degrees(math.asin(min(1.0, math.sin(angular) / math.cos(math.radians(lat))))) + BOX_MARGIN_DEGREES
        if lng - d_lng >= -180.0 and lng + d_lng <= 180.0:
            lookup["longitude__gte"] = Decimal(f"{lng - d_lng:.6f}")
            lookup["longitude__lte"] = Decimal(f"{lng + d_lng:.6f}")
    return lookup


def points_spent_expiry(*, debit_entry_id: int) -> datetime | None:
    """When points given back for a debit (a refund, a cancelled order) expire: the latest expiry among the lots
    the debit drew from, None when one of them never expires."""
    expiries = list(PointsLot.objects.filter(allocations__entry_id=debit_entry_id).values_list("expires_at", flat=True))
    if not expiries or any(expiry is None for expiry in expiries):
        return None
    return max(expiries)
