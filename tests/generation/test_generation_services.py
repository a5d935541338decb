"""generation/services.py: checkpoint uploads and stimulus sets, with the real DB, FluidSynth and files."""

import io
import json
import pickle
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from safetensors.torch import load_file, save_file

from generation.audio import integrated_loudness, read_audio, sha256_file
from generation.models import Checkpoint, ModelVariant, Stimulus, StimulusSet
from generation.music.encoding import HOLD, REST
from generation.services import (
    checkpoint_register_file,
    checkpoint_upload,
    model_variant_for,
    stimulus_set_build,
    stimulus_set_request,
)
from generation.stimuli import SAMPLING_TEMPERATURE, SAMPLING_TOP_P
from tests.generation import stimuli_fixtures
from tests.generation.stimuli_fixtures import CORPUS

heldout_corpus = stimuli_fixtures.heldout_corpus
tiny_checkpoint = stimuli_fixtures.tiny_checkpoint

pytestmark = pytest.mark.django_db

SHORT = {"items": 3, "seconds": 4.0, "corpus": CORPUS}  # 3 clips of one 3 s bar at 80 bpm


def upload(weights: bytes, sidecar: dict, **kwargs) -> Checkpoint:
    return checkpoint_upload(
        weights=SimpleUploadedFile("w.safetensors", weights),
        sidecar=SimpleUploadedFile("w.json", json.dumps(sidecar).encode()),
        **kwargs,
    )


def sidecar_of(weights_path: Path) -> dict:
    return json.loads(weights_path.with_suffix(".json").read_text())


def stored_files(settings) -> list[Path]:
    return sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


# ------------------------------------------------------------------------------------------ checkpoints


def test_checkpoint_upload_stores_weights_sidecar_and_sha(tiny_checkpoint, django_user_model, settings):
    user = django_user_model.objects.create(username="r")
    data = tiny_checkpoint.read_bytes()
    checkpoint = upload(data, sidecar_of(tiny_checkpoint), label="tiny", uploaded_by=user)
    assert checkpoint.variant.key == "proposed"
    assert checkpoint.sha256 == sha256_file(tiny_checkpoint)
    assert Path(checkpoint.weights.path).read_bytes() == data
    assert checkpoint.config["variant"] == "proposed"
    assert checkpoint.uploaded_by == user
    # The same weights again: the same checkpoint, no second file.
    assert upload(data, sidecar_of(tiny_checkpoint)).pk == checkpoint.pk
    assert Checkpoint.objects.count() == 1
    assert len(stored_files(settings)) == 1


def refused(weights: bytes, sidecar: dict, match: str, settings, **kwargs) -> None:
    with pytest.raises(ValidationError, match=match):
        upload(weights, sidecar, **kwargs)
    assert Checkpoint.objects.count() == 0
    assert stored_files(settings) == []


def test_a_pickle_is_refused_and_nothing_is_stored(tiny_checkpoint, settings):
    sidecar = sidecar_of(tiny_checkpoint)
    sidecar.pop("weights_sha256")
    refused(pickle.dumps({"w": [1, 2, 3]}), sidecar, "pickle", settings)
    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(3)}, buffer)
    refused(buffer.getvalue(), sidecar, "torch.save", settings)


def test_a_truncated_file_is_refused(tiny_checkpoint, settings):
    sidecar = sidecar_of(tiny_checkpoint)
    sidecar.pop("weights_sha256")
    refused(tiny_checkpoint.read_bytes()[:-100], sidecar, "truncated", settings)


def test_weights_whose_shapes_do_not_fit_are_refused(tiny_checkpoint, tmp_path, settings):
    sidecar = sidecar_of(tiny_checkpoint)
    sidecar.pop("weights_sha256")
    state = load_file(str(tiny_checkpoint))
    name = next(iter(state))
    state[name] = torch.zeros(*(s + 1 for s in state[name].shape))
    save_file(state, str(tmp_path / "bad.safetensors"))
    refused((tmp_path / "bad.safetensors").read_bytes(), sidecar, "shapes do not match", settings)


def test_a_sidecar_that_is_not_ours_or_names_another_variant_is_refused(tiny_checkpoint, settings):
    data = tiny_checkpoint.read_bytes()
    refused(data, {"variant": "proposed"}, "not a docbgm checkpoint sidecar", settings)
    refused(data, sidecar_of(tiny_checkpoint), "not 'gru'", settings, variant_key="gru")
    with pytest.raises(ValidationError, match="not valid JSON"):
        checkpoint_upload(
            weights=SimpleUploadedFile("w.safetensors", data),
            sidecar=SimpleUploadedFile("w.json", b"{not json"),
        )
    other = dict(sidecar_of(tiny_checkpoint), weights_sha256="0" * 64)
    refused(data, other, "sha256 differs", settings)


def test_checkpoint_register_file_reads_the_pair_from_disk(tiny_checkpoint):
    checkpoint = checkpoint_register_file(path=tiny_checkpoint.with_suffix(".json"), label="from disk")
    assert checkpoint.sha256 == sha256_file(tiny_checkpoint)
    assert checkpoint.label == "from disk"


# -------------------------------------------------------------------------------------- stimulus sets


def test_asking_twice_makes_one_set_and_queues_one_build(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        first = stimulus_set_request(source="real", **SHORT)
    assert len(callbacks) == 1
    with django_capture_on_commit_callbacks() as callbacks:
        again = stimulus_set_request(source="real", **SHORT)
    assert callbacks == []
    assert again.pk == first.pk
    assert (first.name, first.version, first.status, first.progress_total) == ("real", 1, "pending", 3)
    # Other parameters are another version of the same family.
    other = stimulus_set_request(source="real", **{**SHORT, "seed": 7}, queue=False)
    assert (other.name, other.version) == ("real", 2)
    assert StimulusSet.objects.count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_of_one_family_take_the_next_two_versions(run_threads, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip(
            "the family lock under real concurrency needs PostgreSQL (SQLite serialises every writer)"
        )
    stimulus_set_request(source="real", **SHORT, queue=False)
    full_clean = StimulusSet.full_clean

    def slow_full_clean(self, *args, **kwargs):
        # Widen the window between reading the latest version and saving the next one, so that
        # without a lock both requests would read version 1.
        time.sleep(0.3)
        return full_clean(self, *args, **kwargs)

    monkeypatch.setattr(StimulusSet, "full_clean", slow_full_clean)
    seeds = iter([1, 2])
    results, errors = run_threads(
        2, lambda: stimulus_set_request(source="real", **{**SHORT, "seed": next(seeds)}, queue=False)
    )
    assert errors == []
    assert sorted(s.version for s in results) == [2, 3]
    assert sorted(StimulusSet.objects.values_list("version", flat=True)) == [1, 2, 3]


def test_requests_are_validated():
    with pytest.raises(ValidationError, match="needs a checkpoint"):
        stimulus_set_request(source="generated", **SHORT)
    with pytest.raises(ValidationError, match="choose generated"):
        stimulus_set_request(source="nonsense", **SHORT)
    with pytest.raises(ValidationError, match="between 2 and 120"):
        stimulus_set_request(source="real", **{**SHORT, "seconds": 500})
    assert StimulusSet.objects.count() == 0


def test_real_set_renders_the_heldout_pieces_at_equal_length_and_loudness(heldout_corpus, settings):
    requested = stimulus_set_request(source="real", **SHORT, queue=False)
    progress = []
    built = stimulus_set_build(stimulus_set_id=requested.pk, on_progress=lambda k, n: progress.append((k, n)))
    assert built.status == "ready", built.error
    assert progress == [(1, 3), (2, 3), (3, 3)]
    assert (built.progress_done, built.progress_total, built.claimed_by) == (3, 3, "")
    stimuli = list(built.stimuli.all())
    assert [s.position for s in stimuli] == [0, 1, 2]
    for stimulus in stimuli:
        assert stimulus.duration_s == pytest.approx(3.0)  # one bar at 80 bpm: 4 s cut on the bar line
        assert stimulus.loudness_lufs == pytest.approx(-23.0, abs=0.05)
        assert stimulus.audio_sha256 == sha256_file(stimulus.audio.path)
        assert stimulus.midi_sha256 == sha256_file(stimulus.midi.path)
        assert stimulus.provenance["flac_sha256"] == sha256_file(stimulus.audio_flac.path)
        assert stimulus.provenance["parameters"]["items"] == 3
        assert stimulus.provenance["true_peak_dbtp"] <= -1.0
        assert stimulus.progression == ["C", "C", "C", "C"]
        samples, rate = read_audio(stimulus.audio_flac.path)
        assert samples.shape == (3 * 44100, 2)
        assert integrated_loudness(samples, rate) == pytest.approx(-23.0, abs=0.05)
    assert len({s.item_key for s in stimuli}) == 3
    # Building again changes nothing: the set is made once.
    hashes = [s.audio_sha256 for s in stimuli]
    again = stimulus_set_build(stimulus_set_id=requested.pk)
    assert [s.audio_sha256 for s in again.stimuli.all()] == hashes
    assert again.attempts == 1


def test_low_anchor_keeps_rhythm_and_chords_and_shuffles_pitches(heldout_corpus):
    real = stimulus_set_build(stimulus_set_id=stimulus_set_request(source="real", **SHORT, queue=False).pk)
    anchor = stimulus_set_build(
        stimulus_set_id=stimulus_set_request(source="low_anchor", **SHORT, queue=False).pk
    )
    assert anchor.status == "ready", anchor.error
    assert anchor.name == "low-anchor"
    for r, a in zip(real.stimuli.all(), anchor.stimuli.all(), strict=True):
        assert r.item_key == a.item_key and r.progression == a.progression
        rm, am = np.array(r.provenance["melody"]), np.array(a.provenance["melody"])
        assert np.array_equal(rm >= 128, am >= 128) and np.array_equal(rm == HOLD, am == HOLD)
        assert np.array_equal(rm == REST, am == REST)
        assert sorted(rm[rm < 128]) == sorted(am[am < 128])
        assert not np.array_equal(rm, am)
        assert r.audio_sha256 != a.audio_sha256
        assert abs(r.loudness_lufs - a.loudness_lufs) < 0.1
        assert r.duration_s == a.duration_s


def test_generated_set_records_checkpoint_seed_and_parameters(heldout_corpus, tiny_checkpoint):
    checkpoint = checkpoint_register_file(path=tiny_checkpoint)
    requested = stimulus_set_request(source="generated", checkpoint=checkpoint, seed=10, **SHORT, queue=False)
    assert requested.name == "proposed"
    built = stimulus_set_build(stimulus_set_id=requested.pk)
    assert built.status == "ready", built.error
    stimuli = list(built.stimuli.all())
    assert [s.seed for s in stimuli] == [10, 11, 12]
    for stimulus in stimuli:
        assert stimulus.provenance["checkpoint_sha256"] == checkpoint.sha256
        assert stimulus.provenance["parameters"]["temperature"] == SAMPLING_TEMPERATURE
        sampling = stimulus.provenance["parameters"]["sampling"]  # every draw setting, chosen on validation
        assert sampling == {
            "temperature": SAMPLING_TEMPERATURE,
            "top_p": SAMPLING_TOP_P,
            "max_rest_bars": 1.0,
            "max_note_bars": 1.0,
            "max_rest_share": 0.5,
        }
        assert len(stimulus.provenance["melody"]) == 16  # one bar of 16ths
        assert stimulus.loudness_lufs == pytest.approx(-23.0, abs=0.05)


def test_a_failed_build_records_the_reason_and_leaves_nothing(heldout_corpus, settings):
    requested = stimulus_set_request(source="real", **{**SHORT, "items": 50}, queue=False)
    failed = stimulus_set_build(stimulus_set_id=requested.pk)
    assert failed.status == "failed"
    assert "50 items were asked for" in failed.error
    assert Stimulus.objects.count() == 0
    assert stored_files(settings) == []


def test_a_build_interrupted_half_way_is_rebuilt_from_scratch(heldout_corpus, settings):
    from generation.services import _stored_name

    requested = stimulus_set_request(source="real", **SHORT, queue=False)
    # A worker that died after two clips: status RUNNING under a pid that no longer exists,
    # and files of its attempt on disk under their opaque names, one of them half-written.
    media = Path(settings.MEDIA_ROOT)
    leftovers = [
        media / _stored_name(requested, "stimuli/audio", 0, ".mp3"),
        media / _stored_name(requested, "stimuli/midi", 1, ".mid"),
    ]
    for leftover in leftovers:
        leftover.parent.mkdir(parents=True, exist_ok=True)
        leftover.write_bytes(b"half a file")
    StimulusSet.objects.filter(pk=requested.pk).update(
        status="running", claimed_by="nohost-that-exists:1", progress_done=2, attempts=1
    )
    built = stimulus_set_build(stimulus_set_id=requested.pk)
    assert built.status == "ready", built.error
    assert built.attempts == 2
    names = {media / f.name for s in built.stimuli.all() for f in (s.audio, s.audio_flac, s.midi)}
    assert set(stored_files(settings)) == names and len(names) == 9
    assert all(leftover.read_bytes() != b"half a file" for leftover in leftovers)


def test_stored_names_say_nothing_about_the_set_the_item_or_the_position(heldout_corpus, tiny_checkpoint):
    checkpoint = checkpoint_register_file(path=tiny_checkpoint)
    built = stimulus_set_build(stimulus_set_id=stimulus_set_request(source="real", **SHORT, queue=False).pk)
    names = [checkpoint.weights.name] + [
        f.name for s in built.stimuli.all() for f in (s.audio, s.audio_flac, s.midi)
    ]
    pattern = re.compile(
        r"^(checkpoints|stimuli/(audio|flac|midi))/[0-9a-f]{32}\.(safetensors|mp3|flac|mid)$"
    )
    assert all(pattern.match(name) for name in names), names
    assert len(set(names)) == len(names) == 10


@pytest.mark.django_db
def test_variant_rows_are_made_on_demand_for_registered_melody_networks():
    """A flushed database (transactional tests) or a newly registered network still finds its row."""
    ModelVariant.objects.all().delete()
    variant = model_variant_for(key="proposed")
    assert variant.key == "proposed" and variant.name
    assert model_variant_for(key="proposed") == variant
    with pytest.raises(ValidationError, match="not a melody model variant"):
        model_variant_for(key="separation")
    with pytest.raises(ValidationError, match="not a melody model variant"):
        model_variant_for(key="nonsense")
    assert list(ModelVariant.objects.values_list("key", flat=True)) == ["proposed"]
