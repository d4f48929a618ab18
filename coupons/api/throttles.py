"""Throttles of the coupon endpoints: a courtesy against abuse, not the guard (quotas are kept in the database).

Rates are read at each request from settings (COUPON_CLAIM_THROTTLE, COUPON_CODE_THROTTLE, set by environment
variables of the same names), so a deployment or a test changes them without touching code.
"""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class CouponClaimThrottle(SimpleRateThrottle):
    """Claims per member: a flash sale answers fast, but one client cannot hammer it."""

    scope = "coupon_claim"

    def get_rate(self):
        return settings.COUPON_CLAIM_THROTTLE

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": f"member:{request.user.pk}"}


class CouponCodeThrottle(SimpleRateThrottle):
    """Coupon code checks per POS key, so codes cannot be guessed at speed."""

    scope = "coupon_code"

    def get_rate(self):
        return settings.COUPON_CODE_THROTTLE

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": f"key:{request.auth.pk}"}
