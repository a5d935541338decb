"""One shape for every error the REST API answers (REST_FRAMEWORK["EXCEPTION_HANDLER"]).

    {"detail": "what went wrong, for a person", "code": "machine_readable", "fields": {...}}

`detail` is always one string in the asker's language (the volunteer page shows it as it is);
`code` is DRF's code ("invalid", "not_found", "permission_denied", ...) or, for a service's
refusal, its error class in snake case ("study_not_open", "trial_not_found"); `fields` appears only
for errors tied to input fields: {field: [messages]}, as DRF's serializers report them.

Services raise typed errors (Django's ValidationError, studies' StudyError and its subclasses) and
never build responses; views let them propagate and this handler answers them: 400, or the status
REFUSAL_STATUS gives the error's class. Nothing else goes into the body, so a volunteer learns
nothing but the message (no model, condition or stimulus names).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

NON_FIELD_KEYS = {NON_FIELD_ERRORS, api_settings.NON_FIELD_ERRORS_KEY}


def refusal_status(error: DjangoValidationError) -> int:
    """The HTTP status of a service's refusal: the error's own `http_status` (studies' errors set
    403 for another volunteer's trial, 409 when the study's or the session's state forbids it),
    else 400, an invalid request."""
    return getattr(error, "http_status", status.HTTP_400_BAD_REQUEST)


class Conflict(exceptions.APIException):
    """409: the request does not fit the current state (a step already done, or not yet due)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request does not fit the current state."
    default_code = "conflict"


def _sentences(detail: Any, field: str = "") -> Iterator[str]:
    """Every message of a (nested) error detail, each prefixed by the field it is about."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = field if key in NON_FIELD_KEYS else (f"{field}.{key}" if field else str(key))
            yield from _sentences(value, name)
    elif isinstance(detail, list | tuple):
        for item in detail:
            yield from _sentences(item, field)
    else:
        yield f"{field}: {detail}" if field else str(detail)


def error_body(detail: Any, code: str) -> dict[str, Any]:
    """The one shape, from a message, a list of messages or a {field: messages} mapping."""
    body: dict[str, Any] = {"detail": " ".join(_sentences(detail)), "code": code}
    if isinstance(detail, dict):
        body["fields"] = {
            (api_settings.NON_FIELD_ERRORS_KEY if key in NON_FIELD_KEYS else key): value
            for key, value in detail.items()
        }
    return body


def _code_of(error: DjangoValidationError) -> str:
    if type(error) is DjangoValidationError:
        return "invalid"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).lower()


def _refusal_detail(error: DjangoValidationError) -> str | list[str] | dict[str, list[str]]:
    # The services write English; the catalogs (studies/volunteer/messages.py) translate them.
    if hasattr(error, "error_dict"):
        return {key: [gettext(str(m)) for m in messages] for key, messages in error.message_dict.items()}
    messages = [gettext(str(m)) for m in error.messages]
    return messages[0] if len(messages) == 1 else messages


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler (status, headers, rollback), with service refusals added and one body shape."""
    if isinstance(exc, DjangoValidationError):
        set_rollback()
        return Response(error_body(_refusal_detail(exc), _code_of(exc)), status=refusal_status(exc))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.APIException):
        code = getattr(exc.detail, "code", None) if isinstance(exc.detail, str) else None
        response.data = error_body(exc.detail, code or exc.default_code)
    return response
