"""Chord recognition on the grid: which of the 25 classes sounds on each beat of a texture.

Template matching on pitch classes weighted by how long they sound within the beat: every root and
every chord shape (triads, sevenths, suspensions, diminished, augmented) is scored by the weight of the
chord's tones present minus the weight of tones outside it and a penalty for chord tones missing; the
lowest sounding note breaks ties toward root position. The best shape then maps to the 25 classes as
the paper says (sevenths to their triad, dim -> minor, aug and sus -> major). Pitch classes are used
instead of music21's spelled-pitch root finding so that MIDI files, which carry no spelling, and
MusicXML chorales go through one and the same analysis.
"""

from __future__ import annotations

import numpy as np

from generation.music.encoding import NO_CHORD, STEPS_PER_BEAT, chord_index

# (intervals above the root, minor?) — what each shape maps to among the 24 triads.
SHAPES: list[tuple[tuple[int, ...], bool]] = [
    ((0, 4, 7), False),  # major
    ((0, 3, 7), True),  # minor
    ((0, 4, 7, 10), False),  # dominant seventh -> major
    ((0, 3, 7, 10), True),  # minor seventh -> minor
    ((0, 4, 7, 11), False),  # major seventh -> major
    ((0, 3, 6), True),  # diminished -> minor
    ((0, 3, 6, 10), True),  # half-diminished -> minor
    ((0, 3, 6, 9), True),  # diminished seventh -> minor
    ((0, 4, 8), False),  # augmented -> major
    ((0, 5, 7), False),  # sus4 -> major
    ((0, 2, 7), False),  # sus2 -> major
    ((0, 7), False),  # bare fifth -> major
]
MISSING_PENALTY = 0.6  # per chord tone absent, in units of "one beat of a present tone"
ROOT_IN_BASS_BONUS = 0.25


def recognise_chord(weights: np.ndarray, bass: int | None) -> int:
    """The class of one beat.

    Args:
        weights: (12,) how long each pitch class sounds (any unit).
        bass: pitch class of the lowest note, or None.

    Returns:
        A chord index 0-24; NC when fewer than two pitch classes sound.
    """
    weights = np.asarray(weights, dtype=float)
    present = weights > 0
    if present.sum() < 2:
        return NO_CHORD
    unit = weights[present].mean()
    best, best_score = NO_CHORD, -np.inf
    for root in np.flatnonzero(present):
        for order, (intervals, minor) in enumerate(SHAPES):
            tones = [(root + i) % 12 for i in intervals]
            inside = weights[tones].sum()
            outside = weights.sum() - inside
            missing = sum(1 for tone in tones if not present[tone])
            score = (inside - outside) / unit - MISSING_PENALTY * missing - 0.01 * order
            if bass is not None and bass == root:
                score += ROOT_IN_BASS_BONUS
            if score > best_score:
                best, best_score = chord_index(int(root), minor), score
    return best


def chords_from_roll(roll: np.ndarray, *, steps_per_beat: int = STEPS_PER_BEAT) -> np.ndarray:
    """One chord per beat from a piano roll, repeated on the beat's steps.

    Args:
        roll: (T, 128) bool, the pitches sounding at each step (all voices).

    Returns:
        (T,) int64 chord indices.
    """
    n_steps = roll.shape[0]
    chords = np.full(n_steps, NO_CHORD, dtype=np.int64)
    for start in range(0, n_steps, steps_per_beat):
        beat = roll[start : start + steps_per_beat]
        per_pitch = beat.sum(axis=0)
        weights = np.zeros(12)
        np.add.at(weights, np.arange(128) % 12, per_pitch)
        onset = np.flatnonzero(beat[0]) if beat[0].any() else np.flatnonzero(per_pitch)
        bass = int(onset[0]) % 12 if len(onset) else None
        chords[start : start + steps_per_beat] = recognise_chord(weights, bass)
    return chords
