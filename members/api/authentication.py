"""The two API credentials: a member token (`Bearer mbr_...`) and a per-store POS key (`Api-Key pk_...`).

Each door accepts only its own credential: a POS key sent as a Bearer token, or a member token sent as an
Api-Key, is refused with 401 `authentication_failed` rather than ignored, so a misconfigured client learns
at once. Every refusal of a presented credential (unknown, expired, revoked, wrong kind) has that one code;
only a missing credential is `not_authenticated`.
"""

from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from members.models import Store, StoreApiKey
from members.services.tokens import member_token_authenticate, store_api_key_authenticate

BEARER = "bearer"
API_KEY = "api-key"


def _split_header(request) -> tuple[str, str] | None:
    """Return (lower-cased scheme, credential) of the Authorization header, or None when absent."""
    header = get_authorization_header(request)
    if not header:
        return None
    try:
        text = header.decode()
    except UnicodeDecodeError:
        raise exceptions.AuthenticationFailed(_("Invalid Authorization header.")) from None
    parts = text.split()
    if len(parts) != 2:
        raise exceptions.AuthenticationFailed(_("Invalid Authorization header."))
    return parts[0].lower(), parts[1]


class MemberTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer mbr_...`; request.user is the Member, request.auth the MemberToken."""

    def authenticate(self, request):
        parts = _split_header(request)
        if parts is None:
            return None
        scheme, credential = parts
        if scheme == API_KEY or credential.startswith("pk_"):
            raise exceptions.AuthenticationFailed(_("A POS key cannot be used as a member token."))
        if scheme != BEARER:
            raise exceptions.AuthenticationFailed(_("Use the Bearer scheme with a member token."))
        token = member_token_authenticate(raw=credential, now=timezone.now())
        if token is None:
            raise exceptions.AuthenticationFailed(_("The member token is invalid, expired or revoked."))
        return token.member, token

    def authenticate_header(self, request):
        return 'Bearer realm="member"'


@dataclass(frozen=True)
class PosClient:
    """The caller behind a POS key: a store's till or merchant system (not a Django user)."""

    api_key: StoreApiKey

    is_authenticated = True
    is_anonymous = False

    @property
    def store(self) -> Store:
        return self.api_key.store

    @property
    def pk(self):
        return self.api_key.pk


class StoreApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Api-Key pk_...`; request.user is a PosClient, request.auth the StoreApiKey."""

    def authenticate(self, request):
        parts = _split_header(request)
        if parts is None:
            return None
        scheme, credential = parts
        if scheme == BEARER or credential.startswith("mbr_"):
            raise exceptions.AuthenticationFailed(_("A member token cannot be used as a POS key."))
        if scheme != API_KEY:
            raise exceptions.AuthenticationFailed(_("Use the Api-Key scheme with a POS key."))
        key = store_api_key_authenticate(raw=credential, now=timezone.now())
        if key is None:
            raise exceptions.AuthenticationFailed(_("The POS key is invalid or revoked."))
        return PosClient(api_key=key), key

    def authenticate_header(self, request):
        return 'Api-Key realm="pos"'


class MemberTokenScheme(OpenApiAuthenticationExtension):
    target_class = "members.api.authentication.MemberTokenAuthentication"
    name = "memberToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A member token from POST /api/v1/auth/wechat-login: `Authorization: Bearer mbr_...`.",
        }


class StoreApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "members.api.authentication.StoreApiKeyAuthentication"
    name = "posApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A per-store POS key: `Authorization: Api-Key pk_XXXXXXXX.<secret>`.",
        }
