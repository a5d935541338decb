"""The volunteer page's own calls (DRF). Thin: each endpoint calls one studies service.

Authentication is the participant's token held in the server-side Django session (the browser
has only the session cookie), never an id in the URL; the URL names a study and, for trials, an
opaque public id that the services check belongs to this participant. CSRF is enforced as for
Django forms. Refusals are the services' errors, answered by the site's one handler
(docbgm_site/api_errors.py) with the message translated: 400 for an invalid request, 403 for a
trial that is not the volunteer's, 409 when the study or session state forbids it.
A repeated call (double click, network retry) answers exactly as the first.
"""

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.authentication import BaseAuthentication, CSRFCheck
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from docbgm_site.api_errors import Conflict
from studies import selectors, services
from studies.models import Participant, Study
from studies.volunteer import headphones
from studies.volunteer.messages import translate
from studies.volunteer.selectors import session_participant_in
from studies.volunteer.views import HUGGINS_SESSION_KEY


class ParticipantSessionAuthentication(BaseAuthentication):
    """request.auth = the Participant whose token this browser's session holds for the URL's study."""

    def authenticate(self, request):
        slug = request.parser_context["kwargs"].get("slug", "")
        participant = session_participant_in(request=request._request, slug=slug)
        if participant is None:
            return None
        self._enforce_csrf(request)
        return AnonymousUser(), participant

    @staticmethod
    def _enforce_csrf(request) -> None:
        check = CSRFCheck(lambda _request: None)
        check.process_request(request)
        reason = check.process_view(request, None, (), {})
        if reason:
            raise exceptions.PermissionDenied(f"CSRF Failed: {reason}")


class ParticipantSessionScheme(OpenApiAuthenticationExtension):
    """Describes ParticipantSessionAuthentication in the OpenAPI schema (/api/schema/)."""

    target_class = ParticipantSessionAuthentication
    name = "volunteerSession"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": settings.SESSION_COOKIE_NAME,
            "description": "The session cookie set when the volunteer consents at /s/<slug>/; "
            "the participant's token stays on the server. Unsafe methods need the CSRF token "
            "in the X-CSRFToken header.",
        }


class IsParticipant(BasePermission):
    message = _("No volunteer session in this browser for this study. Please open the study link again.")

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, Participant)


class VolunteerAPIView(APIView):
    authentication_classes = [ParticipantSessionAuthentication]
    permission_classes = [IsParticipant]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            # Parse every body, so that even an endpoint that reads none refuses a malformed one
            # (400, docbgm_site/parsers.py) instead of acting on it.
            request.data  # noqa: B018 - parsing is the point

    def permission_denied(self, request, message=None, code=None):
        # No session is a 403 with the volunteer's message, not DRF's "credentials not provided".
        raise exceptions.PermissionDenied(detail=message or IsParticipant.message)

    def next_url(self, slug: str) -> str:
        return reverse("volunteer:session", args=[slug])


NextSerializer = inline_serializer("VolunteerNext", {"next": serializers.CharField()})


class StateApi(VolunteerAPIView):
    @extend_schema_serializer(component_name="VolunteerState")
    class OutputSerializer(serializers.Serializer):
        step = serializers.CharField()
        group = serializers.IntegerField()
        groups = serializers.IntegerField()
        clip = serializers.IntegerField()
        clips_per_group = serializers.IntegerField()
        rated = serializers.IntegerField()
        total = serializers.IntegerField()
        next = serializers.CharField()

    @extend_schema(responses=OutputSerializer, summary="The volunteer's current step and progress")
    def get(self, request, slug: str):
        step = selectors.participant_current_step(participant=request.auth)
        data = {
            "step": step.kind,
            "group": step.group_number,
            "groups": step.groups,
            "clip": step.clip_number,
            "clips_per_group": step.clips_per_group,
            "rated": step.rated,
            "total": step.total,
            "next": self.next_url(slug),
        }
        return Response(self.OutputSerializer(data).data)


class VolumeCheckApi(VolunteerAPIView):
    @extend_schema(request=None, responses=NextSerializer, summary="The volunteer set a comfortable volume")
    def post(self, request, slug: str):
        services.participant_record_volume_check(participant=request.auth)
        return Response({"next": self.next_url(slug)})


class HeadphoneAnswerApi(VolunteerAPIView):
    """One answer of the Huggins-pitch test; the sixth scores the test through the service."""

    @extend_schema_serializer(component_name="VolunteerHeadphoneAnswer")
    class InputSerializer(serializers.Serializer):
        answer = serializers.ChoiceField(choices=[1, 2, 3])

    @extend_schema(
        request=InputSerializer, responses=NextSerializer, summary="Answer one headphone-check sound"
    )
    def post(self, request, slug: str, number: int):
        participant = request.auth
        plans = request.session.get(HUGGINS_SESSION_KEY, {})
        plan = plans.get(participant.token)
        step = selectors.participant_current_step(participant=participant)
        answered = len(plan["responses"]) if plan else 0
        if plan is None or step.kind != "headphone" or number <= answered:
            # A retry of an answer already counted (or a test already scored): same answer as before.
            if plan is not None and number <= answered:
                return Response({"next": self.next_url(slug)})
            raise Conflict(translate("The headphone check result is not valid."))
        if number != answered + 1:
            raise services.StudyError("The headphone check result is not valid.")
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        responses = [*plan["responses"], serializer.validated_data["answer"] - 1]
        if len(responses) == headphones.TRIALS:
            services.participant_record_headphone_check(
                participant=participant,
                correct=headphones.score({**plan, "responses": responses}),
                total=headphones.TRIALS,
            )
        plan["responses"] = responses
        request.session.modified = True
        return Response({"next": self.next_url(slug)})


class TrialEventApi(VolunteerAPIView):
    @extend_schema_serializer(component_name="VolunteerPlayEvent")
    class InputSerializer(serializers.Serializer):
        event = serializers.ChoiceField(choices=["play", "ended"])
        position_s = serializers.FloatField(required=False, allow_null=True, min_value=0)

    @extend_schema(
        request=InputSerializer,
        responses=inline_serializer("VolunteerTrialEvent", {"plays": serializers.IntegerField()}),
        summary="The player started or reached the end of a clip",
    )
    def post(self, request, slug: str, public_id: str):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        trial = services.trial_record_play(
            participant=request.auth, public_id=public_id, **serializer.validated_data
        )
        return Response({"plays": trial.plays})


class RatingApi(VolunteerAPIView):
    # The service validates the values (missing, not a whole number, outside 1-5) with the
    # messages volunteers see, so they are passed through untouched.
    RatingInput = inline_serializer(
        "VolunteerRating",
        {
            scale: serializers.IntegerField(min_value=1, max_value=5)
            for scale in ("naturalness", "creativity", "musicality")
        },
    )

    @extend_schema(request=RatingInput, responses=NextSerializer, summary="Rate a clip (idempotent)")
    def post(self, request, slug: str, public_id: str):
        data = request.data if isinstance(request.data, dict) else {}
        services.rating_submit(
            participant=request.auth,
            public_id=public_id,
            naturalness=data.get("naturalness"),
            creativity=data.get("creativity"),
            musicality=data.get("musicality"),
        )
        return Response({"next": self.next_url(slug)})


class ClipEventApi(VolunteerAPIView):
    """A MUSHRA or pairwise page's clip started or reached its end (as TrialEventApi for trials)."""

    @extend_schema(
        request=TrialEventApi.InputSerializer,
        responses=inline_serializer("VolunteerClipEvent", {"plays": serializers.IntegerField()}),
        summary="The player of one clip of a page started or reached its end",
    )
    def post(self, request, slug: str, public_id: str):
        serializer = TrialEventApi.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        clip = services.page_clip_record_play(
            participant=request.auth, public_id=public_id, **serializer.validated_data
        )
        return Response({"plays": clip.plays})


class PageAnswerApi(VolunteerAPIView):
    # The services check the answers (every clip and scale, 0-100, A or B) with the messages
    # volunteers see, so they are passed through untouched.
    AnswerInput = inline_serializer(
        "VolunteerPageAnswer",
        {
            "scores": serializers.DictField(
                child=serializers.DictField(child=serializers.IntegerField(min_value=0, max_value=100)),
                required=False,
                help_text='MUSHRA: {"A": {"<scale key>": 0-100}, "B": ...}, every clip and scale.',
            ),
            "choices": serializers.DictField(
                child=serializers.ChoiceField(choices=["A", "B"]),
                required=False,
                help_text='Pairwise: {"<question key>": "A" (left) or "B" (right)}, every question.',
            ),
        },
    )

    @extend_schema(request=AnswerInput, responses=NextSerializer, summary="Answer a MUSHRA or pairwise page")
    def post(self, request, slug: str, public_id: str):
        data = request.data if isinstance(request.data, dict) else {}
        if request.auth.study.test_type == Study.TestType.MUSHRA:
            services.mushra_submit(participant=request.auth, public_id=public_id, scores=data.get("scores"))
        else:
            services.pairwise_submit(
                participant=request.auth, public_id=public_id, choices=data.get("choices")
            )
        return Response({"next": self.next_url(slug)})
