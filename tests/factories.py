"""factory-boy factories for every app's models. Money-like state goes through services, not factories."""

from decimal import Decimal

import factory
from django.utils import timezone

from members.formats import new_member_number
from members.models import Member, Notification, Role, Store, Tag, Tier, User
from points.cart import Cart, CheckoutContext
from points.services.checkout import CheckoutResult, purchase_checkout


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"store{n}")
    name = factory.Sequence(lambda n: f"Store {n}")
    latitude = Decimal("22.281500")
    longitude = Decimal("114.158100")


class TierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tier
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"V{n + 1}")
    name = factory.Sequence(lambda n: f"Tier {n + 1}")
    rank = factory.Sequence(lambda n: n + 1)


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tag{n}")


class MemberFactory(factory.django.DjangoModelFactory):
    """An active member with a Hong Kong mobile number."""

    class Meta:
        model = Member

    member_number = factory.LazyFunction(new_member_number)
    phone = factory.Sequence(lambda n: f"+8529{n:07d}")
    name = factory.Faker("name")
    status = Member.Status.ACTIVE
    join_source = Member.JoinSource.CONSOLE
    joined_at = factory.LazyFunction(timezone.now)


class NotificationFactory(factory.django.DjangoModelFactory):
    """A campaign message in a member's inbox (written directly: tests of what reads or rewrites the inbox)."""

    class Meta:
        model = Notification

    member = factory.SubFactory(MemberFactory)
    kind = Notification.Kind.CAMPAIGN
    title = "Offer"
    body = "x"
    locale = "en"
    dedupe_key = factory.Sequence(lambda n: f"test:{n}")
    created_at = factory.LazyFunction(timezone.now)


class UserFactory(factory.django.DjangoModelFactory):
    """A staff user; pass role=Role.CLERK etc. and store=... to scope them."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "pass-word-123")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        from django.contrib.auth.models import Group

        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))
        if create:
            self.save()


__all__ = ["MemberFactory", "Role", "StoreFactory", "TagFactory", "TierFactory", "UserFactory"]


# -- tiers and stored value (issue 4) ---------------------------------------------------------------------------
class PurchaseFactory(factory.django.DjangoModelFactory):
    """A purchase row written directly (no instant tier upgrade): for arranging history in tier tests."""

    class Meta:
        model = "members.Purchase"

    member = factory.SubFactory(MemberFactory)
    store = factory.SubFactory(StoreFactory)
    channel = "pos"
    external_id = factory.Sequence(lambda n: f"sale-{n}")
    purchased_at = factory.LazyFunction(timezone.now)
    gross_amount = Decimal("100.00")
    paid_amount = factory.LazyAttribute(lambda purchase: purchase.gross_amount)
    payment_method = "card"


class TopUpOfferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "members.TopUpOffer"

    name = factory.Sequence(lambda n: f"Top-up offer {n}")
    pay_amount = Decimal("1000.00")
    bonus_amount = Decimal("100.00")


# -- paid membership plans (issue 4) ------------------------------------------------------------------------------
class MembershipPlanFactory(factory.django.DjangoModelFactory):
    """A plan on sale: pass tier=... (required); 30 days by default."""

    class Meta:
        model = "members.MembershipPlan"

    name = factory.Sequence(lambda n: f"Plan {n}")
    price = Decimal("388.00")
    duration_value = 30
    duration_unit = "days"


# -- lucky draws and points auctions (issue 3) ----------------------------------------------------------------------
class LuckyDrawFactory(factory.django.DjangoModelFactory):
    """A draw open from an hour ago for a week, 100 points a spin; add prizes with DrawPrizeFactory."""

    class Meta:
        model = "points.LuckyDraw"

    name = factory.Sequence(lambda n: f"Lucky draw {n}")
    points_per_spin = 100
    starts_at = factory.LazyFunction(lambda: timezone.now() - timezone.timedelta(hours=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(days=7))


class DrawPrizeFactory(factory.django.DjangoModelFactory):
    """A points prize (50 points) of weight 1 with 10 in stock."""

    class Meta:
        model = "points.DrawPrize"

    draw = factory.SubFactory(LuckyDrawFactory)
    name = factory.Sequence(lambda n: f"Prize {n}")
    kind = "points"
    points = 50
    weight = 1
    stock_total = 10
    stock_remaining = factory.LazyAttribute(lambda prize: prize.stock_total)


class AuctionFactory(factory.django.DjangoModelFactory):
    """An open auction from an hour ago for a day: bids from 1000 points, raised by 100 at least."""

    class Meta:
        model = "points.Auction"

    item_name = factory.Sequence(lambda n: f"Limited edition {n}")
    starts_at = factory.LazyFunction(lambda: timezone.now() - timezone.timedelta(hours=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(days=1))
    starting_bid = 1000
    min_increment = 100


# -- points mall (issue 3) ----------------------------------------------------------------------------------------
class RewardFactory(factory.django.DjangoModelFactory):
    """A physical gift open now: 100 points, 10 in stock, once per member; pass kind=... and its target."""

    class Meta:
        model = "points.Reward"

    name = factory.Sequence(lambda n: f"Reward {n}")
    kind = "physical"
    points_price = 100
    stock_total = 10
    stock_remaining = factory.LazyAttribute(lambda reward: reward.stock_total)


# -- sales through the one checkout (points.services.checkout) ---------------------------------------------------
def checkout_sale(*, store, now, member=None, channel="pos", **cart) -> CheckoutResult:
    """Record a sale as a till would, through the checkout: `cart` gives the Cart's fields (external_id and
    gross_amount at least; paid by card unless payment_method says otherwise); anonymous without `member`."""
    return purchase_checkout(
        cart=Cart(**{"payment_method": "card", **cart}),
        context=CheckoutContext(channel=channel, store_id=store.pk, member_id=member.pk if member else None, now=now),
    )
