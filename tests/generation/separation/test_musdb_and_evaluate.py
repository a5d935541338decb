"""The MUSDB18 layout loader and BSS Eval against oracle and floor, end to end through the command."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from django.core.management import call_command

from generation.checkpoints import save_checkpoint
from generation.nets.base import build_model
from generation.nets.separation import SOURCES
from generation.separation.evaluate import bss_eval, evaluate_tracks, oracle_estimates, summary
from generation.separation.musdb import is_musdb_folder, load_musdb, musdb_split
from generation.separation.stems import load_multitracks

RATE = 22050


def synthetic_stems(seconds: float, seed: int) -> dict[str, np.ndarray]:
    """Four clearly different (n, 2) stems: a bass sine, noise bursts, a chord, a vibrato voice."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    bursts = (np.sin(2 * np.pi * 2 * t) > 0.9) * rng.standard_normal(len(t)) * 0.3
    chord = sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)) * 0.1
    voice = 0.2 * np.sin(2 * np.pi * 440 * t + 3 * np.sin(2 * np.pi * 5 * t))
    mono = {"bass": 0.3 * np.sin(2 * np.pi * 55 * t), "drums": bursts, "other": chord, "vocals": voice}
    return {name: np.stack([x, 0.8 * x], axis=1).astype(np.float32) for name, x in mono.items()}


@pytest.fixture
def musdb_folder(tmp_path):
    root = tmp_path / "musdb"
    names = {"train": ["Artist - Song A", "Artist - Song B"], "test": ["Band - Test One"]}
    for subset, tracks in names.items():
        for index, name in enumerate(tracks):
            folder = root / subset / name
            folder.mkdir(parents=True)
            stems = synthetic_stems(3.0, seed=index)
            for stem, audio in stems.items():
                sf.write(folder / f"{stem}.wav", audio, RATE)
            sf.write(folder / "mixture.wav", sum(stems.values()), RATE)
    (root / "train" / "not a track").mkdir()  # no mixture.wav: ignored
    return root


def test_musdb_layout_loads_resampled_mono_stems(musdb_folder):
    assert is_musdb_folder(musdb_folder)
    assert not is_musdb_folder(musdb_folder / "train")
    test = load_musdb(musdb_folder, split="test", sample_rate=8000)
    assert [t.name for t in test] == ["Band - Test One"]
    track = test[0]
    assert track.stems.shape == (4, 3 * 8000)
    expected = synthetic_stems(3.0, seed=0)
    # "other" is our "music": the chord's energy is in row 2; mono = mean of the channels (the noise
    # bursts lose their energy above 4 kHz to the resampling, so only the tonal stems are compared)
    for row, stem in ((0, "bass"), (2, "other"), (3, "vocals")):
        rms = np.sqrt(np.mean(expected[stem].mean(axis=1) ** 2))
        assert abs(np.sqrt(np.mean(track.stems[row] ** 2)) - rms) < 0.05 * rms, stem
    assert np.sqrt(np.mean(track.stems[1] ** 2)) > 0.01
    train = load_musdb(musdb_folder, split="train", sample_rate=8000)
    validation = load_musdb(musdb_folder, split="validation", sample_rate=8000)
    assert sorted(t.name for t in train + validation) == ["Artist - Song A", "Artist - Song B"]
    assert all(musdb_split(t.name) == "validation" for t in validation)
    # the same folder is a corpus for batches and evaluation
    assert [t.name for t in load_multitracks(str(musdb_folder), split="heldout", sample_rate=8000)] == [
        "Band - Test One"
    ]


def test_oracle_beats_the_floor_and_bss_eval_is_sane(rendered_tracks):
    stems = rendered_tracks[0].stems[:, 8000 : 2 * 8000].astype(np.float64)
    perfect = bss_eval(stems, stems + 1e-6 * np.random.default_rng(0).standard_normal(stems.shape))
    assert all(score[0] > 40 for score in perfect)
    oracle = bss_eval(stems, oracle_estimates(stems, n_fft=1024, hop=512).astype(np.float64))
    floor = bss_eval(stems, np.repeat(stems.sum(0, keepdims=True), 4, axis=0))
    for source, good, bad in zip(SOURCES, oracle, floor):
        assert good[0] > bad[0] + 3, source  # SDR: the ideal mask is far above no separation
    silent = stems.copy()
    silent[3] = 0
    assert bss_eval(silent, stems)[3] is None


def test_evaluate_separation_runs_end_to_end(musdb_folder, tmp_path, rendered_tracks):
    torch.manual_seed(0)
    model = build_model("separation", "tiny")
    scores = evaluate_tracks(model, rendered_tracks[:1], seconds=1.5)
    table = summary(scores)
    assert set(table) == {"model", "irm1", "irm2", "mixture"}
    assert table["irm1"]["mean"]["sdr"] > table["mixture"]["mean"]["sdr"] + 3
    path = save_checkpoint(model, tmp_path / "tiny-separation", extra={"corpus": "test"})
    out = tmp_path / "scores.json"
    call_command(
        "evaluate_separation",
        checkpoint=str(path),
        corpus=str(musdb_folder),
        seconds=1.0,
        json=str(out),
        no_progress=True,
    )
    written = json.loads(out.read_text())
    assert {s["method"] for s in written["scores"]} == {"model", "irm1", "irm2", "mixture"}
    assert {s["source"] for s in written["scores"]} == set(SOURCES)
    assert {s["version"] for s in written["scores"]} == {"v4", "v3"}
    v4 = written["summary"]["recorded audio"]["v4"]
    assert v4["irm1"]["vocals"]["sdr"] > v4["mixture"]["vocals"]["sdr"]


def test_separate_command_writes_four_stems(musdb_folder, tmp_path):
    torch.manual_seed(0)
    path = save_checkpoint(build_model("separation", "tiny"), tmp_path / "tiny", extra={})
    mixture = musdb_folder / "test" / "Band - Test One" / "mixture.wav"
    call_command("separate", str(mixture), out=str(tmp_path / "stems"), checkpoint=str(path))
    written = {}
    for source in SOURCES:
        audio, rate = sf.read(tmp_path / "stems" / f"{source}.wav", always_2d=True)
        assert rate == RATE and audio.shape == (3 * RATE, 2)  # the input's rate, not the model's 8 kHz
        written[source] = audio
    original, _ = sf.read(mixture, always_2d=True)
    assert np.abs(sum(written.values()) - original).max() < 1e-4
