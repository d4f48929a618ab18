"""Read queries shared by the API and the console: what a member may claim, holds, and can use on a cart."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    F,
    Func,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce

from coupons.codes import is_valid_code, normalize_code
from coupons.errors import CouponNotFound, InvalidCouponCode
from coupons.models import Coupon, CouponTemplate
from coupons.rules import Cart, coupon_check, is_in_audience
from members.models import Member, Purchase, Store, Tag, Tier
from members.selectors import member_lookup


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


def is_partner_code(code: str) -> bool:
    """Tell whether a normalized code that fails our check character is the partner code of a coupon."""
    return Coupon.objects.filter(code=code, template__code_source=CouponTemplate.CodeSource.PARTNER_POOL).exists()


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

    Raises InvalidCouponCode (bad check character), CouponNotFound (never issued, or another member's: the same
    answer, the same query).
    """
    code = normalize_code(code)
    if not is_valid_code(code) and not is_partner_code(code):
        raise InvalidCouponCode.for_field("code")
    coupon = (
        Coupon.objects.filter(code=code, member_id=member_id)
        .select_related("template")
        .prefetch_related(Prefetch("template__stores", queryset=Store.objects.only("pk")))
        .first()
    )
    if coupon is None:
        raise CouponNotFound()
    options = [_option(coupon, cart, now)]
    return CartCoupons(options=options, best=_best(options))


def coupons_for_cart_at_till(
    *, cart: Cart, now: datetime, code: str = "", card_code: str = "", phone: str = "", member_number: str = ""
) -> CartCoupons:
    """The coupons of the member a till names by exactly one of card code, phone or member number
    (members.selectors.member_lookup) checked against its cart: with `code`, only that one (coupon_for_cart_by_code),
    else every one they hold (coupons_for_cart). Raises member_lookup's and coupon_for_cart_by_code's errors."""
    member = member_lookup(now=now, card_code=card_code, phone=phone, member_number=member_number)
    if code:
        return coupon_for_cart_by_code(member_id=member.pk, code=code, cart=cart, now=now)
    return coupons_for_cart(member_id=member.pk, cart=cart, now=now)


# -- reports ---------------------------------------------------------------------------------------------------
def _figure(queryset: QuerySet, function: str, field: str, output_field) -> Coalesce:
    # SUM/COUNT through Func: one scalar per template row, without a GROUP BY on the outer query.
    total = queryset.order_by().values(figure=Func(F(field), function=function, output_field=output_field))
    return Coalesce(Subquery(total, output_field=output_field), 0, output_field=output_field)


def coupon_templates_with_report(queryset: QuerySet | None = None, *, store_id: int | None = None) -> QuerySet:
    """Annotate templates with their report figures, in the one query that lists them.

    report_issued, report_claimed, report_redeemed, report_expired (coupons), report_discount (discount
    given by redeemed coupons) and report_sales (gross amount of the distinct purchases that redeemed one).
    The redemption rate is report_redeemed / report_issued (see `redemption_rate`). With `store_id`, only the
    coupons of that store's members count (a store's staff see their store's figures, as in every list).
    """
    queryset = CouponTemplate.objects.all() if queryset is None else queryset
    scope = {} if store_id is None else {"member__home_store_id": store_id}
    coupons = Coupon.objects.filter(template=OuterRef("pk"), **scope)
    money = DecimalField(max_digits=14, decimal_places=2)
    count = IntegerField()
    redeemed = coupons.filter(status=Coupon.Status.REDEEMED)
    purchases = Purchase.objects.filter(
        pk__in=Coupon.objects.filter(
            template=OuterRef(OuterRef("pk")), redeemed_purchase__isnull=False, **scope
        ).values("redeemed_purchase")
    )
    return queryset.annotate(
        report_issued=_figure(coupons, "COUNT", "pk", count),
        report_claimed=_figure(coupons.filter(source=Coupon.Source.CLAIM), "COUNT", "pk", count),
        report_redeemed=_figure(redeemed, "COUNT", "pk", count),
        report_expired=_figure(coupons.filter(status=Coupon.Status.EXPIRED), "COUNT", "pk", count),
        report_discount=_figure(redeemed, "SUM", "discount_amount", money),
        report_sales=_figure(purchases, "SUM", "gross_amount", money),
    )


def redemption_rate(template: CouponTemplate) -> Decimal | None:
    """Return the share of issued coupons that were redeemed, in percent (2 places), or None before any issue."""
    if not template.report_issued:
        return None
    return (Decimal(100) * template.report_redeemed / template.report_issued).quantize(Decimal("0.01"))
