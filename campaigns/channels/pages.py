"""The page behind an unsubscribe link (campaigns/channels/unsubscribe.py): a person's page, not an API.

GET shows what the link would do and a button; only a POST unsubscribes, so a mail scanner or a link preview that
opens the link changes nothing. The POST is the button's or a mail client's one-click unsubscribe (RFC 8058),
which carries no cookie and no CSRF token: the view is exempt from CSRF because the signed token is the whole
authority (a page elsewhere cannot forge the POST without the token, and with it could unsubscribe anyway).
Pages are in the member's language; a damaged or expired link gets a page saying what else works.
"""

from django.http import HttpResponseNotAllowed
from django.shortcuts import render
from django.utils import timezone, translation
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from campaigns.channels.unsubscribe import (
    UnsubscribeLinkExpired,
    UnsubscribeLinkInvalid,
    unsubscribe_by_token,
    unsubscribe_link_read,
)
from members.models import OutboxMessage, ProgramSettings

TEMPLATE = "campaigns/unsubscribe.html"


@csrf_exempt
@never_cache
def unsubscribe_page(request, token):
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    program = ProgramSettings.load().program_name
    try:
        member, channel = unsubscribe_link_read(token=token)
    except (UnsubscribeLinkInvalid, UnsubscribeLinkExpired) as exc:
        state = "expired" if isinstance(exc, UnsubscribeLinkExpired) else "invalid"
        return render(request, TEMPLATE, {"state": state, "program": program}, status=exc.status)
    if request.method == "POST":
        unsubscribe_by_token(token=token, now=timezone.now())
    with translation.override(member.locale):
        context = {
            "state": "done" if request.method == "POST" else "confirm",
            "program": program,
            "channel": OutboxMessage.Channel(channel).label,
            "language": translation.get_language(),
        }
        # Rendered now, inside the override: a lazy response would render in the request's language.
        return render(request, TEMPLATE, context)
