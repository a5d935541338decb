"""Uploads bounded: a sidecar whose network would exceed MAX_PARAMETERS is refused before anything is built.

The issue's probe uploaded a sidecar with hidden = 10^9: the network was built inside the request,
unbounded. Now its size is counted on the meta device and the upload is refused with the count.
"""

import json
import time

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from generation.checkpoints import MAX_PARAMETERS, parameter_count
from generation.models import Checkpoint
from generation.nets.base import get_variant
from tests.generation import stimuli_fixtures

tiny_checkpoint = stimuli_fixtures.tiny_checkpoint

pytestmark = pytest.mark.django_db


def upload_with(tiny_checkpoint, **config):
    from generation.services import checkpoint_upload

    sidecar = json.loads(tiny_checkpoint.with_suffix(".json").read_text())
    sidecar.pop("weights_sha256")
    sidecar["config"].update(config)
    return checkpoint_upload(
        weights=SimpleUploadedFile("w.safetensors", tiny_checkpoint.read_bytes()),
        sidecar=SimpleUploadedFile("w.json", json.dumps(sidecar).encode()),
    )


@pytest.mark.parametrize("hidden", [10**9, 10**18, 6000])
def test_an_oversized_network_is_refused_before_it_is_built(tiny_checkpoint, settings, hidden):
    started = time.monotonic()
    with pytest.raises(ValidationError, match=f"at most {MAX_PARAMETERS:,} parameters"):
        upload_with(tiny_checkpoint, hidden=hidden)
    assert time.monotonic() - started < 5  # counted, not built
    assert Checkpoint.objects.count() == 0


def test_the_count_is_exact_and_the_paper_presets_fit():
    cls = get_variant("proposed")
    tiny = cls.Config.preset("tiny")
    assert parameter_count(cls, tiny) == sum(p.numel() for p in cls(tiny).parameters())
    for key in ("proposed", "bilstm", "ec2vae", "vded"):
        variant = get_variant(key)
        assert parameter_count(variant, variant.Config.preset("paper")) <= MAX_PARAMETERS


def test_a_config_that_cannot_build_is_refused_with_the_reason(tiny_checkpoint):
    with pytest.raises(ValidationError, match="does not build a proposed network"):
        upload_with(tiny_checkpoint, hidden=-3)
    assert Checkpoint.objects.count() == 0
