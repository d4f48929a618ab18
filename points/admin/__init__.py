"""Console for the points engine, one module per concept; importing them registers their admins."""

from points.admin import grants, policy, purchases, rules  # noqa: F401
