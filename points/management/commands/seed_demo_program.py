"""Configure the demo program on top of `seed_demo`: tier thresholds and benefits, the points policy, earning
rules, coupon templates, top-up offers, a paid membership plan, a post-payment coupon rule, monthly tier gifts,
points mall rewards, a lucky draw and a points auction.

Idempotent and deterministic: rows are found again by natural keys (tier code, rule / template / offer / plan
name, the policy's single row) and only created when missing; an existing row is never overwritten, so a
merchant's console edits survive a second run. Tier thresholds are written only while every tier is still at
0 (the state in which the tier review skips), benefits only while a tier still has the default benefits.
Every row passes full_clean() before it is saved. Run `seed_demo` first (it creates the tiers V1..V4).
"""

from datetime import timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from coupons.models import CouponTemplate, PostPaymentRule
from members.management.demo_translations import demo_texts, demo_translate
from members.models import MembershipPlan, Tier, TierPolicy, TopUpOffer
from members.models.plans import DurationUnit
from members.models.tiers import tier_thresholds_check
from members.services.tiers import thresholds_are_valid
from points.models import Auction, DrawPrize, EarningRule, LuckyDraw, PointsPolicy, Reward, TierMonthlyGift
from points.services.draws import draw_prize_stock_set
from points.services.mall import reward_stock_add

# Scores are HK$ spent over the policy's rolling window with the default tier policy (weight of spend 1, the
# other indicators 0). The demo's year of purchases then spreads as about 65% V1, 25% V2, 7% V3, 3% V4.
# code: (score to reach, score to keep)
TIER_THRESHOLDS = {
    "V1": ("0", "0"),
    "V2": ("5000", "3000"),
    "V3": ("9000", "7000"),
    "V4": ("12000", "10000"),
}
# code: (discount %, birthday points multiplier, free shipping, monthly gift)
TIER_BENEFITS = {
    "V1": ("0", "1.00", ""),
    "V2": ("5", "1.50", "A sheet mask every month"),
    "V3": ("8", "2.00", "A travel-size serum every month"),
    "V4": ("12", "3.00", "A curated gift box every month"),
}
BENEFIT_DEFAULTS = (Decimal("0.00"), Decimal("1.00"), "")

Kind = EarningRule.Kind
Event = EarningRule.BehaviourEvent
# name, priority, fields
EARNING_RULES = [
    ("Base rate: HK$100 earns 10 points", 10, {"kind": Kind.BASE_RATE, "amount_per_unit": Decimal(100),
                                               "points_per_unit": 10, "rounding": EarningRule.Rounding.FLOOR}),
    ("Weekend points x1.5", 20, {"kind": Kind.MULTIPLIER, "multiplier": Decimal("1.50"), "weekdays": [5, 6]}),
    ("Birthday month double points", 30, {"kind": Kind.MULTIPLIER, "multiplier": Decimal(2),
                                          "birthday_month_only": True}),
    ("Member day (the 8th) double points", 40, {"kind": Kind.MULTIPLIER, "multiplier": Decimal(2), "member_day": 8}),
    ("First purchase bonus +50", 50, {"kind": Kind.BONUS_FIRST_PURCHASE, "bonus_points": 50}),
    ("Skincare bonus +20 per item", 60, {"kind": Kind.BONUS_CATEGORY, "category": "skincare", "bonus_points": 20}),
    ("Try-on +5", 70, {"kind": Kind.BEHAVIOUR, "behaviour_event": Event.TRY_ON, "bonus_points": 5,
                       "max_times_per_day": 3}),
    ("Share +3", 80, {"kind": Kind.BEHAVIOUR, "behaviour_event": Event.SHARE, "bonus_points": 3,
                      "max_times_per_day": 5}),
    ("Profile completed +20", 90, {"kind": Kind.BEHAVIOUR, "behaviour_event": Event.PROFILE_COMPLETED,
                                   "bonus_points": 20, "max_times_lifetime": 1}),
    ("Photo upload +50", 100, {"kind": Kind.BEHAVIOUR, "behaviour_event": Event.PHOTO_UPLOAD, "bonus_points": 50,
                               "max_times_lifetime": 1}),
]  # fmt: skip

Coupon = CouponTemplate.Kind
# name, fields (every template: public, claimable, valid 30 days from issue, claiming open for 30 days)
COUPON_TEMPLATES = [
    ("HK$20 off, no minimum", {"kind": Coupon.AMOUNT_OFF, "amount": Decimal(20), "quota": 1000}),
    ("Spend HK$500, save HK$50", {"kind": Coupon.SPEND_X_SAVE_Y, "amount": Decimal(50), "min_spend": Decimal(500)}),
    ("10% off, up to HK$100", {"kind": Coupon.PERCENT_OFF, "percent": Decimal(10), "max_discount": Decimal(100)}),
    ("Flash sale: HK$100 off HK$300", {"kind": Coupon.SPEND_X_SAVE_Y, "amount": Decimal(100),
                                       "min_spend": Decimal(300), "quota": 100}),
    ("Free gift: Sheet Mask x5", {"kind": Coupon.GIFT_ITEM, "gift_description": "Sheet Mask x5 (SK-022)"}),
]  # fmt: skip
COUPON_VALID_DAYS = 30
CLAIM_WINDOW = timedelta(days=30)

# name, pay, bonus, sort order, tier code granted, months held
TOP_UP_OFFERS = [
    ("Top up HK$500, get HK$30 extra", "500", "30", 10, None, None),
    ("Top up HK$1,000, get HK$100 extra", "1000", "100", 20, None, None),
    ("Top up HK$3,000, get HK$400 extra and Gold for 12 months", "3000", "400", 30, "V2", 12),
]
PLAN = ("Gold Pass", "Gold (V2) and its benefits for 12 months.", "388", "V2", 12)

# "Pay, then get a coupon for next time": (rule name, template name, template amount off, minimum paid)
POST_PAYMENT = ("Spend HK$300, get HK$30 off next time", "Thank you: HK$30 off your next visit", "30", "300")
# tier code: (points each month, coupon template name or None)
MONTHLY_GIFTS = {"V2": (100, None), "V3": (200, None), "V4": (500, "Free gift: Sheet Mask x5")}
# name, kind, points, stock, per-member limit, tier codes (empty: everyone), extra fields
REWARDS = [
    ("Tote bag", Reward.Kind.PHYSICAL, 1500, 200, 1, (), {"description": "Canvas tote, picked up in store."}),
    ("HK$20 off coupon", Reward.Kind.COUPON, 2000, 1000, 5, (), {"coupon_template": "HK$20 off, no minimum"}),
    ("HK$50 stored value", Reward.Kind.STORED_VALUE, 5000, 500, 2, (), {"stored_value_amount": Decimal(50)}),
    ("Facial session (VIP)", Reward.Kind.EXPERIENCE, 8000, 20, 1, ("V3", "V4"),
     {"description": "A 45-minute facial at any store, for Platinum and Diamond members."}),
]  # fmt: skip
DRAW = ("Weekly lucky draw", 100, 60)  # name, points per spin, weight of "no prize"
# prize name, kind, points, coupon template name, weight, stock
DRAW_PRIZES = [
    ("500 points", DrawPrize.Kind.POINTS, 500, None, 10, 100),
    ("HK$20 off coupon", DrawPrize.Kind.COUPON, None, "HK$20 off, no minimum", 25, 300),
    ("Lipstick (collect in store)", DrawPrize.Kind.GIFT, None, None, 5, 20),
]
AUCTION = ("Limited edition gift box", 3000, 100)  # item, starting bid, minimum increment


class Command(BaseCommand):
    help = "Configure the demo program (tiers, points policy, earning rules, coupons, top-ups, a plan); idempotent."

    def handle(self, *args, **options):
        now = timezone.now()
        tiers = {tier.code: tier for tier in Tier.objects.filter(code__in=TIER_THRESHOLDS)}
        missing = sorted(set(TIER_THRESHOLDS) - set(tiers))
        if missing:
            raise CommandError(f"Tiers {', '.join(missing)} are missing: run `manage.py seed_demo` first.")
        with transaction.atomic():
            notes = self._tiers()
            self._points_policy()
            self._earning_rules()
            self._coupon_templates(now=now)
            self._top_up_offers(tiers)
            self._plan(tiers)
            self._post_payment_rule()
            self._monthly_gifts(tiers)
            self._rewards(tiers)
            self._lucky_draw(now=now)
            self._auction(now=now)
        self._report(notes)

    # -- tiers ---------------------------------------------------------------------------------------------
    def _tiers(self) -> list[str]:
        tiers = list(Tier.objects.select_for_update().order_by("rank"))
        TierPolicy.load()
        notes, changed = [], {}
        if all(not tier.min_score_to_reach and not tier.min_score_to_keep for tier in tiers):
            if {tier.code for tier in tiers} == set(TIER_THRESHOLDS):
                for tier in tiers:
                    reach, keep = TIER_THRESHOLDS[tier.code]
                    tier.min_score_to_reach, tier.min_score_to_keep = Decimal(reach), Decimal(keep)
                    changed[tier.pk] = tier
                tier_thresholds_check(tiers=tiers)
            else:
                notes.append("Tier thresholds left at 0: there are tiers besides V1..V4; set them in the console.")
        if not thresholds_are_valid(tiers):  # Tier.full_clean() would refuse any change, benefits included
            notes.append("Tiers left unchanged: their thresholds are invalid; fix them in the console.")
            return notes
        for tier in tiers:
            if tier.code in TIER_BENEFITS and self._benefits(tier) == BENEFIT_DEFAULTS:
                discount, birthday, gift = TIER_BENEFITS[tier.code]
                wanted = (Decimal(discount), Decimal(birthday), gift)
                if wanted != BENEFIT_DEFAULTS:
                    tier.discount_percent, tier.birthday_multiplier, tier.monthly_gift_description = wanted
                    for column, text in demo_texts("monthly_gift_description", gift).items():
                        setattr(tier, column, text)
                    changed[tier.pk] = tier
        for tier in changed.values():
            tier.clean_fields()
            tier.save()
        # Tier.clean() compares a tier with the others as stored, so it runs once they are all saved.
        for tier in changed.values():
            tier.full_clean()
        return notes

    @staticmethod
    def _benefits(tier) -> tuple:
        return (tier.discount_percent, tier.birthday_multiplier, tier.monthly_gift_description)

    # -- points ----------------------------------------------------------------------------------------------
    def _points_policy(self) -> None:
        if PointsPolicy.objects.filter(pk=1).exists():
            return
        # Twelve months to the month's end: the oldest of the demo's year of purchases expire this month, so the
        # expiry reminders and the member page's "expiring soon" have something to show.
        policy = PointsPolicy(expiry_mode=PointsPolicy.ExpiryMode.MONTHS_END, expiry_months=12)
        policy.full_clean()
        policy.save()

    def _earning_rules(self) -> None:
        for name, priority, fields in EARNING_RULES:
            if EarningRule.objects.filter(name=name).exists():
                continue
            if EarningRule.objects.filter(priority=priority).exists():  # a merchant's rule holds it: go last
                priority = EarningRule.objects.order_by("-priority").values_list("priority", flat=True)[0] + 10
            rule = demo_translate(EarningRule(name=name, priority=priority, **fields))
            rule.full_clean()
            rule.save()

    # -- coupons, stored value, plans ------------------------------------------------------------------------
    def _coupon_templates(self, *, now) -> None:
        for name, fields in COUPON_TEMPLATES:
            if CouponTemplate.objects.filter(name=name).exists():
                continue
            template = CouponTemplate(
                name=name,
                audience=CouponTemplate.Audience.PUBLIC,
                is_claimable=True,
                per_member_limit=1,
                valid_days=COUPON_VALID_DAYS,
                claim_starts_at=now,
                claim_ends_at=now + CLAIM_WINDOW,
                **fields,
            )
            demo_translate(template).full_clean()
            template.save()

    def _top_up_offers(self, tiers) -> None:
        for name, pay, bonus, sort_order, tier_code, months in TOP_UP_OFFERS:
            if TopUpOffer.objects.filter(name=name).exists():
                continue
            offer = TopUpOffer(
                name=name,
                pay_amount=Decimal(pay),
                bonus_amount=Decimal(bonus),
                sort_order=sort_order,
                tier=tiers[tier_code] if tier_code else None,
                tier_duration_value=months,
                tier_duration_unit=DurationUnit.MONTHS,
            )
            demo_translate(offer).full_clean()
            offer.save()

    def _plan(self, tiers) -> None:
        name, description, price, tier_code, months = PLAN
        if MembershipPlan.objects.filter(name=name).exists():
            return
        plan = MembershipPlan(
            name=name,
            description=description,
            price=Decimal(price),
            tier=tiers[tier_code],
            duration_value=months,
            duration_unit=DurationUnit.MONTHS,
        )
        demo_translate(plan).full_clean()
        plan.save()

    # -- after payment, every month ----------------------------------------------------------------------------
    def _post_payment_rule(self) -> None:
        rule_name, template_name, amount, minimum = POST_PAYMENT
        if PostPaymentRule.objects.filter(name=rule_name).exists():
            return
        template = CouponTemplate.objects.filter(name=template_name).first()
        if template is None:
            template = CouponTemplate(
                name=template_name, kind=CouponTemplate.Kind.AMOUNT_OFF, amount=Decimal(amount),
                audience=CouponTemplate.Audience.MEMBERS, is_claimable=False, per_member_limit=None, valid_days=60,
            )  # fmt: skip
            demo_translate(template).full_clean()
            template.save()
        # From the day the demo is made: the year of purchases seed_demo records before it earned no coupons (a rule
        # without a start would give back-dated coupons and messages for every one of them).
        rule = PostPaymentRule(
            name=rule_name, template=template, min_paid_amount=Decimal(minimum), starts_at=timezone.now()
        )
        rule.full_clean()
        rule.save()

    def _monthly_gifts(self, tiers) -> None:
        for code, (points, template_name) in MONTHLY_GIFTS.items():
            if TierMonthlyGift.objects.filter(tier=tiers[code]).exists():
                continue
            template = CouponTemplate.objects.filter(name=template_name).first() if template_name else None
            gift = TierMonthlyGift(tier=tiers[code], points=points, coupon_template=template)
            gift.full_clean()
            gift.save()

    # -- the points mall, a lucky draw, an auction ----------------------------------------------------------
    def _rewards(self, tiers) -> None:
        for order, (name, kind, points, stock, limit, tier_codes, extra) in enumerate(REWARDS):
            if Reward.objects.filter(name=name).exists():
                continue
            fields = dict(extra)
            if "coupon_template" in fields:
                fields["coupon_template"] = CouponTemplate.objects.get(name=fields["coupon_template"])
            reward = Reward(
                name=name, kind=kind, points_price=points, per_member_limit=limit, sort_order=order * 10, **fields
            )
            demo_translate(reward).full_clean()
            reward.save()
            reward.tiers.set([tiers[code] for code in tier_codes])
            reward_stock_add(reward_id=reward.pk, quantity=stock)

    def _lucky_draw(self, *, now) -> None:
        name, points, no_prize = DRAW
        if LuckyDraw.objects.filter(name=name).exists():
            return
        draw = LuckyDraw(
            name=name, points_per_spin=points, starts_at=now, ends_at=now + timedelta(days=90), daily_spin_limit=3,
            no_prize_weight=no_prize,
        )  # fmt: skip
        demo_translate(draw).full_clean()
        draw.save()
        for prize_name, kind, prize_points, template_name, weight, stock in DRAW_PRIZES:
            template = CouponTemplate.objects.get(name=template_name) if template_name else None
            prize = DrawPrize(
                draw=draw, name=prize_name, kind=kind, points=prize_points, coupon_template=template, weight=weight,
                stock_total=0,
            )  # fmt: skip
            demo_translate(prize).full_clean()
            prize.save()
            draw_prize_stock_set(prize_id=prize.pk, stock_total=stock)

    def _auction(self, *, now) -> None:
        item, starting_bid, increment = AUCTION
        if Auction.objects.filter(item_name=item).exists():
            return
        auction = Auction(
            item_name=item, description="One of 10 numbered boxes.", starts_at=now, ends_at=now + timedelta(days=7),
            starting_bid=starting_bid, min_increment=increment,
        )  # fmt: skip
        demo_translate(auction).full_clean()
        auction.save()

    # -- summary ---------------------------------------------------------------------------------------------
    def _report(self, notes) -> None:
        tiers = Tier.objects.order_by("rank")
        policy = PointsPolicy.load()
        lines = [
            "",
            "=" * 78,
            "Demo program is configured",
            "=" * 78,
            "Tiers (score to reach / to keep, discount):",
            *[
                f"  {tier.code} {tier.name:<10} {tier.min_score_to_reach:>10} / {tier.min_score_to_keep:<10} "
                f"{tier.discount_percent}%"
                for tier in tiers
            ],
            f"Points policy: expiry mode {policy.expiry_mode}"
            + (f", {policy.expiry_months} months" if policy.expiry_mode == PointsPolicy.ExpiryMode.MONTHS_END else ""),
            f"Earning rules: {EarningRule.objects.count()}",
            f"Coupon templates: {CouponTemplate.objects.count()}",
            f"Top-up offers: {TopUpOffer.objects.count()}",
            f"Membership plans: {MembershipPlan.objects.count()}",
            f"Post-payment coupon rules: {PostPaymentRule.objects.count()}",
            f"Monthly tier gifts: {TierMonthlyGift.objects.count()}",
            f"Mall rewards: {Reward.objects.count()}, lucky draws: {LuckyDraw.objects.count()}, "
            f"auctions: {Auction.objects.count()}",
            *notes,
            "=" * 78,
        ]
        self.stdout.write("\n".join(lines))
