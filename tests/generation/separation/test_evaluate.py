"""BSS Eval v4 and v3, the IRM1 and IRM2 oracles, and `evaluate_separation --soundfont` (evaluate.py)."""

import json

import numpy as np
import pytest
import torch
from django.core.management import call_command
from django.core.management.base import CommandError

from generation.checkpoints import save_checkpoint
from generation.nets.base import build_model
from generation.nets.separation import SOURCES
from generation.separation.evaluate import (
    bss_eval,
    bss_eval_v4,
    evaluate_tracks,
    oracle_estimates,
    sdr_table,
    summary,
)
from generation.separation.stems import HELDOUT_SOUNDFONT, TRAINING_SOUNDFONTS, find_soundfont, split_of


def test_v4_scores_near_perfect_estimates_high_and_the_mixture_low(rendered_tracks):
    stems = rendered_tracks[0].stems[:, 8000 : 4 * 8000].astype(np.float64)
    noisy = stems + 1e-6 * np.random.default_rng(0).standard_normal(stems.shape)
    assert all(score[0] > 40 for score in bss_eval_v4(stems, noisy, sample_rate=8000))
    floor = bss_eval_v4(stems, np.repeat(stems.sum(0, keepdims=True), 4, axis=0), sample_rate=8000)
    assert all(score[0] < 3 for score in floor)
    silent = stems.copy()
    silent[2] = 0
    results = bss_eval_v4(silent, noisy, sample_rate=8000)
    assert results[2] is None and all(r is not None for i, r in enumerate(results) if i != 2)


def test_both_oracles_rebuild_the_mixture_and_irm2_beats_irm1(rendered_tracks):
    irm1, irm2 = [], []
    for track in rendered_tracks:
        stems = track.stems[:, 8000 : 5 * 8000].astype(np.float64)
        for power, scores in ((1, irm1), (2, irm2)):
            estimates = oracle_estimates(stems, n_fft=1024, hop=512, power=power)
            assert np.abs(estimates.sum(0) - stems.sum(0)).max() < 1e-4  # masks sum to one
            scores += [r[0] for r in bss_eval_v4(stems, estimates.astype(np.float64), sample_rate=8000)]
    assert np.mean(irm2) > np.mean(irm1)  # the |S| ratio is not the best mask of this STFT


def test_scores_come_in_both_versions_per_soundfont(rendered_tracks):
    torch.manual_seed(0)
    model = build_model("separation", "tiny")
    scores = evaluate_tracks(model, rendered_tracks, seconds=2.0)
    assert {s.version for s in scores} == {"v4", "v3"}
    assert {s.soundfont for s in scores} == {TRAINING_SOUNDFONTS[0]}
    assert len(scores) == 2 * 4 * 2 * 4  # tracks x methods x versions x sources
    v4, v3 = summary(scores, "v4"), summary(scores, "v3")
    for table in (v4, v3):
        assert table["irm2"]["mean"]["sdr"] > table["mixture"]["mean"]["sdr"] + 3
    # v3 (sources version) and v4 (images version, 1 s windows) are different measures
    assert v4["model"]["mean"]["sdr"] != pytest.approx(v3["model"]["mean"]["sdr"], abs=1e-3)
    # v3 of the same estimates is what bss_eval prints
    stems = rendered_tracks[0].stems[:, 3 * 8000 : 5 * 8000].astype(np.float64)
    direct = bss_eval(stems, np.repeat(stems.sum(0, keepdims=True), 4, axis=0))
    first = {
        s.source: s.sdr
        for s in scores
        if s.track == rendered_tracks[0].name and s.method == "mixture" and s.version == "v3"
    }
    assert [first[source] for source in SOURCES] == pytest.approx([d[0] for d in direct], abs=1e-6)
    table = sdr_table(scores)
    assert "oracle IRM2" in table and table.count("\n") == 5  # header, rule, four methods
    with pytest.raises(ValueError, match="needs a model"):
        evaluate_tracks(None, rendered_tracks, seconds=1.0)


@pytest.fixture
def midi_corpus(four_part_midi, tmp_path, monkeypatch):
    """Two held-out four-part pieces in a MIDI folder; the stem cache in a fresh var/."""
    monkeypatch.setenv("DOCBGM_VAR_DIR", str(tmp_path / "var"))
    folder = tmp_path / "pieces"
    folder.mkdir()
    names = [n for n in (f"piece{i}.mid" for i in range(60)) if split_of(n) == "test"][:2]
    for name in names:
        four_part_midi(4.0).write(str(folder / name))
    return folder


@pytest.fixture
def tiny_checkpoint(tmp_path):
    torch.manual_seed(0)
    return save_checkpoint(build_model("separation", "tiny"), tmp_path / "tiny-separation", extra={})


def test_evaluate_separation_scores_any_soundfont(midi_corpus, tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "scores.json"
    call_command(
        "evaluate_separation",
        checkpoint=str(tiny_checkpoint),
        corpus=str(midi_corpus),
        soundfont=[str(find_soundfont(TRAINING_SOUNDFONTS[0])), str(find_soundfont(HELDOUT_SOUNDFONT))],
        methods="model,irm1,irm2,mixture",
        seconds=2.0,
        json=str(out),
        no_progress=True,
    )
    printed = capsys.readouterr().out
    assert f"{TRAINING_SOUNDFONTS[0]} (training): 2 pieces" in printed
    assert f"{HELDOUT_SOUNDFONT} (held out): 2 pieces" in printed
    assert "SDR v4 / v3" in printed and "oracle IRM1" in printed and "mixture as estimate" in printed
    written = json.loads(out.read_text())
    assert {s["soundfont"] for s in written["scores"]} == {TRAINING_SOUNDFONTS[0], HELDOUT_SOUNDFONT}
    summaries = written["summary"]
    held = summaries[f"{HELDOUT_SOUNDFONT} (held out)"]
    assert held["v4"]["irm2"]["mean"]["sdr"] > held["v4"]["mixture"]["mean"]["sdr"]
    seen = summaries[f"{TRAINING_SOUNDFONTS[0]} (training)"]
    assert seen["v4"]["irm1"]["mean"]["sdr"] != pytest.approx(held["v4"]["irm1"]["mean"]["sdr"], abs=1e-3)


def test_evaluate_separation_refuses_bad_soundfonts(midi_corpus, tiny_checkpoint, tmp_path):
    not_a_font = tmp_path / "readme.txt"
    not_a_font.write_text("no")
    for bad, message in ((tmp_path / "missing.sf2", "not found"), (not_a_font, "not a soundfont")):
        with pytest.raises(CommandError, match=message):
            call_command(
                "evaluate_separation",
                checkpoint=str(tiny_checkpoint),
                corpus=str(midi_corpus),
                soundfont=[str(bad)],
                no_progress=True,
            )
    assert not (tmp_path / "var" / "separation").exists()  # nothing rendered
    with pytest.raises(CommandError, match="at least 1"):
        call_command("evaluate_separation", checkpoint=str(tiny_checkpoint), tracks=0, no_progress=True)
    with pytest.raises(CommandError, match="--methods: choose from model, irm1, irm2, mixture"):
        call_command("evaluate_separation", checkpoint=str(tiny_checkpoint), methods="model,ceiling")
