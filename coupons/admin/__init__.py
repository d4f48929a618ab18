"""Console for coupons: templates (designed by the merchant), the coupons issued from them (read-only),
bulk issue jobs with their progress, partner code pools and the per-template report."""

from coupons.admin import coupons, post_payment, templates  # noqa: F401  (registers the admins)
