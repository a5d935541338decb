"""Researcher REST API (DRF), under /api/studies/. Thin: each endpoint calls one service or selector.

Only staff and members of the "researcher" group get in; a researcher sees and changes only the
studies they own (another's study answers 404, so its existence is not disclosed); staff see all.
Refusals from the services answer 400 in the site's one error shape (docbgm_site/api_errors.py).
"""

from django.db import transaction
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from docbgm_site.access import IsResearcher
from generation.models import StimulusSet
from studies import selectors, services
from studies.models import Condition, Study


class ResearcherApi(APIView):
    permission_classes = [IsAuthenticated, IsResearcher]

    def get_study(self, slug: str) -> Study:
        study = selectors.study_for_user(slug=slug, user=self.request.user)
        if study is None:
            raise Http404("No such study.")
        return study


@extend_schema_serializer(component_name="StudyCondition")
class ConditionOutputSerializer(serializers.ModelSerializer):
    stimulus_set = serializers.CharField(source="stimulus_set.__str__")
    stimulus_set_id = serializers.IntegerField()

    class Meta:
        model = Condition
        fields = ["name", "role", "stimulus_set", "stimulus_set_id"]


@extend_schema_serializer(component_name="Study")
class StudyOutputSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.get_username")
    conditions = ConditionOutputSerializer(many=True)
    volunteer_path = serializers.SerializerMethodField()

    class Meta:
        model = Study
        fields = [
            "slug",
            "title",
            "status",
            "owner",
            "description",
            "consent_text",
            "consent_version",
            "instructions",
            "groups",
            "clips_per_group",
            "scale_definitions",
            "target_participants",
            "completion_code",
            "redirect_url",
            "languages",
            "translations",
            "headphone_check",
            "volume_check",
            "practice",
            "seat_timeout_minutes",
            "seed",
            "analysis_options",
            "test_type",
            "design_options",
            "conditions",
            "volunteer_path",
            "created_at",
            "opened_at",
            "closed_at",
        ]

    def get_volunteer_path(self, study: Study) -> str:
        return f"/s/{study.slug}/"


class StudyListApi(ResearcherApi):
    @extend_schema_serializer(component_name="StudyConditionInput")
    class ConditionInputSerializer(serializers.Serializer):
        name = serializers.SlugField(max_length=80)
        stimulus_set = serializers.PrimaryKeyRelatedField(queryset=StimulusSet.objects.all())
        role = serializers.ChoiceField(choices=Condition.Role.choices, default=Condition.Role.SYSTEM)

    @extend_schema_serializer(component_name="StudyCreateInput")
    class InputSerializer(serializers.Serializer):
        slug = serializers.SlugField(max_length=60)
        title = serializers.CharField(max_length=200)
        conditions = serializers.ListField(child=serializers.DictField(), min_length=1)
        groups = serializers.IntegerField(min_value=1, max_value=20, default=3)
        clips_per_group = serializers.IntegerField(min_value=1, max_value=20, default=5)
        description = serializers.CharField(required=False, allow_blank=True)
        consent_text = serializers.CharField(required=False, allow_blank=True)
        consent_version = serializers.CharField(required=False, max_length=40)
        instructions = serializers.CharField(required=False, allow_blank=True)
        scale_definitions = serializers.DictField(child=serializers.CharField(), required=False)
        target_participants = serializers.IntegerField(min_value=0, required=False)
        completion_code = serializers.CharField(required=False, allow_blank=True, max_length=40)
        redirect_url = serializers.URLField(required=False, allow_blank=True)
        languages = serializers.ListField(child=serializers.CharField(), required=False)
        # {"zh-hans": {"consent_text": ..., "scale_definitions": {...}}}: checked by study_create
        # (services.translations_clean); every offered language needs its consent text, as in the form.
        translations = serializers.DictField(child=serializers.DictField(), required=False)
        headphone_check = serializers.BooleanField(required=False)
        volume_check = serializers.BooleanField(required=False)
        practice = serializers.BooleanField(required=False)
        seat_timeout_minutes = serializers.IntegerField(min_value=1, required=False)
        seed = serializers.IntegerField(min_value=0, required=False)
        # Checked by study_create against AnalysisConfig: known keys, types and ranges.
        analysis_options = serializers.DictField(required=False)
        test_type = serializers.ChoiceField(choices=Study.TestType.choices, required=False)
        # Checked by study_create (services.design_options_clean) against the test type and conditions.
        design_options = serializers.DictField(required=False)

        def validate_conditions(self, value):
            parsed = []
            for entry in value:
                condition = StudyListApi.ConditionInputSerializer(data=entry)
                condition.is_valid(raise_exception=True)
                parsed.append(condition.validated_data)
            return parsed

    @extend_schema(responses=StudyOutputSerializer(many=True))
    def get(self, request):
        studies = selectors.study_list(user=request.user).prefetch_related("conditions__stimulus_set")
        return Response(StudyOutputSerializer(studies, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: StudyOutputSerializer})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        conditions = [(c["name"], c["stimulus_set"], c["role"]) for c in data.pop("conditions")]
        if Study.objects.filter(slug=data["slug"]).exists():
            raise services.StudyError("A study with this slug exists.")
        with transaction.atomic():
            study = services.study_create(owner=request.user, conditions=conditions, **data)
            # As in the form: a draft made through the API has no way to gain a text later but the
            # admin, so a missing consent text is refused now (study_open refuses it too).
            missing = services.consent_missing_languages(study)
            if missing:
                raise services.StudyNotReady(services.consent_missing_message(missing))
        return Response(StudyOutputSerializer(study).data, status=status.HTTP_201_CREATED)


class StudyDetailApi(ResearcherApi):
    @extend_schema(responses=StudyOutputSerializer)
    def get(self, request, slug: str):
        return Response(StudyOutputSerializer(self.get_study(slug)).data)


class StudyOpenApi(ResearcherApi):
    @extend_schema(request=None, responses=StudyOutputSerializer)
    def post(self, request, slug: str):
        study = services.study_open(study=self.get_study(slug))
        return Response(StudyOutputSerializer(study).data)


class StudyCloseApi(ResearcherApi):
    @extend_schema(request=None, responses=StudyOutputSerializer)
    def post(self, request, slug: str):
        study = services.study_close(study=self.get_study(slug))
        return Response(StudyOutputSerializer(study).data)


class StudyProgressApi(ResearcherApi):
    @extend_schema_serializer(component_name="StudyProgress")
    class OutputSerializer(serializers.Serializer):
        @extend_schema_serializer(component_name="StudyProgressCondition")
        class ConditionRow(serializers.Serializer):
            name = serializers.CharField()
            role = serializers.CharField()
            ratings = serializers.IntegerField()
            per_item = serializers.ListField(child=serializers.IntegerField())

        status = serializers.CharField()
        target = serializers.IntegerField()
        started = serializers.IntegerField()
        in_progress = serializers.IntegerField()
        screened_out = serializers.IntegerField()
        completed = serializers.IntegerField()
        abandoned = serializers.IntegerField()
        ratings = serializers.IntegerField(help_text="Ratings; MUSHRA and pairwise: answered pages.")
        items = serializers.ListField(child=serializers.CharField())
        conditions = ConditionRow(many=True)
        test_type = serializers.CharField()

        @extend_schema_serializer(component_name="StudyProgressPair")
        class PairRow(serializers.Serializer):
            first = serializers.CharField()
            second = serializers.CharField()
            pages = serializers.IntegerField()
            first_left = serializers.IntegerField()

        pairs = PairRow(many=True, help_text="Pairwise: answered pages per pair of conditions.")

    @extend_schema(responses=OutputSerializer)
    def get(self, request, slug: str):
        progress = selectors.study_progress(study=self.get_study(slug))
        return Response(self.OutputSerializer(progress.as_dict()).data)
