"""The console's own admins: third-party models (roles, beat schedules) in the console's theme."""

from console.admin import third_party  # noqa: F401  (registers the admins)
