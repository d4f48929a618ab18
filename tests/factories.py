"""factory-boy factories for every app's models. Money-like state goes through services, not factories."""

from decimal import Decimal

import factory
from django.utils import timezone

from members.formats import new_member_number
from members.models import Member, Role, Store, Tag, Tier, User


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
