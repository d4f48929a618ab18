"""Fill the database with a Hong Kong demo: stores, tiers, tags, ~500 members with a year of purchases and
points, staff logins, a POS key and a member API token.

The purchases are sales like any other: each goes through the one purchase writer,
points.services.checkout.purchase_checkout, dated back to its planned day, so it earns by the demo program's
earning rules (its tier's multiplier included) and points policy, and the instant tier review after it moves the
member up (the demo's post-payment coupon rule starts on the day the demo is made, so the history earned none).
The program (`seed_demo_program`: tier thresholds, points policy, earning rules...) is therefore configured first,
once the tiers exist; it keeps a merchant's edits, and running it again afterwards (`make demo`) changes nothing.
Members start in the first tier, which a score of 0 reaches: their tier is the one their purchases earn by the
program's rules, not a drawn one.

Deterministic for a given --seed (every member draws from its own random.Random, so --members 600 after 500
adds 100 and leaves the first 500 alone) and idempotent: rows are found again by natural keys (store code,
tier code, tag name, phone or openid, purchase external id, ledger idempotency key), so a second run writes
nothing new except a fresh POS key and member token (the previous demo ones are revoked), which it prints.
"""

import random
import time
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from io import StringIO

from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from members.errors import InsufficientPoints, InvalidPhone
from members.formats import normalize_phone
from members.management.demo_translations import demo_texts
from members.models import (
    Member,
    MemberToken,
    PointsEntry,
    ProgramSettings,
    Purchase,
    PurchaseChannel,
    Role,
    Store,
    StoreApiKey,
    StoreHoursException,
    StoreOpeningHours,
    Tag,
    Tier,
    User,
)
from members.roles import sync_roles
from members.services.ledger import points_debit
from members.services.membership import member_create
from members.services.tokens import member_token_issue, member_token_revoke, store_api_key_create
from points.cart import Cart, CartLine, CheckoutContext
from points.selectors import CheckoutSettings, checkout_settings_get
from points.services.checkout import purchase_checkout

CONSOLE_URL = "http://127.0.0.1:8000/console/"
API_DOCS_URL = "http://127.0.0.1:8000/api/docs/"
DEMO_KEY_NAME = "Demo POS key"
DEMO_TOKEN_AGENT = "seed_demo"
CHUNK = 50  # members per transaction

# Opening hours: (weekdays, 0 = Monday, opens at, closes at), in the program's time zone.
EVERY_DAY = tuple(range(7))
MON_TO_SAT = tuple(range(6))
EVERY_DAY_10_22 = [(EVERY_DAY, "10:00", "22:00")]
# Every store is closed on Lunar New Year's Day and opens late on Christmas Day (Hong Kong public holidays).
LUNAR_NEW_YEAR = {2026: date(2026, 2, 17), 2027: date(2027, 2, 6), 2028: date(2028, 1, 26), 2029: date(2029, 2, 13)}

# code, name, address, phone, opening hours, latitude, longitude
STORES = [
    (
        "cwb",
        "Causeway Bay",
        "Shop 1203, 12/F, Hysan Place, 500 Hennessy Road, Causeway Bay",
        "+852 2890 1234",
        EVERY_DAY_10_22,
        "22.279920",
        "114.183980",
    ),
    (
        "central",
        "Central",
        "G/F, 30 Queen's Road Central, Central",
        "+852 2523 5678",
        [(MON_TO_SAT, "09:30", "21:00"), ((6,), "11:00", "19:00")],
        "22.281640",
        "114.157530",
    ),
    (
        "tst",
        "Tsim Sha Tsui",
        "Shop OT 301, Ocean Terminal, Harbour City, 3–27 Canton Road, Tsim Sha Tsui",
        "+852 2730 2468",
        EVERY_DAY_10_22,
        "22.296960",
        "114.168870",
    ),
    (
        "mongkok",
        "Mong Kok",
        "Shop L6-12, Langham Place, 8 Argyle Street, Mong Kok",
        "+852 2332 1357",
        [(EVERY_DAY, "11:00", "23:00")],
        "22.318550",
        "114.168330",
    ),
    (
        "shatin",
        "Sha Tin",
        "Shop 521, Level 5, New Town Plaza Phase I, 18 Sha Tin Centre Street, Sha Tin",
        "+852 2691 8642",
        EVERY_DAY_10_22,
        "22.382070",
        "114.188850",
    ),
    (
        "tko",
        "Tseung Kwan O",
        "Shop 2035, Level 2, PopCorn 2, 9 Tong Chun Street, Tseung Kwan O",
        "+852 2702 9753",
        [(EVERY_DAY, "10:30", "22:00")],
        "22.307640",
        "114.260180",
    ),
]
TIERS = [
    ("V1", "Silver", 1, "1.00"),
    ("V2", "Gold", 2, "1.20"),
    ("V3", "Platinum", 3, "1.50"),
    ("V4", "Diamond", 4, "2.00"),
]
TAGS = ["VIP", "Corporate", "Student", "Mainland visitor", "Newsletter", "Staff"]
PRODUCTS = [  # sku, name, category, unit price (HKD)
    ("SK-001", "Hydrating Serum 30ml", "skincare", "420.00"),
    ("SK-014", "Sunscreen SPF50 50ml", "skincare", "168.00"),
    ("SK-022", "Sheet Mask x5", "skincare", "98.00"),
    ("FR-101", "Eau de Parfum 50ml", "fragrance", "890.00"),
    ("AC-210", "Silk Scarf", "accessories", "560.00"),
    ("AC-233", "Leather Card Holder", "accessories", "380.00"),
    ("AP-301", "Cotton T-shirt", "apparel", "199.00"),
    ("AP-318", "Linen Shirt", "apparel", "459.00"),
    ("HM-401", "Scented Candle", "home", "268.00"),
    ("HM-415", "Tea Gift Set", "home", "328.00"),
]
PAYMENTS = {"alipay_hk": 18, "wechat_pay_hk": 14, "payme": 10, "octopus": 16, "fps": 6, "card": 26, "cash": 10}
JOIN_SOURCES = {"home_popup": 30, "product_detail": 12, "post_payment": 25, "store_qr": 20, "referral": 8, "console": 5}
HK_SURNAMES = [
    ("陳", "Chan"),
    ("李", "Lee"),
    ("張", "Cheung"),
    ("黃", "Wong"),
    ("何", "Ho"),
    ("林", "Lam"),
    ("吳", "Ng"),
    ("劉", "Lau"),
    ("梁", "Leung"),
    ("鄭", "Cheng"),
    ("謝", "Tse"),
    ("麥", "Mak"),
    ("郭", "Kwok"),
    ("周", "Chow"),
    ("馬", "Ma"),
    ("羅", "Law"),
]
HK_GIVEN = [
    ("嘉欣", "Ka Yan"),
    ("志明", "Chi Ming"),
    ("詠詩", "Wing Sze"),
    ("家豪", "Ka Ho"),
    ("曉彤", "Hiu Tung"),
    ("俊傑", "Chun Kit"),
    ("美玲", "Mei Ling"),
    ("偉文", "Wai Man"),
    ("子晴", "Tsz Ching"),
    ("浩然", "Ho Yin"),
    ("凱琳", "Hoi Lam"),
    ("振華", "Chun Wah"),
]
ENGLISH_NAMES = [
    "Emily",
    "Jason",
    "Karen",
    "Kelvin",
    "Winnie",
    "Ivan",
    "Cherry",
    "Marco",
    "Chloe",
    "Ryan",
    "Natalie",
    "Derek",
    "Queenie",
    "Alvin",
    "Fiona",
    "Edmond",
]
CN_SURNAMES = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴"]
CN_GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "杰", "婷", "强", "晓明", "思远"]
CN_MOBILE_PREFIXES = ["138", "139", "135", "186", "150", "158", "177"]
HUNDRED = Decimal(100)
CENT = Decimal("0.01")


@dataclass
class PlannedPurchase:
    external_id: str
    store_code: str
    channel: str
    purchased_at: datetime
    payment_method: str
    items: tuple[CartLine, ...]
    gross: Decimal
    discount: Decimal
    redeem_points: int = 0


@dataclass
class PlannedMember:
    index: int
    fields: dict
    store_code: str
    tags: list
    purchases: list = field(default_factory=list)

    @property
    def natural_key(self):
        return ("phone", self.fields["phone"]) if self.fields.get("phone") else ("openid", self.fields["wechat_openid"])


def weighted(rng, weights):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class Command(BaseCommand):
    help = "Seed a deterministic, idempotent Hong Kong demo (stores, tiers, members, purchases, points, logins)."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=1, help="Random seed (default 1).")
        parser.add_argument("--members", type=int, default=500, help="Number of demo members (default 500).")
        parser.add_argument("--password", default="", help="Password of the 'admin' superuser if it is created.")
        parser.add_argument(
            "--reset-passwords", action="store_true", help="Also reset the passwords of existing demo logins."
        )

    def handle(self, *args, seed, members, password, reset_passwords, **options):
        started = time.monotonic()
        now = timezone.now()
        anchor = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
        with transaction.atomic():
            ProgramSettings.objects.get_or_create(pk=1, defaults={"program_name": "Harbour Rewards"})
            stores = self._stores(today=anchor.date())
            tiers = self._tiers()
            tags = {name: Tag.objects.get_or_create(name=name)[0] for name in TAGS}
            logins = self._users(stores[STORES[0][0]], password=password, reset=reset_passwords)
        self._program()
        plans = self._plan(seed=seed, count=members, anchor=anchor)
        created, purchases = self._write(plans, stores=stores, tiers=tiers, tags=tags)
        demo_member = Member.objects.get(phone=plans[0].fields["phone"])
        token = self._demo_token(demo_member, now=now)
        pos_key = self._demo_pos_key(stores[STORES[0][0]], now=now)
        elapsed = time.monotonic() - started
        self._report(
            logins=logins,
            demo_member=demo_member,
            token=token,
            pos_key=pos_key,
            store=stores[STORES[0][0]],
            created=created,
            purchases=purchases,
            elapsed=elapsed,
        )

    # -- reference data ----------------------------------------------------------------------------

    def _stores(self, *, today: date):
        stores = {}
        for code, name, address, phone, hours, latitude, longitude in STORES:
            stores[code], _created = Store.objects.get_or_create(
                code=code,
                defaults={
                    **demo_texts("name", name),
                    **demo_texts("address", address),
                    "phone": phone,
                    "latitude": Decimal(latitude),
                    "longitude": Decimal(longitude),
                },
            )
            self._store_hours(stores[code], hours=hours, today=today)
        return stores

    def _store_hours(self, store, *, hours, today: date):
        """Give a store its weekly hours (unless it has some) and the coming public holidays (once each)."""
        if not StoreOpeningHours.objects.filter(store=store).exists():
            StoreOpeningHours.objects.bulk_create(
                StoreOpeningHours(store=store, weekday=weekday, opens_at=opens_at, closes_at=closes_at)
                for weekdays, opens_at, closes_at in hours
                for weekday in weekdays
            )
        lunar_new_year = next((day for day in sorted(LUNAR_NEW_YEAR.values()) if day >= today), None)
        christmas = date(today.year if (today.month, today.day) <= (12, 25) else today.year + 1, 12, 25)
        holidays = [
            (
                christmas,
                {"is_closed": False, "opens_at": "12:00", "closes_at": "20:00", **demo_texts("note", "Christmas Day")},
            )
        ]
        if lunar_new_year is not None:
            holidays.append((lunar_new_year, {"is_closed": True, **demo_texts("note", "Lunar New Year's Day")}))
        for day, defaults in holidays:
            StoreHoursException.objects.get_or_create(store=store, date=day, defaults=defaults)

    def _tiers(self):
        tiers = {}
        for code, name, rank, multiplier in TIERS:
            tier = Tier.objects.filter(code=code).first() or Tier.objects.filter(rank=rank).first()
            if tier is None:
                tier = Tier.objects.create(
                    code=code, **demo_texts("name", name), rank=rank, earn_multiplier=Decimal(multiplier)
                )
            tiers[code] = tier
        return tiers

    def _program(self):
        """Configure the demo program before any purchase, so the purchases follow its rules (seed_demo_program)."""
        try:
            call_command("seed_demo_program", stdout=StringIO())
        except CommandError as error:  # tiers other than V1..V4: the purchases follow the program there is
            self.stderr.write(f"The demo program is not configured: {error}")

    def _users(self, store, *, password, reset):
        if Group.objects.filter(name__in=Role.values).count() != len(Role.values):
            sync_roles()
        wanted = [
            ("admin", password or "admin-demo-1234", None, None, True),
            ("manager", "manager-demo-1234", Role.STORE_MANAGER, store, False),
            ("clerk", "clerk-demo-1234", Role.CLERK, store, False),
        ]
        logins = []
        for username, secret, role, user_store, is_superuser in wanted:
            user = User.objects.filter(username=username).first()
            shown = secret
            if user is None:
                user = User(username=username, is_staff=True, is_superuser=is_superuser, store=user_store)
                user.set_password(secret)
                user.save()
                if role:
                    user.groups.add(Group.objects.get(name=role))
            elif reset:
                user.set_password(secret)
                user.save(update_fields=["password"])
            else:
                shown = "(existing account: password unchanged; --reset-passwords resets it)"
            label = "superuser" if is_superuser else f"{Role(role).label}, {store.name}"
            logins.append((username, shown, label))
        return logins

    # -- the plan: pure and deterministic ---------------------------------------------------------------

    def _plan(self, *, seed, count, anchor):
        used_phones = set()
        return [self._plan_member(seed, index, anchor, used_phones) for index in range(count)]

    def _plan_member(self, seed, index, anchor, used_phones):
        rng = random.Random(f"demo:{seed}:member:{index}")
        roll = rng.random()
        kind = "hk" if index == 0 or roll < 0.87 else ("mainland" if roll < 0.97 else "visitor")
        store_code = STORES[0][0] if index == 0 else rng.choice(STORES)[0]
        joined_days_ago = rng.randint(20, 1100)
        joined_at = anchor - timedelta(days=joined_days_ago, hours=rng.randint(0, 12), minutes=rng.randint(0, 59))
        fields = {"home_store_code": store_code}
        if kind == "visitor":
            fields.update(
                wechat_openid=f"demo-openid-{seed}-{index:05d}",
                status=Member.Status.VISITOR,
                locale=Member.Locale.ZH_HANT,
            )
            return PlannedMember(index, self._member_fields(fields), store_code, [])

        if kind == "hk":
            name, english, surname = self._hk_name(rng)
            phone = "+85291234567" if index == 0 else self._phone(rng, used_phones, mainland=False)
            locale = Member.Locale.EN if name.isascii() else Member.Locale.ZH_HANT
        else:
            name, english, surname = rng.choice(CN_SURNAMES) + rng.choice(CN_GIVEN), "", ""
            phone = self._phone(rng, used_phones, mainland=True)
            locale = Member.Locale.ZH_HANS
        used_phones.add(phone)
        marketing = rng.random() < 0.6
        fields.update(
            phone=phone,
            name=name,
            gender=rng.choice(["f", "f", "m", "m", ""]),
            locale=locale,
            birthday=date(rng.randint(1958, 2006), rng.randint(1, 12), rng.randint(1, 28))
            if rng.random() < 0.75
            else None,
            email=f"{english.lower()}.{surname.lower()}{index}@example.com" if english and rng.random() < 0.5 else "",
            status=Member.Status.ACTIVE,
            join_source=weighted(rng, JOIN_SOURCES),
            joined_at=joined_at,
            consent_marketing=marketing,
            consent_sms=marketing and rng.random() < 0.7,
            consent_email=marketing and rng.random() < 0.5,
            consent_wechat=rng.random() < 0.8,
            consent_updated_at=joined_at,
        )
        rng.random()  # the draw of the tier the plan once set (the program's rules set it now): a seed's plan is kept
        tags = rng.sample(TAGS[:-1], k=rng.choice([0, 0, 1, 1, 2]))
        if kind == "mainland" and "Mainland visitor" not in tags:
            tags.append("Mainland visitor")
        plan = PlannedMember(index, self._member_fields(fields), store_code, sorted(tags))
        plan.purchases = self._plan_purchases(rng, seed, index, store_code, anchor, min(joined_days_ago, 365))
        return plan

    @staticmethod
    def _member_fields(fields):
        fields = dict(fields)
        fields.pop("home_store_code")
        return fields

    @staticmethod
    def _hk_name(rng):
        chinese_surname, surname = rng.choice(HK_SURNAMES)
        chinese_given, romanised_given = rng.choice(HK_GIVEN)
        english = rng.choice(ENGLISH_NAMES)
        style = rng.random()
        if style < 0.3:
            return chinese_surname + chinese_given, english, surname
        if style < 0.55:
            return f"{english} {surname}", english, surname
        if style < 0.7:
            return f"{surname} {romanised_given}", english, surname
        return f"{english} {surname} {chinese_surname}{chinese_given}", english, surname

    @staticmethod
    def _phone(rng, used, *, mainland):
        while True:
            if mainland:
                raw = "+86" + rng.choice(CN_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
            else:
                raw = "+852" + rng.choice("569") + f"{rng.randrange(10**7):07d}"
            try:
                phone = normalize_phone(raw)
            except InvalidPhone:
                continue
            if phone not in used:
                return phone

    def _plan_purchases(self, rng, seed, index, home_code, anchor, window_days):
        count = rng.choices(range(0, 16), weights=[6, 8, 10, 11, 11, 10, 9, 8, 7, 5, 4, 3, 3, 2, 2, 1])[0]
        planned = []
        for number in range(count):
            days_ago = rng.randint(1, max(1, window_days))
            purchased_at = (
                anchor - timedelta(days=days_ago) + timedelta(hours=rng.randint(11, 21), minutes=rng.randint(0, 59))
            )
            lines = tuple(
                CartLine(
                    sku=sku, name=name, category=category, unit_price=Decimal(price), quantity=rng.choice([1, 1, 1, 2])
                )
                for sku, name, category, price in rng.sample(PRODUCTS, k=rng.choice([1, 1, 1, 2, 2, 3]))
            )
            gross = sum(line.amount for line in lines)
            discount = (
                (gross * Decimal(rng.choice([5, 10, 15])) / HUNDRED).quantize(CENT)
                if rng.random() < 0.12
                else Decimal(0)
            )
            channel_roll = rng.random()
            channel = "pos" if channel_roll < 0.8 else ("mini_program" if channel_roll < 0.92 else "online")
            store_code = home_code if channel != "pos" or rng.random() < 0.8 else rng.choice(STORES)[0]
            planned.append(
                PlannedPurchase(
                    external_id=f"DEMO{seed}-{index:05d}-{number:02d}",
                    store_code=store_code,
                    channel=channel,
                    purchased_at=purchased_at,
                    payment_method=weighted(rng, PAYMENTS),
                    items=lines,
                    gross=gross,
                    discount=discount,
                    redeem_points=rng.choice([100, 200, 300, 500]) if rng.random() < 0.1 else 0,
                )
            )
        planned.sort(key=lambda purchase: (purchase.purchased_at, purchase.external_id))
        return planned

    # -- writing through the services ----------------------------------------------------------------------

    def _write(self, plans, *, stores, tiers, tags):
        phones = [p.fields["phone"] for p in plans if p.fields.get("phone")]
        openids = [p.fields["wechat_openid"] for p in plans if p.fields.get("wechat_openid")]
        existing = {
            ("phone", phone): pk for pk, phone in Member.objects.filter(phone__in=phones).values_list("pk", "phone")
        }
        existing |= {
            ("openid", openid): pk
            for pk, openid in Member.objects.filter(wechat_openid__in=openids).values_list("pk", "wechat_openid")
        }
        prefixes = {plan.purchases[0].external_id.rsplit("-", 2)[0] for plan in plans if plan.purchases}
        recorded = set()
        for prefix in prefixes:
            recorded |= set(
                Purchase.objects.filter(external_id__startswith=f"{prefix}-").values_list("external_id", flat=True)
            )
        # A member starts in the first tier (a score of 0 reaches it); the reviews after their purchases move them.
        first_tier = min(tiers.values(), key=lambda tier: tier.rank)
        settings = checkout_settings_get()  # the program's policy and rules, read once for every purchase
        created = purchases = 0
        for start in range(0, len(plans), CHUNK):
            with transaction.atomic():
                for plan in plans[start : start + CHUNK]:
                    member_id = existing.get(plan.natural_key)
                    if member_id is None:
                        is_visitor = plan.fields["status"] == Member.Status.VISITOR
                        member = member_create(
                            now=plan.fields.get("joined_at") or timezone.now(),
                            home_store=stores[plan.store_code],
                            tier=None if is_visitor else first_tier,
                            **plan.fields,
                        )
                        if plan.tags:
                            member.tags.add(*(tags[name] for name in plan.tags))
                        member_id = member.pk
                        created += 1
                    if all(p.external_id in recorded for p in plan.purchases):
                        continue
                    purchases += self._write_purchases(
                        plan, member_id=member_id, stores=stores, settings=settings, recorded=recorded
                    )
        return created, purchases

    def _write_purchases(self, plan, *, member_id, stores, settings: CheckoutSettings, recorded):
        """Check out the member's planned purchases not recorded yet, each as of its own date, and the redemptions.

        A purchase already recorded is skipped before the checkout, with its redemption: a checkout replays only the
        same request, and a run on another day dates the plan's purchases otherwise (the checkout would refuse the
        external id as reused), as it would a purchase written before the demo went through the checkout.
        """
        written = 0
        for planned in plan.purchases:
            if planned.external_id in recorded:
                continue
            result = purchase_checkout(
                cart=Cart(
                    gross_amount=planned.gross,
                    items=planned.items,
                    discount_amount=planned.discount,
                    purchased_at=planned.purchased_at,
                    external_id=planned.external_id,
                    payment_method=planned.payment_method,
                ),
                context=CheckoutContext(
                    channel=planned.channel,
                    store_id=stores[planned.store_code].pk,
                    now=planned.purchased_at,
                    member_id=member_id,
                    # as the mini program's own checkout: the lines a phone reports earn no item bonuses
                    earn_on_items=planned.channel != PurchaseChannel.MINI_PROGRAM,
                ),
                settings=settings,
            )
            if result.is_replay:  # the same sale, written meanwhile: its redemption too
                continue
            written += 1
            if planned.redeem_points and planned.redeem_points <= (result.checkout.balance_after or 0):
                with suppress(InsufficientPoints):  # points held or changed by hand since the checkout
                    points_debit(
                        member_id=member_id,
                        points=planned.redeem_points,
                        kind=PointsEntry.Kind.REDEMPTION,
                        idempotency_key=f"demo:redemption:{result.purchase.pk}",
                        now=planned.purchased_at + timedelta(minutes=5),
                        source="demo",
                        reason=gettext_noop("Points redeemed for a gift at the counter"),  # shown translated
                    )
        return written

    # -- credentials to try the API -------------------------------------------------------------------------------

    def _demo_token(self, member, *, now):
        for token_id in MemberToken.objects.filter(
            member=member, user_agent=DEMO_TOKEN_AGENT, revoked_at__isnull=True
        ).values_list("pk", flat=True):
            member_token_revoke(token_id=token_id, now=now)
        return member_token_issue(member_id=member.pk, now=now, user_agent=DEMO_TOKEN_AGENT)

    def _demo_pos_key(self, store, *, now):
        # Keys are stored hashed, so the previous demo key can't be printed again: revoke it, issue a new one.
        StoreApiKey.objects.filter(store=store, name=DEMO_KEY_NAME, revoked_at__isnull=True).update(revoked_at=now)
        _key, raw = store_api_key_create(store_id=store.pk, name=DEMO_KEY_NAME)
        return raw

    def _report(self, *, logins, demo_member, token, pos_key, store, created, purchases, elapsed):
        width = max(len(username) for username, _secret, _label in logins)
        lines = [
            "",
            "=" * 78,
            "Loyalty demo is ready",
            "=" * 78,
            f"Data: {Member.objects.count()} members ({created} new), {Purchase.objects.count()} purchases "
            f"({purchases} new), {PointsEntry.objects.count()} points entries, {Store.objects.count()} stores "
            f"— seeded in {elapsed:.1f} s",
            "",
            f"Console:   {CONSOLE_URL}",
            *[f"  login  {username:<{width}}  {secret}   ({label})" for username, secret, label in logins],
            "",
            f"API docs:  {API_DOCS_URL}",
            f"  Member token of {demo_member.name} ({demo_member.phone}, member no. {demo_member.member_number}):",
            f"    Authorization: Bearer {token}",
            f"  POS key of {store.name} ({store.code}):",
            f"    Authorization: Api-Key {pos_key}",
            "  (both are shown once; running seed_demo again revokes them and prints new ones)",
            "=" * 78,
        ]
        self.stdout.write("\n".join(lines))
