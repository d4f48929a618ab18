"""Factories of the campaign engine's tests: a campaign saved straight to the table (the services' checks are
tested on their own), then moved to the status a test needs."""

import factory

from campaigns.models import Campaign


class CampaignFactory(factory.django.DjangoModelFactory):
    """A running brand-wide broadcast with a message and no reward, limit or hold-out."""

    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    kind = Campaign.Kind.BROADCAST
    status = Campaign.Status.RUNNING
    message_title = "Hello {first_name}"
    message_body = "A treat for member {member_number}."
    channels = factory.LazyFunction(list)
