"""docbgm_site/api_errors.py: every API error in one shape, with the status of today's endpoints."""

from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import translation
from rest_framework import exceptions, serializers

from docbgm_site.api_errors import Conflict, exception_handler
from studies import services


def answer(error, _language="en"):
    # English unless a test says otherwise (a request of an earlier test may leave another active).
    with translation.override(_language):
        response = exception_handler(error, {})
    return response.status_code, response.data


def test_a_service_refusal_is_its_message_and_code_with_its_status():
    assert answer(services.StudyNotOpen("This study has closed.")) == (
        409,
        {"detail": "This study has closed.", "code": "study_not_open"},
    )
    assert answer(services.TrialNotFound("This clip is not part of your session."))[0] == 403
    assert answer(services.StudyNotReady("The study has no conditions."))[0] == 400
    assert answer(services.StudyError("Two conditions have the same name.")) == (
        400,
        {"detail": "Two conditions have the same name.", "code": "study_error"},
    )


def test_a_refusal_is_translated_into_the_askers_language():
    status, body = answer(services.RatingInvalid("Naturalness must be from 1 to 5."), "zh-hans")
    assert (status, body["detail"]) == (400, "自然度必须在 1 到 5 之间。")


def test_field_errors_keep_their_fields_and_name_them_in_the_detail():
    status, body = answer(ValidationError({"weights": ["the file is truncated"], "__all__": ["Bad pair."]}))
    assert status == 400
    assert body == {
        "detail": "weights: the file is truncated Bad pair.",
        "code": "invalid",
        "fields": {"weights": ["the file is truncated"], "non_field_errors": ["Bad pair."]},
    }
    status, body = answer(serializers.ValidationError({"conditions": {"0": {"role": ["Not a role."]}}}))
    assert (status, body["detail"], body["code"]) == (400, "conditions.0.role: Not a role.", "invalid")
    assert body["fields"] == {"conditions": {"0": {"role": ["Not a role."]}}}


def test_drf_and_django_errors_take_the_same_shape():
    assert answer(Http404("No such study.")) == (404, {"detail": "No such study.", "code": "not_found"})
    assert answer(exceptions.PermissionDenied("Only researchers can use this endpoint.")) == (
        403,
        {"detail": "Only researchers can use this endpoint.", "code": "permission_denied"},
    )
    assert answer(Conflict("The headphone check result is not valid.")) == (
        409,
        {"detail": "The headphone check result is not valid.", "code": "conflict"},
    )
    assert exception_handler(RuntimeError("a bug"), {}) is None  # ours: a 500, loudly
