"""generation/stimuli.py: clip lengths in whole bars and items fitted to them."""

import numpy as np
import pytest

from generation.music.corpus import Piece, load_corpus
from generation.music.encoding import HOLD, REST
from generation.stimuli import (
    StimulusItemError,
    clip_steps,
    heldout_items,
    loop_to_steps,
    shuffle_pitches,
    whole_bars,
)


def test_clip_steps_are_the_whole_bars_within_the_seconds():
    assert clip_steps(24.0) == 128  # the stimuli's default: 8 bars of 4/4 at 80 bpm
    assert clip_steps(45, tempo_bpm=70) == 208  # 52.5 beats = 13.1 bars -> 13 bars of 16 steps
    assert clip_steps(1, tempo_bpm=70) == 16  # never less than one bar
    assert clip_steps(48, tempo_bpm=60, beats_per_bar=3) == 192  # exactly 16 bars of 3/4


def test_loop_to_steps_cuts_or_repeats_the_whole_sequence():
    assert loop_to_steps(np.array([1, 2, 3]), 7).tolist() == [1, 2, 3, 1, 2, 3, 1]
    assert loop_to_steps(np.array([1, 2, 3]), 2).tolist() == [1, 2]
    assert loop_to_steps(np.array([5], dtype=np.int8), 3).dtype == np.int64


def test_items_start_on_a_downbeat_and_repeat_whole_bars():
    # A piece with a one-beat pickup (4 steps) and bars of 16 steps after it, 2.5 bars in all.
    melody = np.array([67, HOLD, HOLD, HOLD] + [60, HOLD, 62, HOLD] * 10, dtype=np.int64)
    piece = Piece("p", melody, np.zeros(len(melody), np.int64), 80.0, 4, bar_starts=[4, 20])
    bars, chords = whole_bars(piece)
    assert len(bars) == 32 and bars[:2].tolist() == [60, HOLD] and len(chords) == 32
    # MIN_PIECE_BARS whole bars are needed: 2 are too few, whatever the pickup adds.
    with pytest.raises(StimulusItemError, match="resting at most 20%"):
        heldout_items([piece], count=1, steps=128)


def test_every_real_and_anchor_item_is_a_sung_line_from_a_downbeat():
    """The first 20 held-out 4/4 items of the full corpus (read from its cache; see test_corpus)."""
    corpus = load_corpus("chorales")
    by_key = {p.key: p for p in corpus.heldout}
    items = heldout_items(corpus.heldout, count=20, steps=clip_steps(24.0))
    assert "bach/bwv190.7" in by_key and "bach/bwv248.9-1" not in {i.key for i in items}  # 48 % rests
    for item in items:
        piece = by_key[item.key]
        assert piece.melody_part.startswith("Soprano")
        assert (
            item.melody.tolist()[:16] == piece.melody[piece.bar_starts[0] : piece.bar_starts[0] + 16].tolist()
        )
        assert (item.melody == REST).mean() <= 0.2
        assert (shuffle_pitches(item.melody, seed=0) == REST).mean() == (item.melody == REST).mean()
    assert sum(by_key[i.key].bar_starts[0] > 0 for i in items) >= 10  # most open with a pickup, now dropped
