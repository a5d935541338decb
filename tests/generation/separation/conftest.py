"""Rendered multitracks shared by the separation tests: two chorales, 8 s each, at 8 kHz (tiny preset),
and a maker of short four-part pieces."""

import pretty_midi
import pytest

from generation.separation.stems import chorale_midis, render_multitrack


@pytest.fixture(scope="session")
def rendered_tracks():
    return [
        render_multitrack(name, midi, sample_rate=8000, max_seconds=8.0)
        for name, midi in chorale_midis(limit=2)
    ]


def _four_part_midi(seconds: float = 3.0) -> pretty_midi.PrettyMIDI:
    """A four-part piece at 120 bpm: one note per beat in each of bass, tenor, alto and soprano."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    for base in (43, 55, 60, 67):
        part = pretty_midi.Instrument(0)
        part.notes = [
            pretty_midi.Note(80, base + (beat % 3) * 2, beat * 0.5, beat * 0.5 + 0.45)
            for beat in range(int(seconds * 2))
        ]
        midi.instruments.append(part)
    return midi


@pytest.fixture
def four_part_midi():
    """`four_part_midi(seconds=3.0)` -> a new PrettyMIDI piece (see _four_part_midi)."""
    return _four_part_midi
