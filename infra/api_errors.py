"""One error format for the whole API: {"error": {"code", "message", "fields"}}, message translated.

Views answer through `exception_handler` (DRF's EXCEPTION_HANDLER). What happens outside a view, or escapes one,
reaches Django's handler400/403/404/500 (config/urls.py): for paths under /api/ those answer the same shape, so
a client never parses an HTML page (an unknown path, a non-integer id, a bad Host header, a bug).
"""

from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from infra.errors import LoyaltyError

# DRF's own exceptions mapped to our stable codes.
DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "malformed_request",
    exceptions.ValidationError: "invalid_input",
}


def error_response(*, code, message, fields=None, status_code=400, headers=None):
    body = {"error": {"code": code, "message": str(message), "fields": error_fields(fields or {})}}
    return Response(body, status=status_code, headers=headers)


def error_fields(detail) -> dict[str, list[str]]:
    """Return the `fields` of an error answer: {field path: [messages]}, as the schema declares it (ErrorBody).

    Every answer's fields go through here (a serializer's errors, a LoyaltyError's fields). An error inside a
    list or an object is named by its path, `items.0.sku` for the sku of the first item, so a client reads one
    flat shape however deep the input was.
    """
    fields: dict[str, list[str]] = {}
    _collect_error_fields(detail, "", fields)
    return fields


def _collect_error_fields(detail, path: str, fields: dict[str, list[str]]) -> None:
    if isinstance(detail, dict):
        for key, value in detail.items():
            _collect_error_fields(value, f"{path}.{key}" if path else str(key), fields)
    elif isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        # One entry per item of a list input ({} for a valid item): name each by its index.
        for index, item in enumerate(detail):
            _collect_error_fields(item, f"{path}.{index}" if path else str(index), fields)
    else:
        messages = detail if isinstance(detail, list) else [detail]
        if messages:
            fields.setdefault(path or api_settings.NON_FIELD_ERRORS_KEY, []).extend(str(item) for item in messages)


def _request_too_large_message() -> str:
    return _("The request body is larger than this API accepts.")


def _django_validation_fields(exc: DjangoValidationError) -> dict:
    if not hasattr(exc, "error_dict"):
        return {api_settings.NON_FIELD_ERRORS_KEY: exc.messages}
    # A model's clean() files its errors under "__all__"; DRF and our clients name them non_field_errors.
    return {
        api_settings.NON_FIELD_ERRORS_KEY if name == NON_FIELD_ERRORS else name: messages
        for name, messages in exc.message_dict.items()
    }


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        # A model's full_clean() in a service: the same answer as a serializer's refusal.
        return error_response(
            code=DRF_CODES[exceptions.ValidationError],
            message=_("Some fields are invalid."),
            fields=_django_validation_fields(exc),
        )
    if isinstance(exc, RequestDataTooBig):
        return error_response(
            code="request_too_large",
            message=_request_too_large_message(),
            status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, LoyaltyError):
        return error_response(
            code=exc.code, message=exc.message, fields=exc.fields, status_code=exc.status, headers=exc.headers
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = next((c for cls, c in DRF_CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return error_response(
            code=code, message=_("Some fields are invalid."), fields=detail, status_code=response.status_code
        )
    headers = {k: v for k, v in response.items() if k in ("WWW-Authenticate", "Retry-After", "Allow")}
    message = exc.detail if isinstance(exc.detail, str) else _("The request could not be completed.")
    return error_response(code=code, message=message, status_code=response.status_code, headers=headers)


# -- Django's error views (config/urls.py): the error shape under /api/, Django's pages elsewhere -------------------
def is_api_request(request) -> bool:
    # path_info, not path: the same answer when the site is served under a script prefix.
    return request.path_info == "/api" or request.path_info.startswith("/api/")


def error_json_response(*, code, message, fields=None, status_code=400) -> JsonResponse:
    """The error shape as a plain Django JsonResponse, for a JSON answer outside DRF (Django's error views, the
    console's JSON endpoints); `fields` go through error_fields as in error_response."""
    body = {"error": {"code": code, "message": str(message), "fields": error_fields(fields or {})}}
    return JsonResponse(body, status=status_code, json_dumps_params={"ensure_ascii": False})


def loyalty_error_json_response(error: LoyaltyError) -> JsonResponse:
    """A LoyaltyError in the error shape, as a plain Django JsonResponse (see error_json_response)."""
    return error_json_response(code=error.code, message=error.message, fields=error.fields, status_code=error.status)


def _json_error(*, code: str, message: str, status_code: int) -> JsonResponse:
    return error_json_response(code=code, message=message, status_code=status_code)


def bad_request(request, exception, template_name=defaults.ERROR_400_TEMPLATE_NAME):
    """400 (a SuspiciousOperation outside a view: a Host not allowed, a body too large for Django's limits)."""
    if not is_api_request(request):
        return defaults.bad_request(request, exception, template_name=template_name)
    if isinstance(exception, RequestDataTooBig):
        return _json_error(
            code="request_too_large",
            message=_request_too_large_message(),
            status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    return _json_error(
        code="bad_request", message=_("The request could not be completed."), status_code=status.HTTP_400_BAD_REQUEST
    )


def forbidden(request, exception, template_name=defaults.ERROR_403_TEMPLATE_NAME):
    if not is_api_request(request):
        return defaults.permission_denied(request, exception, template_name=template_name)
    return _json_error(
        code=DRF_CODES[exceptions.PermissionDenied],
        message=exceptions.PermissionDenied.default_detail,
        status_code=status.HTTP_403_FORBIDDEN,
    )


def page_not_found(request, exception, template_name=defaults.ERROR_404_TEMPLATE_NAME):
    """404 for a path no URL pattern matches (an unknown endpoint, a non-integer id)."""
    if not is_api_request(request):
        return defaults.page_not_found(request, exception, template_name=template_name)
    return _json_error(code=DRF_CODES[exceptions.NotFound], message=exceptions.NotFound.default_detail, status_code=404)


def server_error(request, template_name=defaults.ERROR_500_TEMPLATE_NAME):
    """500 for an exception no handler took (with DEBUG off; with DEBUG on Django shows its traceback page)."""
    if not is_api_request(request):
        return defaults.server_error(request, template_name=template_name)
    # Nothing of the exception is shown: it is logged by Django (django.request) with its traceback.
    return _json_error(
        code="server_error",
        message=_("Something went wrong on our side. Please try again later."),
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


# -- The last resort: any non-JSON error page under /api/ becomes the error shape ------------------------------------
# With DEBUG on (the demo, a mini-program developer's machine) Django answers an unmatched path, a refused Host
# or an uncaught exception with its HTML technical page and never calls the handlers above. A client must not
# have to parse those either; the traceback still goes to the server's log.
_CODE_OF_STATUS = {
    400: ("bad_request", lambda: _("The request could not be completed.")),
    403: (DRF_CODES[exceptions.PermissionDenied], lambda: exceptions.PermissionDenied.default_detail),
    404: (DRF_CODES[exceptions.NotFound], lambda: exceptions.NotFound.default_detail),
    405: (DRF_CODES[exceptions.MethodNotAllowed], lambda: _("This method is not allowed here.")),
    413: ("request_too_large", _request_too_large_message),
}


def api_error_pages_as_json(get_response):
    """Middleware, outermost: under /api/, an error answer that is not JSON is replaced by the error shape."""

    def middleware(request):
        if is_api_request(request) and "\x00" in request.path_info:
            # No id or reference of ours holds a NUL (PostgreSQL refuses it in text): nothing has this address.
            return _json_error(code="not_found", message=_("Not found."), status_code=404)
        response = get_response(request)
        if (
            response.status_code < 400
            or not is_api_request(request)
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        if response.status_code >= 500:
            code, message = "server_error", _("Something went wrong on our side. Please try again later.")
        else:
            code, message_of = _CODE_OF_STATUS.get(
                response.status_code, ("error", lambda: _("The request could not be completed."))
            )
            message = message_of()
        shaped = _json_error(code=code, message=message, status_code=response.status_code)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                shaped[header] = response[header]
        return shaped

    return middleware


__all__ = [
    "api_error_pages_as_json",
    "bad_request",
    "error_fields",
    "error_json_response",
    "error_response",
    "exception_handler",
    "forbidden",
    "is_api_request",
    "loyalty_error_json_response",
    "page_not_found",
    "server_error",
    "status",
]
