"""Throttles for the auth and POS endpoints (a courtesy against abuse, not a guard: see ECOSYSTEM.md).

The rates are read from settings at each request (not frozen at import like DRF's class attribute), so a
test can lower them with a settings override.
"""

from rest_framework import settings as drf_settings
from rest_framework.throttling import SimpleRateThrottle


class _SettingsRateThrottle(SimpleRateThrottle):
    def get_rate(self):
        return drf_settings.api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class LoginIpThrottle(_SettingsRateThrottle):
    """WeChat login attempts per client IP."""

    scope = "login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": f"ip:{self.get_ident(request)}"}


class LoginMemberThrottle(_SettingsRateThrottle):
    """Phone-binding attempts (a WeChat call each) per member."""

    scope = "login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": f"member:{request.user.pk}"}


class PosLookupThrottle(_SettingsRateThrottle):
    """Member look-ups per POS key."""

    scope = "pos_lookup"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": f"key:{request.auth.pk}"}
