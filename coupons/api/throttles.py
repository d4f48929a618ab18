"""Throttles of the coupon endpoints: a courtesy against abuse, not the guard (quotas are kept in the database).

Rates come at each request from settings (COUPON_CLAIM_THROTTLE, COUPON_CODE_THROTTLE), else from the
environment variables of the same names (how bench/flash_sale.py raises the claim rate for the gunicorn it
starts), else the defaults: a deployment or a test changes them without touching code.
"""

import os

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class CouponClaimThrottle(SimpleRateThrottle):
    """Claims per member: a flash sale answers fast, but one client cannot hammer it."""

    scope = "coupon_claim"

    def get_rate(self):
        return getattr(settings, "COUPON_CLAIM_THROTTLE", None) or os.environ.get("COUPON_CLAIM_THROTTLE", "30/min")

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": f"member:{request.user.pk}"}


class CouponCodeThrottle(SimpleRateThrottle):
    """Coupon code checks per POS key, so codes cannot be guessed at speed."""

    scope = "coupon_code"

    def get_rate(self):
        return getattr(settings, "COUPON_CODE_THROTTLE", None) or os.environ.get("COUPON_CODE_THROTTLE", "120/min")

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": f"key:{request.auth.pk}"}
