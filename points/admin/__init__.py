"""Console for the points engine, one module per concept; importing them registers their admins."""

from points.admin import auctions, draws, grants, mall, policy, purchases, reports, rules, tier_gifts  # noqa: F401
