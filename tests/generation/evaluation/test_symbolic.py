"""Each symbolic metric on hand-made melodies whose answers we know."""

import math

import numpy as np
import pytest

from generation.evaluation import symbolic
from generation.music.encoding import HOLD, NO_CHORD, REST, parse_chord

C_MAJOR_SCALE = [60, 62, 64, 65, 67, 69, 71, 72]


def quarters(pitches):
    """One quarter note (4 steps) per pitch; None is a quarter rest."""
    out = []
    for p in pitches:
        out += [REST] * 4 if p is None else [p, HOLD, HOLD, HOLD]
    return np.array(out)


def test_c_major_scale():
    melody = quarters(C_MAJOR_SCALE)
    m = symbolic.piece_metrics(melody, np.full(len(melody), parse_chord("C")))
    assert m.n_notes == 8
    assert m.pitch_count == 8
    assert m.pitch_range == 12
    assert m.avg_pitch_interval == pytest.approx(12 / 7)
    assert m.avg_ioi_beats == 1.0
    assert m.scale_consistency == 1.0
    assert m.pitch_entropy == pytest.approx(3.0)  # 8 equally likely pitches
    assert m.pitch_class_entropy == pytest.approx(2.75)  # C twice, six others once
    assert m.empty_beat_rate == 0.0
    assert m.chord_tone_ratio == pytest.approx(0.5)  # C, E, G, C of eight equal notes
    assert m.pitch_class_histogram == pytest.approx(
        [2 / 8, 0, 1 / 8, 0, 1 / 8, 1 / 8, 0, 1 / 8, 0, 1 / 8, 0, 1 / 8]
    )
    assert m.note_length_histogram[symbolic.NOTE_LENGTH_CLASS_NAMES.index("quarter")] == 1.0


def test_single_repeated_note_with_rests():
    melody = quarters([67, None] * 4)  # G quarter, quarter rest, four times
    m = symbolic.piece_metrics(melody, np.full(len(melody), parse_chord("Em")))
    assert (m.n_notes, m.pitch_count, m.pitch_range) == (4, 1, 0)
    assert m.avg_pitch_interval == 0.0
    assert m.avg_ioi_beats == 2.0
    assert m.pitch_entropy == 0.0
    assert m.pitch_class_entropy == 0.0
    assert m.empty_beat_rate == 0.5
    assert m.chord_tone_ratio == 1.0  # G is the fifth... of C; of E minor it is the third
    assert m.pitch_class_histogram[7] == 1.0


def test_chord_tone_only_melody_over_changing_chords():
    progression = ["C", "F", "G", "Am"]
    arpeggios = [[60, 64, 67, 72], [65, 69, 72, 77], [67, 71, 74, 79], [69, 72, 76, 81]]
    melody = quarters([p for bar in arpeggios for p in bar])
    chords = np.repeat([parse_chord(name) for name in progression], 16)
    assert symbolic.chord_tone_ratio(melody, chords) == 1.0
    # The same melody one semitone up has no chord tone at all.
    assert symbolic.chord_tone_ratio(np.where(melody < 128, melody + 1, melody), chords) == 0.0


def test_chord_tone_ratio_counts_time_and_skips_no_chord():
    # D (non-chord tone of C) for 1 step, then E (chord tone) for 3 steps; then 4 steps under NC.
    melody = np.array([62, 64, HOLD, HOLD, 65, HOLD, HOLD, HOLD])
    chords = np.array([parse_chord("C")] * 4 + [NO_CHORD] * 4)
    assert symbolic.chord_tone_ratio(melody, chords) == pytest.approx(0.75)
    assert math.isnan(symbolic.chord_tone_ratio(melody, np.full(8, NO_CHORD)))


def test_note_lengths_and_scale_consistency_of_chromatic_notes():
    melody = np.array([60] + [HOLD] * 5 + [61, HOLD] + list(range(62, 72)))  # dotted quarter, 8th, ten 16ths
    m = symbolic.piece_metrics(melody)
    hist = dict(zip(symbolic.NOTE_LENGTH_CLASS_NAMES, m.note_length_histogram))
    assert hist["dotted quarter"] == pytest.approx(1 / 12)
    assert hist["8th"] == pytest.approx(1 / 12)
    assert hist["16th"] == pytest.approx(10 / 12)
    assert m.scale_consistency == pytest.approx(7 / 12)  # the best scale holds 7 of the 12 pitch classes
    assert math.isnan(m.chord_tone_ratio)


def test_empty_melody_and_hold_after_rest():
    melody = np.array([REST, HOLD, HOLD, REST, REST])  # a hold after a rest sounds nothing
    m = symbolic.piece_metrics(melody)
    assert m.n_notes == 0
    assert m.empty_beat_rate == 1.0  # two beats (the second partial), both empty
    assert math.isnan(m.scale_consistency) and math.isnan(m.avg_pitch_interval)


def test_item_measures_against_the_real_melody():
    real = quarters(C_MAJOR_SCALE + [72, 71, 69, 67, 65, 64, 62, 60])  # up and down: 16 quarters, 4 bars
    chords = np.full(len(real), parse_chord("C"))
    same = symbolic.item_measures(real, chords, real, tonic=0, mode="major")
    assert same["pc_overlap"] == pytest.approx(1.0) and same["pc_kl"] == pytest.approx(0.0, abs=1e-12)
    assert same["step_share"] == 1.0  # steps of 1-2 semitones and one repeat (0 st) count alike
    assert same["mean_abs_interval"] == pytest.approx(24 / 15)
    assert same["notes_per_bar"] == 4 and same["pitch_range"] == 12 and same["rest_share"] == 0
    assert same["out_of_key_share"] == 0 and same["chord_tone_share"] == pytest.approx(8 / 16)
    assert same["repetition_4"] == 0  # no 4-note sequence comes back
    # A chromatic line with rests, in C minor (raised 6th and 7th allowed): C#, E, F#, C# are outside.
    other = quarters([60, 61, None, 62, 63, None, 64, 66, 67, 68, None, 70, 60, 61, 62, 63])
    m = symbolic.item_measures(other, chords, real, tonic=0, mode="minor")
    assert m["rest_share"] == pytest.approx(3 / 16) and m["out_of_key_share"] == pytest.approx(4 / 13)
    # Shared classes: C (2/13 of its notes vs 1/4), D (2/13 vs 1/8), E and G (1/13 vs 1/8 each).
    assert m["pc_overlap"] == pytest.approx(4 / 13 + 1 / 8)
    assert m["pc_kl"] > 1.0
    assert m["repetition_4"] == pytest.approx(2 / 10)  # 60 61 62 63 recurs: 2 of its 10 four-note windows


def test_degenerate_melodies():
    assert symbolic.degeneracy(np.full(64, REST)) == "silent"
    assert symbolic.degeneracy(quarters([60, 60, None, 60])) == "one pitch"
    held = np.array([60] + [HOLD] * 31 + [62, HOLD, 64, HOLD])
    assert symbolic.degeneracy(held) == "held >= 2 bars"
    assert symbolic.degeneracy(quarters(C_MAJOR_SCALE)) is None
