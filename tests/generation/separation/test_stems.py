"""Rendered multitracks (generation/separation/stems.py) and a tiny model learning from them."""

import numpy as np
import pretty_midi
import torch

from generation.nets.base import build_model
from generation.nets.separation import SOURCES
from generation.separation.stems import (
    STEM_RMS,
    assign_voices,
    drum_pattern,
    fixed_pass,
    split_of,
    train_stream,
)
from generation.training import TrainConfig, evaluate, train


def test_every_stem_is_rendered_and_levelled(rendered_tracks):
    for track in rendered_tracks:
        assert track.stems.shape == (4, 8 * 8000)
        for index, source in enumerate(SOURCES):
            stem = track.stems[index]
            sounding = np.abs(stem) > 1e-4 * np.abs(stem).max()
            assert np.abs(stem).max() > 0, source
            assert abs(np.sqrt(np.mean(stem[sounding] ** 2)) - STEM_RMS) < 1e-3, source
        # the stems are different signals, not copies
        corr = np.corrcoef(track.stems)
        assert np.abs(corr[np.triu_indices(4, 1)]).max() < 0.5


def test_voices_follow_the_parts_and_the_skyline():
    midi = pretty_midi.PrettyMIDI()
    for pitches in ([40, 41], [55, 57], [60, 62], [72, 74]):
        inst = pretty_midi.Instrument(0)
        inst.notes = [pretty_midi.Note(80, p, i, i + 1) for i, p in enumerate(pitches)]
        midi.instruments.append(inst)
    voices = assign_voices(midi)
    assert [n.pitch for n in voices["bass"]] == [40, 41]
    assert sorted(n.pitch for n in voices["music"]) == [55, 57, 60, 62]
    assert [n.pitch for n in voices["vocals"]] == [72, 74]
    single = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(0)
    piano.notes = [pretty_midi.Note(80, p, 0, 1) for p in (48, 64, 67, 76)] + [pretty_midi.Note(80, 79, 1, 2)]
    single.instruments.append(piano)
    voices = assign_voices(single)
    assert [n.pitch for n in voices["vocals"]] == [76, 79]
    assert [n.pitch for n in voices["bass"]] == [48]
    assert sorted(n.pitch for n in voices["music"]) == [64, 67]


def test_drums_keep_the_tempo():
    notes = drum_pattern(tempo_bpm=90, beats_per_bar=4, seconds=8.0, rng=np.random.default_rng(0))
    kicks = sorted(
        n.start
        for n in notes
        if n.pitch == 36 and abs(n.start / (60 / 90) - round(n.start / (60 / 90))) < 1e-9
    )
    snares = [n.start for n in notes if n.pitch == 38]
    assert np.allclose(np.diff(snares), 2 * 60 / 90)  # back beats, every other beat
    assert kicks[0] == 0.0 and all(n.start < 8.0 for n in notes)


def test_splits_are_by_piece_and_stable():
    names = [f"piece{i}" for i in range(400)]
    splits = [split_of(n) for n in names]
    assert splits == [split_of(n) for n in names]
    counts = {s: splits.count(s) for s in ("train", "validation", "test")}
    assert 280 < counts["train"] < 360 and counts["validation"] > 20 and counts["test"] > 20


def test_batches_mix_the_sources_with_random_gains(rendered_tracks):
    batch = next(train_stream(rendered_tracks, batch_size=3, length=8000, rng=np.random.default_rng(1)))
    assert batch["mixture"].shape == (3, 8000) and batch["sources"].shape == (3, 4, 8000)
    torch.testing.assert_close(batch["mixture"], batch["sources"].sum(dim=1))
    again = next(train_stream(rendered_tracks, batch_size=3, length=8000, rng=np.random.default_rng(1)))
    assert torch.equal(batch["mixture"], again["mixture"])
    first = list(fixed_pass(rendered_tracks, batch_size=4, length=8000, limit=64))
    second = list(fixed_pass(rendered_tracks, batch_size=4, length=8000, limit=64))
    assert sum(b["mixture"].shape[0] for b in first) == 16  # 2 pieces x 8 one-second segments
    assert all(torch.equal(a["sources"], b["sources"]) for a, b in zip(first, second))


def test_a_tiny_model_learns_from_rendered_multitracks(rendered_tracks, tmp_path):
    torch.manual_seed(0)
    model = build_model("separation", "tiny")
    length = model.config.segment_samples
    validation = list(fixed_pass(rendered_tracks, batch_size=8, length=length, limit=16))
    before = evaluate(model, validation, torch.device("cpu"))
    result = train(
        model,
        train_stream(rendered_tracks, batch_size=4, length=length, rng=np.random.default_rng(0)),
        validation_batches=lambda: validation,
        config=TrainConfig(
            steps=60, batch_size=4, learning_rate=3e-3, validate_every=60, checkpoint_steps=(), device="cpu"
        ),
        out=tmp_path / "tiny",
        progress=False,
    )
    after = result.final_validation_loss
    assert after < 0.7 * before, (before, after)
    assert (tmp_path / "tiny.safetensors").exists()
