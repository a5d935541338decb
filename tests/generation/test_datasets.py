"""generation/datasets.py: which batches each network is fed, and the split rule its sidecar records."""

import numpy as np
import pytest

from generation import datasets
from generation.music.corpus import SPLIT_RULE, load_corpus, window_starts
from generation.music.encoding import HOLD
from generation.music.tokens import PAD_TOKEN, event_id, event_parts, piece_to_events
from generation.nets.base import VARIANTS, MelodyModel, UnknownVariantError, build_model
from generation.separation import stems

pytestmark = pytest.mark.usefixtures("corpus_env")


def take(iterator, count):
    return [next(iterator) for _ in range(count)]


def test_every_registered_network_has_a_pipeline_and_a_split_rule():
    for variant in VARIANTS:
        assert datasets.split_rule_for(variant)
    assert datasets.split_rule_for("proposed") == SPLIT_RULE
    assert datasets.split_rule_for("bilstm") == SPLIT_RULE  # events of the same corpus, split the same
    assert datasets.split_rule_for("separation") == stems.SPLIT_RULE
    assert datasets.split_rule_for("separation").endswith("0-7 train, 8 validation, 9 test")
    assert datasets.PIPELINES["separation"][0] is stems.multitrack_batches
    with pytest.raises(UnknownVariantError, match="known variants"):
        datasets.batches_for("transformer", "chorales:10", split="train", batch_size=2, seed=0, config=None)


@pytest.mark.parametrize("variant", sorted(v for v, cls in VARIANTS.items() if issubclass(cls, MelodyModel)))
def test_melody_models_get_melody_and_chord_windows_except_bilstm(variant):
    config = build_model(variant, "tiny").config
    batch = next(
        datasets.batches_for(variant, "chorales:10", split="train", batch_size=3, seed=0, config=config)
    )
    if variant == "bilstm":
        assert set(batch) == {"tokens"} and batch["tokens"].shape == (3, config.window + 1)
    else:
        assert set(batch) == {"melody", "chords"}
        assert batch["melody"].shape == batch["chords"].shape == (3, getattr(config, "segment_steps", 100))


def shifted_event(token: int, semitones: int) -> int:
    pitch, chord = event_parts(token)
    if chord is not None:
        chord = (chord // 12) * 12 + (chord + semitones) % 12
    return event_id(pitch + semitones, chord)


def segment(piece, start):
    melody = piece.melody[start:].copy()
    if melody[0] == HOLD:  # the note sounding into the start is an onset there
        back = start
        while piece.melody[back] == HOLD:
            back -= 1
        melody[0] = piece.melody[back]
    return melody, piece.chords[start:]


def rows_from_starts(pieces, window):
    """Every row the Bi-LSTM may be trained on, untransposed: contexts since a window start."""
    rows = set()
    for piece in pieces:
        for start in window_starts(piece, 100).tolist():
            events = piece_to_events(*segment(piece, start))
            for k in range(min(len(events), window)):
                context = [PAD_TOKEN] * (window - k) + events[:k].tolist()
                rows.add((*context, int(events[k])))
    return rows


def test_bilstm_rows_start_on_downbeats_and_are_transposed_like_the_melody_windows(small_corpus):
    config = build_model("bilstm", "tiny").config
    window = config.window

    def batches(split, seed=0, size=16):
        return datasets.batches_for(
            "bilstm", "chorales:10", split=split, batch_size=size, seed=seed, config=config
        )

    first, again, other = (
        take(batches("train"), 20),
        take(batches("train"), 20),
        take(batches("train", seed=1), 20),
    )
    assert all(b["tokens"].shape == (16, window + 1) for b in first)
    assert all((a["tokens"] == b["tokens"]).all() for a, b in zip(first, again))
    assert not all((a["tokens"] == b["tokens"]).all() for a, b in zip(first, other))

    allowed = rows_from_starts(small_corpus.train, window)
    shifts = []
    for row in np.concatenate([b["tokens"].numpy() for b in first]).tolist():
        padding = row.index(next(t for t in row if t != PAD_TOKEN))
        assert all(t != PAD_TOKEN for t in row[padding:])  # padding only before the first event
        found = [
            s
            for s in range(-5, 7)
            if (*row[:padding], *(shifted_event(t, -s) for t in row[padding:])) in allowed
        ]
        assert found, "every row is a context since a downbeat start, in one of 12 keys"
        shifts.append(found[0])
    assert len(set(shifts)) >= 8 and shifts.count(0) < len(shifts) / 4  # most rows leave the written key


def test_bilstm_validation_is_one_pass_in_the_written_key_from_each_first_downbeat(small_corpus):
    config = build_model("bilstm", "tiny").config
    expected = []
    for piece in small_corpus.validation:
        events = piece_to_events(*segment(piece, int(window_starts(piece, 100)[0])))
        for k in range(0, min(len(events), config.window), datasets.VALIDATION_EVENT_STRIDE):
            expected.append([PAD_TOKEN] * (config.window - k) + events[: k + 1].tolist())
    passed = [
        b["tokens"]
        for b in datasets.batches_for(
            "bilstm", "chorales:10", split="validation", batch_size=3, seed=0, config=config
        )
    ]
    assert len(expected) > 3 and np.concatenate(passed).tolist() == expected  # every row once, in order
    assert all(len(b) == 3 for b in passed[:-1])


def test_a_split_without_note_events_is_a_clear_error(tmp_path, monkeypatch):
    config = build_model("bilstm", "tiny").config
    assert load_corpus("chorales:10").heldout  # the corpus exists; an empty split is the error
    monkeypatch.setattr(datasets.melody_corpus.Corpus, "split", lambda self, name: [])
    with pytest.raises(ValueError, match="has no note events after a bar start"):
        datasets.batches_for("bilstm", "chorales:10", split="validation", batch_size=2, seed=0, config=config)
