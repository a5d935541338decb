"""Generation REST API (DRF), under /api/generation/: upload a checkpoint, ask for a stimulus set, read its progress.

Thin: each endpoint calls one service or selector. Only staff and members of the "researcher" group
get in. Refusals from the services answer 400 in the site's one error shape (docbgm_site/api_errors.py). Asking for a set
answers 202: a worker builds it; poll its status URL.
"""

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from docbgm_site.access import IsResearcher
from generation import selectors, services
from generation.models import Checkpoint, StimulusSet
from generation.stimuli import SAMPLING_TEMPERATURE, SECONDS


@extend_schema_serializer(component_name="Checkpoint")
class CheckpointOutputSerializer(serializers.ModelSerializer):
    variant = serializers.CharField(source="variant.key")

    class Meta:
        model = Checkpoint
        fields = ["id", "variant", "label", "sha256", "config", "created_at"]


@extend_schema_serializer(component_name="StimulusSetStatus")
class StimulusSetStatusSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    source = serializers.CharField()
    status = serializers.CharField()
    progress_done = serializers.IntegerField()
    progress_total = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)
    attempts = serializers.IntegerField()
    finished_at = serializers.CharField(allow_null=True)
    stimuli = serializers.ListField(child=serializers.DictField())
    status_url = serializers.CharField()


def _status(stimulus_set: StimulusSet) -> dict:
    data = selectors.stimulus_set_status(stimulus_set=stimulus_set)
    data["status_url"] = reverse("generation-api:stimulus-set-status", args=[stimulus_set.pk])
    return data


class CheckpointApi(APIView):
    permission_classes = [IsAuthenticated, IsResearcher]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema_serializer(component_name="CheckpointUpload")
    class InputSerializer(serializers.Serializer):
        weights = serializers.FileField(help_text="The .safetensors weights (pickles are refused).")
        sidecar = serializers.FileField(help_text="The .json sidecar that rebuilds the network.")
        label = serializers.CharField(max_length=200, required=False, default="")
        variant = serializers.CharField(
            max_length=40, required=False, default="", help_text="Optional check."
        )

    @extend_schema(responses=CheckpointOutputSerializer(many=True))
    def get(self, request):
        return Response(CheckpointOutputSerializer(selectors.checkpoint_list(), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: CheckpointOutputSerializer})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        checkpoint = services.checkpoint_upload(
            weights=data["weights"],
            sidecar=data["sidecar"],
            label=data["label"],
            variant_key=data["variant"] or None,
            uploaded_by=request.user,
        )
        return Response(CheckpointOutputSerializer(checkpoint).data, status=status.HTTP_201_CREATED)


class StimulusSetApi(APIView):
    permission_classes = [IsAuthenticated, IsResearcher]
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema_serializer(component_name="StimulusSetRequest")
    class InputSerializer(serializers.Serializer):
        source = serializers.ChoiceField(
            choices=[StimulusSet.Source.GENERATED, StimulusSet.Source.REAL, StimulusSet.Source.LOW_ANCHOR]
        )
        checkpoint = serializers.PrimaryKeyRelatedField(
            queryset=Checkpoint.objects.all(), required=False, allow_null=True, default=None
        )
        items = serializers.IntegerField(min_value=1, max_value=200, default=services.DEFAULT_ITEMS)
        seconds = serializers.FloatField(min_value=2.0, max_value=120.0, default=SECONDS)
        seed = serializers.IntegerField(min_value=0, default=0)
        temperature = serializers.FloatField(min_value=0.05, max_value=5.0, default=SAMPLING_TEMPERATURE)

    @extend_schema(request=InputSerializer, responses={202: StimulusSetStatusSerializer})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        stimulus_set = services.stimulus_set_request(**serializer.validated_data, requested_by=request.user)
        return Response(_status(stimulus_set), status=status.HTTP_202_ACCEPTED)


class StimulusSetStatusApi(APIView):
    permission_classes = [IsAuthenticated, IsResearcher]

    @extend_schema(responses=StimulusSetStatusSerializer)
    def get(self, request, pk: int):
        return Response(_status(get_object_or_404(StimulusSet, pk=pk)))
