"""Console for the points engine, one module per concept; importing them registers their admins."""

from points.admin import (  # noqa: F401
    auctions,
    checkout_orders,
    draws,
    grants,
    mall,
    policy,
    purchases,
    reports,
    rules,
    tier_gifts,
)
