"""What a stimulus is made of, before Django sees it: the held-out items and the melody of each condition.

Pure Python (no Django). Every stimulus set, whatever its source, is built from the same items: the
first K held-out pieces in 4/4 of the corpus, cut (or repeated) to the clip's number of bars, played
at one tempo with one accompaniment and one pair of instruments. Conditions differ only in the melody:

    generated    a model samples a melody on the item's chord progression
    real         the held-out piece's own melody
    low_anchor   the real melody with its pitches shuffled: same rhythm, same chords, no tune
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from generation.music.encoding import HOLD, REST, STEPS_PER_BEAT, chord_name

BEATS_PER_BAR = 4  # every item is in 4/4, so every clip of every set has the same number of bars
TEMPO_BPM = 80.0  # one tempo for all: a calm documentary pace; 8 bars = 24 s
SECONDS = 24.0  # the clip length asked for by default (cut down to a whole number of bars)
MIN_PIECE_BARS = 4  # a shorter held-out piece repeats too often to be a fair item
# A melody silent for more than this share of its piece is not an item: a few chorales of the Christmas
# Oratorio leave their soprano silent between phrases while the orchestra plays (bwv248.9-1: 48 %),
# which our block-chord rendering turns into bars of bare chords. Sung chorale lines rest <= 6 %.
MAX_ITEM_REST_SHARE = 0.2
# How generated melodies are drawn by default (generation.sampling.DEFAULT_SAMPLING): chosen on the
# validation split, never on the held-out items, by `python manage.py evaluate sampling --items 12 --draws 2`
# (the lowest mean distance to the real validation melodies over the study's four systems; docs/generation.md
# gives the grid). Here, without torch, so that forms, the API and the services share one default.
SAMPLING_TEMPERATURE = 0.4
SAMPLING_TOP_P = 0.7


class StimulusItemError(ValueError):
    """The corpus cannot supply the items asked for."""


@dataclass
class StimulusItem:
    """One musical item: a held-out progression (and its real melody) at the clip's length.

    melody: (steps,) int64 melody tokens; chords: (steps,) int64 chord indices.
    """

    key: str
    title: str
    melody: np.ndarray
    chords: np.ndarray

    def progression(self) -> list[str]:
        """The chord on each beat, by name ("C", "Am", "NC"): what a stimulus records."""
        return [chord_name(int(c)) for c in self.chords[::STEPS_PER_BEAT]]


def bar_seconds(tempo_bpm: float = TEMPO_BPM, beats_per_bar: int = BEATS_PER_BAR) -> float:
    return 60.0 / tempo_bpm * beats_per_bar


def clip_steps(seconds: float, *, tempo_bpm: float = TEMPO_BPM, beats_per_bar: int = BEATS_PER_BAR) -> int:
    """Steps (16ths) in the longest whole number of bars (at least one) within `seconds`."""
    bars = max(1, math.floor(seconds / bar_seconds(tempo_bpm, beats_per_bar) + 1e-9))
    return bars * beats_per_bar * STEPS_PER_BEAT


def loop_to_steps(array: np.ndarray, steps: int) -> np.ndarray:
    """(T,) melody tokens or chord indices -> (steps,) int64: cut, or repeated whole until long enough."""
    repeats = math.ceil(steps / len(array))
    return np.tile(array, repeats)[:steps].astype(np.int64)


def heldout_items(pieces, *, count: int, steps: int) -> list[StimulusItem]:
    """The first `count` held-out pieces in 4/4 with at least `MIN_PIECE_BARS` whole bars and a melody
    that rests at most `MAX_ITEM_REST_SHARE` of the time, fitted to `steps`.

    Each item starts on its piece's first downbeat (`whole_bars`).

    Args:
        pieces: the corpus's held-out pieces (`generation.music.corpus.Piece`), in their fixed order.
        count: K, the number of items.
        steps: the clip length in steps (a whole number of bars).

    Raises:
        StimulusItemError: fewer than `count` suitable pieces.
    """
    min_steps = MIN_PIECE_BARS * BEATS_PER_BAR * STEPS_PER_BEAT
    suitable = []
    for piece in pieces:
        melody = whole_bars(piece)[0]
        if int(piece.beats_per_bar) != BEATS_PER_BAR or len(melody) < min_steps:
            continue
        if (melody == REST).mean() <= MAX_ITEM_REST_SHARE:
            suitable.append(piece)
    if len(suitable) < count:
        raise StimulusItemError(
            f"the corpus has {len(suitable)} held-out pieces in 4/4 with at least {MIN_PIECE_BARS} bars "
            f"and a melody resting at most {MAX_ITEM_REST_SHARE:.0%} of the time; "
            f"{count} items were asked for"
        )
    items = []
    for piece in suitable[:count]:
        melody, chords = whole_bars(piece)
        melody = loop_to_steps(melody, steps)
        if melody[0] == HOLD:  # a repeat or a cut can leave a hold with nothing to hold
            melody[0] = REST
        items.append(
            StimulusItem(
                key=str(piece.key),
                title=str(getattr(piece, "title", "") or piece.key),
                melody=melody,
                chords=loop_to_steps(chords, steps),
            )
        )
    return items


def whole_bars(piece) -> tuple[np.ndarray, np.ndarray]:
    """A piece's melody and chords from its first downbeat to the end of its last whole bar.

    Step 0 of every item is then the first beat of a bar (a pickup is dropped), and an item that
    repeats its piece to fill the clip repeats whole bars, so the bar lines stay where they are.
    """
    melody, chords = np.asarray(piece.melody), np.asarray(piece.chords)
    downbeats = piece.downbeats() if hasattr(piece, "downbeats") else np.zeros(1, dtype=np.int64)
    start = int(downbeats[0]) if len(downbeats) else 0
    bar = BEATS_PER_BAR * STEPS_PER_BEAT
    end = start + (len(melody) - start) // bar * bar
    return melody[start:end], chords[start:end]


def shuffle_pitches(melody: np.ndarray, *, seed: int) -> np.ndarray:
    """The low anchor: the same onsets, holds and rests, with the onset pitches permuted.

    Args:
        melody: (T,) melody tokens.
        seed: the permutation's seed.

    Returns:
        (T,) melody tokens with the same rhythm and the same multiset of pitches.
    """
    melody = np.asarray(melody, dtype=np.int64).copy()
    onsets = np.flatnonzero(melody < 128)
    rng = np.random.default_rng(seed)
    pitches = melody[onsets]
    if len(set(pitches.tolist())) > 1:
        # Avoid the identity permutation, which would make the anchor the real melody.
        for _ in range(100):
            permuted = rng.permutation(pitches)
            if not np.array_equal(permuted, pitches):
                break
        pitches = permuted
    melody[onsets] = pitches
    return melody
