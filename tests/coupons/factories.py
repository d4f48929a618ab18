"""Factories for coupon templates. Coupons themselves are issued through the services."""

from decimal import Decimal

import factory

from coupons.models import CouponTemplate


class CouponTemplateFactory(factory.django.DjangoModelFactory):
    """An active, claimable HK$20-off template, valid 30 days after issue, one per member, unlimited stock."""

    class Meta:
        model = CouponTemplate
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Offer {n}")
    kind = CouponTemplate.Kind.AMOUNT_OFF
    amount = Decimal("20.00")
    valid_days = 30
    per_member_limit = 1
    audience = CouponTemplate.Audience.MEMBERS

    @factory.post_generation
    def stores(self, create, extracted, **kwargs):
        if create and extracted:
            self.stores.set(extracted)

    @factory.post_generation
    def tiers(self, create, extracted, **kwargs):
        if create and extracted:
            self.tiers.set(extracted)

    @factory.post_generation
    def tags(self, create, extracted, **kwargs):
        if create and extracted:
            self.tags.set(extracted)
