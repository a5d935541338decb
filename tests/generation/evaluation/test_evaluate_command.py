"""`manage.py evaluate report` end to end on tiny checkpoints trained here, on a small saved corpus."""

import io
import re

import numpy as np
import pandas as pd
import pytest
import torch
from django.core.management import CommandError, call_command

from generation.datasets import batches_for
from generation.music.corpus import Piece, save_corpus, split_of
from generation.music.encoding import HOLD, parse_chord
from generation.nets.base import build_model
from generation.training import TrainConfig, train

PROGRESSION = ["Dm", "Bb", "F", "C", "Gm", "A", "Dm", "Dm"]
OPENING = [62, 65, 69, 74, 69, 65, 64, 62]  # the two bars every clip of the test starts with
D_MINOR = [62, 62, 62, 65, 65, 69, 69, 74, 64, 67, 70]  # the tonic triad most, then the other scale tones


def piece(key: str, rng: np.random.Generator) -> Piece:
    """Eight bars in 4/4 over a fixed progression: a D-minor arpeggio phrase, then random D-minor notes."""
    melody = [t for p in OPENING for t in (p, HOLD, HOLD, HOLD)]
    while len(melody) < 128:
        length = int(rng.choice([4, 8]))
        melody += [int(rng.choice(D_MINOR))] + [HOLD] * (length - 1)
    chords = np.repeat([parse_chord(c) for c in PROGRESSION], 16)
    return Piece(
        key=key, melody=np.array(melody[:128]), chords=chords, tempo_bpm=80.0, beats_per_bar=4, title=key
    )


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCBGM_CORPUS_DIR", str(tmp_path / "corpora"))
    rng = np.random.default_rng(0)
    keys = [f"tiny/{i}" for i in range(60)]
    heldout = [k for k in keys if split_of(k) == "heldout"][:3]
    others = [k for k in keys if split_of(k) != "heldout"][:12]
    assert len(heldout) == 3
    save_corpus("evaltiny", [piece(k, rng) for k in heldout + others], cache_dir=tmp_path / "corpora")
    return "evaltiny"


def tiny_checkpoints(folder, corpus):
    """rnn and lstm1 at step 4, proposed at 2, 4 and 6, each also as a final checkpoint."""
    folder.mkdir()
    plan = {"proposed": (2, 4, 6), "rnn": (4,), "lstm1": (4,)}
    for variant, steps in plan.items():
        torch.manual_seed(0)
        model = build_model(variant, "tiny")
        batches = batches_for(variant, corpus, split="train", batch_size=2, seed=0, config=model.config)
        config = TrainConfig(
            steps=max(steps), batch_size=2, checkpoint_steps=steps, device="cpu", validate_every=100
        )
        train(model, batches, validation_batches=None, config=config, out=folder / variant, progress=False)


def test_report_runs_every_experiment(tmp_path, corpus):
    torch.set_num_threads(1)
    checkpoints = tmp_path / "ckpt"
    tiny_checkpoints(checkpoints, corpus)
    out = tmp_path / "report"
    call_command(
        "evaluate",
        "report",
        "--out",
        str(out),
        "--corpus",
        corpus,
        "--checkpoints",
        str(checkpoints),
        "--items",
        "2",
        "--seconds",
        "6",
        "--sample-rate",
        "16000",
        "--no-train",
        "--steps",
        "2",
        "4",
        "6",
        "--structure-steps",
        "4",
        "--bidirectional-steps",
        "2",
        "6",
        "--variants",
        "proposed",
        "rnn",
        "lstm1",
    )
    index = (out / "index.html").read_text()
    for name in ("convergence", "structures", "spectrograms", "melody", "symbolic"):
        assert f"{name}/index.html" in index
        assert (out / name / "index.html").exists()
        for png in re.findall(r"src='([^']+\.png)'", (out / name / "index.html").read_text()):
            assert (out / name / png).stat().st_size > 5000
            assert (out / name / png.replace(".png", ".svg")).exists()

    convergence = pd.read_csv(out / "convergence" / "convergence.csv", index_col=0)
    assert convergence["step"].tolist() == [2, 4, 6]
    assert convergence["js_divergence"].between(0, 1).all()
    assert convergence["foreign_energy_share"].between(0, 1).all()

    structures = pd.read_csv(out / "structures" / "structures.csv", index_col=0)
    assert set(structures.index) == {"rnn @ 4", "proposed @ 2", "proposed @ 4", "proposed @ 6"}

    spectro = pd.read_csv(out / "spectrograms" / "summary.csv", index_col=0)
    assert spectro.loc["lstm1", "mean_centroid_difference_hz"] > 0

    keys = pd.read_csv(out / "melody" / "keys.csv", index_col=0)
    assert len(keys) == 2
    assert (keys["real_key"] == "D minor").all()  # every corpus melody is built on D minor
    assert keys["continuation_correlation"].between(-1, 1).all()
    # Key agreement is scored on the continuation only, against the real continuation's key.
    assert (
        keys["continuation_keeps_key"] == (keys["continuation_key"] == keys["real_continuation_key"])
    ).all()

    distance = pd.read_csv(out / "symbolic" / "distance.csv", index_col=0)
    assert set(distance.index) == {"proposed", "rnn", "lstm1", "real", "low_anchor"}
    assert distance.loc["real", "distance"] == 0 and distance.loc["real", "pc_overlap"] == 1
    assert (distance["melodies"].drop("real") == 2 * 5).all()  # 2 items x 5 draws
    # The low anchor keeps the real pitch classes and rests but loses the chord tones.
    anchor = distance.loc["low_anchor"]
    assert (
        anchor["pc_overlap"] == pytest.approx(1)
        and anchor["rest_share"] == distance.loc["real", "rest_share"]
    )
    assert anchor["chord_tone_share"] != distance.loc["real", "chord_tone_share"]
    differences = pd.read_csv(out / "symbolic" / "differences.csv", index_col=[0, 1])
    assert (differences["ci_low"] <= differences["difference"]).all()

    table = pd.read_csv(out / "table.csv", index_col=0)
    assert set(table.index) == {"proposed", "rnn", "lstm1", "real", "low_anchor"}
    # Shuffling the pitches keeps the pitch set (and so the scale) but not which pitch meets which chord.
    assert table.loc["real", "scale_consistency"] == table.loc["low_anchor", "scale_consistency"]
    assert table.loc["real", "pitch_count"] == pytest.approx(table.loc["low_anchor", "pitch_count"])
    assert table.loc["real", "chord_tone_ratio"] != table.loc["low_anchor", "chord_tone_ratio"]


def test_missing_checkpoint_without_training_is_a_clear_error(tmp_path, corpus):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CommandError, match="no checkpoint of lstm1"):
        call_command(
            "evaluate",
            "spectrograms",
            "--out",
            str(tmp_path / "o"),
            "--corpus",
            corpus,
            "--checkpoints",
            str(tmp_path / "empty"),
            "--items",
            "2",
            "--no-train",
        )


def test_sampling_chooses_the_grid_setting_with_the_lowest_score(tmp_path, monkeypatch):
    """The grid is scored on validation pieces: a corpus with 3 of them besides held-out and training ones."""
    torch.set_num_threads(1)
    monkeypatch.setenv("DOCBGM_CORPUS_DIR", str(tmp_path / "corpora"))
    rng, keys = np.random.default_rng(1), [f"tiny/{i}" for i in range(200)]
    chosen = []
    for split, count in (("heldout", 2), ("validation", 3), ("train", 9)):
        chosen += [k for k in keys if split_of(k) == split][:count]
    corpus = "evalsampling"
    save_corpus(corpus, [piece(k, rng) for k in chosen], cache_dir=tmp_path / "corpora")
    checkpoints = tmp_path / "ckpt"
    tiny_checkpoints(checkpoints, corpus)
    out, log = tmp_path / "sampling", io.StringIO()
    call_command(
        "evaluate",
        "sampling",
        "--out",
        str(out),
        "--corpus",
        corpus,
        "--checkpoints",
        str(checkpoints),
        "--items",
        "2",
        "--draws",
        "2",
        "--seconds",
        "24",  # 8 bars at 80 bpm: past the opening all pieces share, so the real melodies differ
        "--variants",
        "rnn",
        "lstm1",
        "--grid-temperatures",
        "0.5",
        "1.5",
        "--grid-top-p",
        "0.9",
        "1.0",
        stdout=log,
    )
    grid = pd.read_csv(out / "sampling" / "grid.csv", index_col=[0, 1])
    assert list(grid.index) == [(0.5, 0.9), (0.5, 1.0), (1.5, 0.9), (1.5, 1.0)]
    # score = mean distance over the systems + share of degenerate melodies (2 items x 2 draws x 2 systems)
    expected = grid[["rnn_distance", "lstm1_distance"]].mean(axis=1) + grid["degenerate"] / 8
    assert grid["score"].notna().all() and np.allclose(grid["score"], expected)
    best = grid["score"].idxmin()
    assert f"chosen: temperature {best[0]}, top_p {best[1]}" in log.getvalue()
    assert "validation melodies" in log.getvalue()
