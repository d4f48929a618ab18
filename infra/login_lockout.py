"""The console's login lockout (django-axes, attempts kept in the database): who is counted and what a locked-out
person sees.

Attempts are counted per username AND client address, not per address alone: a shop's tills share one public
address, and one clerk mistyping must not lock out the others. Behind a reverse proxy the client's address is
read from X-Forwarded-For exactly as the API's throttles read it (REST_FRAMEWORK["NUM_PROXIES"] trusted proxies).
"""

from django.conf import settings
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from rest_framework.throttling import BaseThrottle


def client_ip(request) -> str:
    """The address of the client, read exactly as the API's throttles read it (DRF's NUM_PROXIES rule)."""
    return BaseThrottle().get_ident(request)


def locked_out(request, credentials, *args, **kwargs) -> HttpResponse:
    """429 with a page in the staff member's language saying how long to wait (the lock lifts by itself then)."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    body = render_to_string(
        "console/locked_out.html",
        {
            "title": _("Too many failed logins"),
            "message": _(
                "This account is locked on this device after %(count)s failed logins. Try again in %(minutes)s minutes."
            )
            % {"count": settings.AXES_FAILURE_LIMIT, "minutes": minutes},
        },
        request=request,
    )
    return HttpResponse(body, status=429)
