"""Blinding by file: every clip of one item is a file alike in every condition, and study_open checks it.

The issue's first probe: with variable-bitrate MP3s the Bi-LSTM clip was the largest of an item's
five in 15 of 15 items, and a volunteer sees Content-Length before a clip plays. Here the sets are
made the real way (FluidSynth renders of a model, real music and the low anchor; imports of
originals in five formats and lengths) and every item's clips are compared as served.
"""

import numpy as np
import pytest
import soundfile as sf

from generation.audio import mp3_format
from generation.importing import import_stimuli
from generation.models import Stimulus
from generation.rendering import MP3_BITRATE_KBPS
from generation.services import checkpoint_register_file, stimulus_set_build, stimulus_set_request
from studies import services
from studies.models import Participant
from tests.factories import UserFactory
from tests.generation import stimuli_fixtures
from tests.generation.factories import StimulusFactory, StimulusSetFactory
from tests.generation.stimuli_fixtures import CORPUS

heldout_corpus = stimuli_fixtures.heldout_corpus
tiny_checkpoint = stimuli_fixtures.tiny_checkpoint

pytestmark = pytest.mark.django_db


def served_by_item(client, study) -> dict[str, dict[str, tuple]]:
    """item -> condition -> (Content-Length, MP3 format) of the clip as a volunteer's browser gets it."""
    client.post(f"/s/{study.slug}/", {"consent": "on", "consent_version": study.consent_version})
    participant = Participant.objects.get(study=study)
    served: dict[str, dict[str, tuple]] = {}
    for trial in participant.trials.select_related("condition", "stimulus"):
        response = client.get(f"/s/{study.slug}/clip/{trial.public_id}/")
        body = b"".join(response.streaming_content)
        assert int(response["Content-Length"]) == len(body)
        served.setdefault(trial.stimulus.item_key, {})[trial.condition.name] = len(body)
    return served


def assert_alike(stimuli) -> None:
    by_item: dict[str, list] = {}
    for stimulus in stimuli:
        by_item.setdefault(stimulus.item_key, []).append(stimulus)
    for item, clips in by_item.items():
        described = {
            (
                stimulus.audio.size,
                round(stimulus.duration_s, 6),
                mp3_format(stimulus.audio.path),
                sf.info(stimulus.audio.path).frames,
            )
            for stimulus in clips
        }
        assert len(described) == 1, f"{item}: {described}"
        ((_, _, encoding, _),) = described
        assert (encoding.bitrate_kbps, encoding.sample_rate) == (MP3_BITRATE_KBPS, 44100)


def test_generated_real_and_anchor_clips_of_an_item_are_files_of_one_size(
    heldout_corpus, tiny_checkpoint, client
):
    short = {"items": 3, "seconds": 4.0, "corpus": CORPUS}
    checkpoint = checkpoint_register_file(path=tiny_checkpoint)
    sets = [
        stimulus_set_build(stimulus_set_id=stimulus_set_request(**request, **short, queue=False).pk)
        for request in (
            {"source": "generated", "checkpoint": checkpoint},
            {"source": "generated", "checkpoint": checkpoint, "temperature": 2.0},
            {"source": "real"},
            {"source": "low_anchor"},
        )
    ]
    assert [s.status for s in sets] == ["ready"] * 4
    stimuli = Stimulus.objects.filter(stimulus_set__in=sets)
    # The melodies (mostly) differ, so with variable bitrate the sizes did too.
    assert len({s.audio_sha256 for s in stimuli}) >= 8
    assert_alike(stimuli)

    study = services.study_create(
        slug="generated",
        title="Generated",
        owner=UserFactory(researcher=True),
        conditions=[(f"c{k}", s, "system") for k, s in enumerate(sets)],
        groups=1,
        clips_per_group=3,
        practice=False,
        headphone_check=False,
        volume_check=False,
    )
    services.study_open(study=study)
    for item, sizes in served_by_item(client, study).items():
        assert len(set(sizes.values())) == 1, f"{item}: {sizes}"


def test_imported_clips_of_an_item_are_cut_to_one_length_and_one_size(tmp_path, client):
    root = tmp_path / "audio"
    originals = {  # condition: (suffix, format, rate, channels, seconds of item1, seconds of item2)
        "real": (".wav", "WAV", 48000, 1, 1.30, 2.0),
        "proposed": (".mp3", "MP3", 22050, 2, 1.25, 2.0),
        "bilstm": (".ogg", "OGG", 32000, 1, 1.20, 2.0),
        "ec2vae": (".flac", "FLAC", 96000, 2, 1.10, 2.0),
        "vded": (".wav", "WAV", 44100, 2, 1.00, 2.0),
    }
    rng = np.random.default_rng(0)
    for condition, (suffix, fmt, rate, channels, *lengths) in originals.items():
        (root / condition).mkdir(parents=True)
        for item, seconds in zip(("item1", "item2"), lengths, strict=True):
            # Noise of a different colour per condition: its variable-bitrate size would differ.
            noise = rng.normal(0, 0.05 * (1 + len(condition) % 3), (int(seconds * rate), channels))
            sf.write(str(root / condition / f"{item}{suffix}"), noise.astype(np.float32), rate, format=fmt)
    sets = import_stimuli(root)
    stimuli = Stimulus.objects.filter(stimulus_set__in=sets)
    assert_alike(stimuli)
    assert {round(s.duration_s, 3) for s in stimuli if s.item_key == "item1"} == {1.0}

    study = services.study_create(
        slug="imported",
        title="Imported",
        owner=UserFactory(researcher=True),
        conditions=[(s.name, s, "system") for s in sets],
        groups=2,
        clips_per_group=5,
        practice=False,
        headphone_check=False,
        volume_check=False,
    )
    services.study_open(study=study)
    for item, sizes in served_by_item(client, study).items():
        assert len(set(sizes.values())) == 1, f"{item}: {sizes}"


def test_a_study_whose_item_clips_differ_is_refused_with_the_reason_and_stays_a_draft(tmp_path):
    # Two imports on their own cannot be made alike: one set's item0 lasts 1 s, the other's 2 s.
    short = StimulusSetFactory(name="short-one", items=["item0", "item1"])
    long = StimulusSetFactory(name="long-one", items=0)
    for position, (key, seconds) in enumerate((("item0", 2.0), ("item1", 1.0))):
        StimulusFactory(stimulus_set=long, item_key=key, position=position, duration_s=seconds)
    study = services.study_create(
        slug="differs",
        title="Differs",
        owner=UserFactory(researcher=True),
        conditions=[("short", short, "system"), ("long", long, "system")],
        groups=1,
        clips_per_group=2,
        practice=False,
    )
    with pytest.raises(services.StudyNotReady) as refused:
        services.study_open(study=study)
    message = refused.value.messages[0]
    assert "item0: served bytes differs (short " in message and "item0: duration differs" in message
    assert "1.000 s, long 2.000 s" in message and "item1" not in message
    study.refresh_from_db()
    assert study.status == "draft"
    assert services.clip_differences(conditions=list(study.conditions.all())) != []
