"""Researcher pages under /researcher/generation/: checkpoints, stimulus sets, a set's live progress.

Thin views: forms parse, services change, selectors read. No request generates or renders anything;
asking for a set queues a Celery job and the set's page polls its JSON status.
"""

from pathlib import Path

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import content_disposition_header
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from docbgm_site.access import researcher_required
from docbgm_site.http import iter_file_bytes, ranged_response
from generation import selectors, services
from generation.evaluation.selectors import stimulus_set_symbolic_metrics
from generation.forms import CheckpointUploadForm, StimulusSetRequestForm
from generation.models import Stimulus, StimulusSet


def _reasons(error: ValidationError) -> str:
    return "; ".join(error.messages)


@researcher_required
def generation_home(request):
    return render(
        request,
        "generation/home.html",
        {
            "checkpoints": selectors.checkpoint_list(),
            "stimulus_sets": selectors.stimulus_set_list(),
            "upload_form": CheckpointUploadForm(),
            "request_form": StimulusSetRequestForm(),
        },
    )


@researcher_required
@require_POST
def checkpoint_upload(request):
    form = CheckpointUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Upload refused: choose both the .safetensors file and its .json sidecar.")
        return redirect("generation:home")
    try:
        checkpoint = services.checkpoint_upload(
            weights=form.cleaned_data["weights"],
            sidecar=form.cleaned_data["sidecar"],
            label=form.cleaned_data["label"],
            uploaded_by=request.user,
        )
    except ValidationError as error:
        messages.error(request, f"Upload refused: {_reasons(error)}")
    else:
        messages.success(request, f"Checkpoint stored: {checkpoint} ({checkpoint.sha256[:12]}).")
    return redirect("generation:home")


@researcher_required
@require_POST
def stimulus_set_request(request):
    form = StimulusSetRequestForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Request refused: {form.errors.as_text()}")
        return redirect("generation:home")
    data = form.cleaned_data
    try:
        stimulus_set = services.stimulus_set_request(
            source=data["source"],
            checkpoint=data["checkpoint"] if data["source"] == StimulusSet.Source.GENERATED else None,
            items=data["items"],
            seconds=data["seconds"],
            seed=data["seed"],
            temperature=data["temperature"],
            requested_by=request.user,
        )
    except ValidationError as error:
        messages.error(request, f"Request refused: {_reasons(error)}")
        return redirect("generation:home")
    return redirect("generation:set-detail", pk=stimulus_set.pk)


@researcher_required
def stimulus_set_detail(request, pk: int):
    stimulus_set = get_object_or_404(StimulusSet.objects.select_related("variant", "checkpoint"), pk=pk)
    ready = stimulus_set.status == StimulusSet.Status.READY
    return render(
        request,
        "generation/stimulus_set_detail.html",
        {
            "stimulus_set": stimulus_set,
            "stimuli": selectors.stimulus_set_stimuli(stimulus_set=stimulus_set) if ready else [],
            "symbolic_metrics": stimulus_set_symbolic_metrics(stimulus_set=stimulus_set) if ready else None,
        },
    )


@researcher_required
def stimulus_set_status(request, pk: int):
    stimulus_set = get_object_or_404(StimulusSet, pk=pk)
    return JsonResponse(selectors.stimulus_set_status(stimulus_set=stimulus_set))


@researcher_required
def stimulus_audio(request, pk: int, kind: str):
    """A clip for the researcher's player: the MP3, the FLAC or the MIDI, untagged as stored."""
    stimulus = get_object_or_404(Stimulus.objects.select_related("stimulus_set"), pk=pk)
    if kind not in {"mp3", "flac", "mid"}:
        raise Http404("No such format.")
    field = {"mp3": stimulus.audio, "flac": stimulus.audio_flac, "mid": stimulus.midi}[kind]
    if not field:
        raise Http404("No such file.")
    content_type = {"mp3": "audio/mpeg", "flac": "audio/flac", "mid": "audio/midi"}[kind]

    def read_range(start: int, end: int):
        with field.storage.open(field.name, "rb") as handle:
            yield from iter_file_bytes(handle, start, end - start + 1, name=field.name)

    response = ranged_response(request, size=field.size, read_range=read_range, content_type=content_type)
    # A stimulus row and its files are written once, together; no shared cache may keep them.
    response["Cache-Control"] = "private, max-age=3600"
    # Stored names are opaque (generation/storage.py); a researcher's download says what it is.
    stimulus_set = stimulus.stimulus_set
    label = slugify(f"{stimulus_set.name}-v{stimulus_set.version}-{stimulus.item_key}") or "stimulus"
    response["Content-Disposition"] = content_disposition_header(False, f"{label}{Path(field.name).suffix}")
    return response
