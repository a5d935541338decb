"""Melody contour and key (the paper's Figure 6: "the generated music ... being in D minor").

The key is music21's Krumhansl-Schmuckler estimate (``analysis.discrete.KrumhanslSchmuckler``,
Krumhansl-Kessler profiles, notes weighted by duration) together with its correlation coefficient,
the Pearson correlation between the melody's pitch-class durations and the winning key profile; the
runner-up key and its correlation tell how clear the decision was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from music21 import analysis, note, stream

from generation.evaluation.symbolic import melody_notes
from generation.music.encoding import STEPS_PER_BEAT


@dataclass
class KeyEstimate:
    """A key with how well the melody fits it."""

    name: str  # "D minor", "Bb major"; "" when the melody has no notes
    tonic: str
    mode: str  # "major" / "minor"
    correlation: float  # Pearson r with the key profile; NaN without notes
    runner_up: str
    runner_up_correlation: float


def pitch_contour(melody: np.ndarray, *, start_step: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The sounding pitch over time, for plotting.

    Args:
        melody: (T,) melody tokens.
        start_step: where the melody starts on the common time axis (to put a continuation after a segment).

    Returns:
        times (T,) in beats and pitches (T,) as floats, NaN where nothing sounds.
    """
    melody = np.asarray(melody)
    pitch = np.full(len(melody), np.nan)
    for n in melody_notes(melody):
        pitch[n.start : n.start + n.duration] = n.pitch
    return (np.arange(len(melody)) + start_step) / STEPS_PER_BEAT, pitch


def melody_stream(melody: np.ndarray) -> stream.Stream:
    """A music21 stream of the melody's notes and rests (quarter length = one beat)."""
    s = stream.Stream()
    position = 0
    for n in melody_notes(melody):
        if n.start > position:
            s.append(note.Rest(quarterLength=(n.start - position) / STEPS_PER_BEAT))
        s.append(note.Note(n.pitch, quarterLength=n.duration / STEPS_PER_BEAT))
        position = n.start + n.duration
    return s


def estimate_key(melody: np.ndarray) -> KeyEstimate:
    """The Krumhansl-Schmuckler key of a (T,) token melody."""
    s = melody_stream(melody)
    if not s.recurse().notes:
        return KeyEstimate("", "", "", math.nan, "", math.nan)
    key = analysis.discrete.KrumhanslSchmuckler().getSolution(s)
    runner = key.alternateInterpretations[0]
    return KeyEstimate(
        name=f"{key.tonic.name.replace('-', 'b')} {key.mode}",
        tonic=key.tonic.name.replace("-", "b"),
        mode=key.mode,
        correlation=float(key.correlationCoefficient),
        runner_up=f"{runner.tonic.name.replace('-', 'b')} {runner.mode}",
        runner_up_correlation=float(runner.correlationCoefficient),
    )
