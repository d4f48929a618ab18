"""Pieces every API view shares: strict input serializers, the error schema, the PNG renderer."""

import functools
import json
from collections.abc import Mapping

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import BaseRenderer
from rest_framework.views import APIView

# Answers the shared plumbing can give any operation, whatever the view declares: what a client must handle.
_GENERIC_ERRORS = {
    400: "The request is malformed or its input is invalid (`malformed_request`, `invalid_input`).",
    401: "No valid credentials (`not_authenticated`, `authentication_failed`).",
    403: "These credentials may not do this (`permission_denied`).",
    404: "Not found: an unknown id in the path, an invalid cursor (`not_found`).",
    413: "The request body is larger than this API accepts (`request_too_large`).",
    415: "The body's content type is not one this operation accepts (`unsupported_media_type`).",
    429: "Too many requests; retry after the `Retry-After` seconds (`throttled`).",
}
_BODY_METHODS = ("POST", "PUT", "PATCH")


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's schema for our views, plus the error answers common to every operation.

    A view declares the answers of its own domain (409, 422, 503...) in its @extend_schema; the statuses the
    shared plumbing answers (a malformed body, missing credentials, an unknown id or cursor, throttling) are
    added here from what the view is (authenticated, throttled, taking a body), so no operation forgets them.
    All of them have the error shape of ErrorSerializer.
    """

    def _generic_error_statuses(self) -> list[int]:
        statuses = [400, 404]
        if self.view.authentication_classes:
            statuses += [401, 403]
        if self.method in _BODY_METHODS:
            statuses += [413, 415]
        if self.view.throttle_classes:
            statuses.append(429)
        return sorted(statuses)

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status_code, response in responses.items():
            if not response.get("description") and int(status_code) in _GENERIC_ERRORS:
                response["description"] = _GENERIC_ERRORS[int(status_code)]
        for status_code in self._generic_error_statuses():
            responses.setdefault(
                str(status_code),
                self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=_GENERIC_ERRORS[status_code]),
                    str(status_code),
                    direction=direction,
                ),
            )
        return responses


class BaseApi(APIView):
    """The base of every API view here (its schema documents the shared error answers: ApiAutoSchema).

    DRF copies the authenticated caller onto Django's request (`request._request.user`). Our callers are a
    Member or a POS client, not Django users; Django-level code that reads `request.user` there (the
    history of simple-history stores it as `history_user`, a staff FK) must keep seeing the Django user
    (anonymous for API clients), so it is put back after authentication. Views use DRF's `request.user`.
    """

    schema = ApiAutoSchema()

    def perform_authentication(self, request):
        django_request = request._request
        had_user = "user" in django_request.__dict__
        django_user = django_request.__dict__.get("user")
        try:
            super().perform_authentication(request)
        finally:
            if had_user:
                django_request.user = django_user
            else:
                django_request.__dict__.pop("user", None)


class IdField(serializers.IntegerField):
    """The id of one of our rows in a request body: 1 up to the largest a bigint id column holds (a larger one
    found nothing, but as part of a list it overflowed SQLite's integers: a 500)."""

    def __init__(self, **kwargs):
        super().__init__(min_value=1, max_value=2**63 - 1, **kwargs)


class NewestFirstPages(CursorPagination):
    """Cursor pages of rows newest first (by id, unless a subclass orders otherwise): every list of the API.

    A cursor is opaque to clients; one that decodes but holds a position its ordering cannot compare (forged or
    corrupted: `p=abc` where an id belongs) is answered as DRF answers one that does not decode, 404 `not_found`,
    never a 500.
    """

    ordering = "-pk"
    page_size = 20
    max_page_size = 100
    page_size_query_param = "page_size"

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except (ValueError, TypeError, DjangoValidationError):
            if not request.query_params.get(self.cursor_query_param):
                raise
            raise NotFound(self.invalid_cursor_message) from None


class StrictInputSerializer(serializers.Serializer):
    """An input serializer that refuses fields it does not declare (a client never believes it changed
    its phone or its points when the field was silently ignored)."""

    unknown_field_message = _("This field is unknown or cannot be changed here.")

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: [self.unknown_field_message] for name in unknown})
        return super().to_internal_value(data)


@functools.cache
def _output_serializer(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    return serializer_class()


def output_data(serializer_class: type[serializers.Serializer], value) -> dict:
    """What `serializer_class(value).data` gives, from one instance of the serializer per class and process.

    DRF deep-copies every declared field whenever a serializer is instantiated: for a till's purchase answer
    (twenty fields and a nested breakdown) that was a tenth of the request. Representing a value keeps no state
    on the serializer, so one instance serves every request. Only for output serializers whose fields need no
    context (no request, no hyperlinks); the current language and time zone apply as usual.
    """
    return _output_serializer(serializer_class).to_representation(value)


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="A stable machine code, e.g. `invalid_input`, `not_found`.")
    message = serializers.CharField(help_text="A human message in the language asked by Accept-Language.")

    class Meta:
        ref_name = "ErrorBody"

    def get_fields(self):
        # "fields" can't be a class attribute: it would shadow Serializer.fields.
        declared = super().get_fields()
        declared["fields"] = serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            help_text=(
                "Field -> messages, for input errors; empty otherwise. A field inside a list or an object is "
                "named by its path: `items.0.sku` is the sku of the first item."
            ),
        )
        return declared


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()

    class Meta:
        ref_name = "Error"


def error_responses(*statuses: int) -> dict:
    """The `responses` entries of an extend_schema for the error statuses a view can answer."""
    return dict.fromkeys(statuses, ErrorSerializer)


class PngRenderer(BaseRenderer):
    """Lets a client ask for `image/png`. Views return the PNG as an HttpResponse; an error (a dict)
    negotiated to this renderer is still sent as JSON."""

    media_type = "image/png"
    format = "png"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return json.dumps(data, ensure_ascii=False).encode()
