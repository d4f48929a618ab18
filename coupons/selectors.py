"""Read queries shared by the API and the console: what a member may claim, holds, and can use on a cart."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, F, Prefetch, Q, QuerySet

from coupons.codes import is_valid_code, normalize_code
from coupons.errors import CouponNotOwned, InvalidCouponCode
from coupons.models import Coupon, CouponTemplate
from coupons.rules import Cart, coupon_check, is_in_audience
from members.errors import NotFound
from members.models import Member, Store, Tag, Tier


@dataclass(frozen=True)
class ClaimableTemplate:
    template: CouponTemplate
    claimed_count: int
    remaining: int | None


@dataclass(frozen=True)
class CouponOption:
    coupon: Coupon
    is_applicable: bool
    discount_amount: Decimal
    label: str
    reason: str | None


@dataclass(frozen=True)
class CartCoupons:
    options: list[CouponOption]
    best: CouponOption | None


def _with_ids(queryset: QuerySet) -> QuerySet:
    return queryset.prefetch_related(
        Prefetch("tiers", queryset=Tier.objects.only("pk")),
        Prefetch("tags", queryset=Tag.objects.only("pk")),
        Prefetch("stores", queryset=Store.objects.only("pk")),
    )


def coupon_templates_claimable(*, member: Member, now: datetime) -> list[ClaimableTemplate]:
    """Return the offers the member may claim now: open, in stock, for them, and under their limit.

    A fixed number of queries whatever the number of offers.
    """
    templates = _with_ids(
        CouponTemplate.objects.filter(is_active=True, is_claimable=True)
        .filter(Q(claim_starts_at__isnull=True) | Q(claim_starts_at__lte=now))
        .filter(Q(claim_ends_at__isnull=True) | Q(claim_ends_at__gt=now))
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now))
        .filter(Q(quota__isnull=True) | Q(issued_count__lt=F("quota")))
        .order_by(F("claim_ends_at").asc(nulls_last=True), "pk")
    )
    templates = list(templates)
    claimed = dict(
        Coupon.objects.filter(member_id=member.pk, template__in=templates)
        .values("template_id")
        .annotate(count=Count("pk"))
        .values_list("template_id", "count")
    )
    member_tag_ids = set(member.tags.values_list("pk", flat=True))
    result = []
    for template in templates:
        count = claimed.get(template.pk, 0)
        if template.per_member_limit is not None and count >= template.per_member_limit:
            continue
        if not is_in_audience(
            template=template,
            member=member,
            tier_ids=[tier.pk for tier in template.tiers.all()],
            tag_ids=[tag.pk for tag in template.tags.all()],
            member_tag_ids=member_tag_ids,
        ):
            continue
        result.append(ClaimableTemplate(template=template, claimed_count=count, remaining=template.remaining))
    return result


def coupons_of_member(*, member_id: int, status: str | None = None) -> QuerySet:
    """Return the member's own coupons (never anyone else's), newest first."""
    queryset = Coupon.objects.filter(member_id=member_id).select_related("template").order_by("-pk")
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def _option(coupon: Coupon, cart: Cart, now: datetime) -> CouponOption:
    check = coupon_check(
        coupon=coupon,
        template_store_ids=[store.pk for store in coupon.template.stores.all()],
        cart=cart,
        now=now,
    )
    return CouponOption(
        coupon=coupon,
        is_applicable=check.is_applicable,
        discount_amount=check.discount.amount,
        label=check.discount.label,
        reason=check.reason,
    )


def _best(options: list[CouponOption]) -> CouponOption | None:
    applicable = [option for option in options if option.is_applicable]
    if not applicable:
        return None
    # The biggest saving; on a tie, the coupon that ends first (so the member loses nothing), then the oldest.
    return min(
        applicable,
        key=lambda option: (
            -option.discount_amount,
            option.coupon.valid_until.timestamp() if option.coupon.valid_until else float("inf"),
            option.coupon.pk,
        ),
    )


def coupons_for_cart(*, member_id: int, cart: Cart, now: datetime) -> CartCoupons:
    """Return every coupon the member holds with whether it fits the cart, its discount, the reason
    when it does not, and the best one. Three queries whatever the number of coupons."""
    coupons = (
        Coupon.objects.held()
        .filter(member_id=member_id)
        .select_related("template")
        .prefetch_related(Prefetch("template__stores", queryset=Store.objects.only("pk")))
        .order_by(F("valid_until").asc(nulls_last=True), "pk")
    )
    options = [_option(coupon, cart, now) for coupon in coupons]
    return CartCoupons(options=options, best=_best(options))


def coupon_for_cart_by_code(*, member_id: int, code: str, cart: Cart, now: datetime) -> CartCoupons:
    """Return the one coupon a till typed or scanned, checked against the cart.

    Raises InvalidCouponCode (bad check character), NotFound, CouponNotOwned.
    """
    code = normalize_code(code)
    if not is_valid_code(code):
        raise InvalidCouponCode(fields={"code": [str(InvalidCouponCode.message)]})
    coupon = (
        Coupon.objects.filter(code=code)
        .select_related("template")
        .prefetch_related(Prefetch("template__stores", queryset=Store.objects.only("pk")))
        .first()
    )
    if coupon is None:
        raise NotFound()
    if coupon.member_id != member_id:
        raise CouponNotOwned()
    options = [_option(coupon, cart, now)]
    return CartCoupons(options=options, best=_best(options))
