import numpy as np
import pretty_midi
import pytest

from generation.music.chords import chords_from_roll, recognise_chord
from generation.music.encoding import (
    CHORD_SIZE,
    HOLD,
    INPUT_SIZE,
    MELODY_SIZE,
    NO_CHORD,
    POSITION_SIZE,
    REST,
    Note,
    bar_positions,
    chord_name,
    chord_pitches,
    notes_to_tokens,
    paper_input,
    parse_chord,
    position_features,
    tokens_to_notes,
    tokens_to_wavenet,
    transpose,
    wavenet_to_tokens,
)
from generation.music.midi import estimate_key, melody_to_midi, midi_to_tokens


def test_vocabulary_sizes_are_the_papers():
    assert (MELODY_SIZE, CHORD_SIZE, INPUT_SIZE, REST, HOLD, NO_CHORD) == (155, 25, 180, 153, 154, 24)


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("C", "C"),
        ("Cm", "Cm"),
        ("C7", "C"),
        ("Cmaj7", "C"),
        ("CM7", "C"),
        ("Cm7", "Cm"),
        ("Cmin", "Cm"),
        ("Caug", "C"),
        ("C+", "C"),
        ("Cdim", "Cm"),
        ("C°", "Cm"),
        ("Cm7b5", "Cm"),
        ("Csus4", "C"),
        ("Csus2", "C"),
        ("Cadd9", "C"),
        ("C6", "C"),
        ("Bb", "Bb"),
        ("A#m", "Bbm"),
        ("F#m7", "F#m"),
        ("Db/F", "C#"),
        ("Ebm", "Ebm"),
        ("NC", "NC"),
        ("N.C.", "NC"),
        ("-", "NC"),
        ("none", "NC"),
        ("H7", "NC"),
        ("", "NC"),
    ],
)
def test_chord_mapping_table(symbol, expected):
    assert chord_name(parse_chord(symbol)) == expected


def test_chord_indices_and_pitches():
    assert (
        parse_chord("C") == 0
        and parse_chord("B") == 11
        and parse_chord("Cm") == 12
        and parse_chord("Am") == 21
    )
    assert chord_pitches(parse_chord("Am")) == [9, 0, 4]
    assert chord_pitches(parse_chord("D")) == [2, 6, 9]
    assert chord_pitches(NO_CHORD) == []
    assert [chord_name(i) for i in range(25)][:3] == ["C", "C#", "D"]


@pytest.mark.parametrize(
    ("pitches", "bass", "expected"),
    [
        ([60, 64, 67], 60, "C"),
        ([57, 60, 64], 57, "Am"),
        ([64, 67, 72], 64, "C"),  # first inversion
        ([59, 62, 65], 59, "Bm"),  # diminished -> minor
        ([60, 64, 67, 70], 60, "C"),  # dominant seventh -> major
        ([62, 65, 69, 72], 62, "Dm"),  # minor seventh -> minor
        ([60, 65, 67], 60, "C"),  # sus4 -> major
        ([60, 64, 68], 60, "C"),  # augmented -> major
        ([60], 60, "NC"),
        ([], None, "NC"),
    ],
)
def test_chord_recognition(pitches, bass, expected):
    weights = np.zeros(12)
    for p in pitches:
        weights[p % 12] += 1
    assert chord_name(recognise_chord(weights, None if bass is None else bass % 12)) == expected


def test_chords_from_roll_one_per_beat():
    roll = np.zeros((8, 128), dtype=bool)
    roll[:4, [48, 52, 55]] = True
    roll[4:, [45, 48, 52]] = True
    assert [chord_name(c) for c in chords_from_roll(roll)] == ["C"] * 4 + ["Am"] * 4


def test_notes_tokens_round_trip():
    notes = [Note(60, 0, 4), Note(62, 4, 2), Note(62, 6, 2), Note(67, 12, 5)]
    tokens = notes_to_tokens(notes, 20)
    assert (
        tokens.tolist()
        == [60, HOLD, HOLD, HOLD, 62, HOLD, 62, HOLD] + [REST] * 4 + [67] + [HOLD] * 4 + [REST] * 3
    )
    assert tokens_to_notes(tokens) == notes


def test_transpose_shifts_pitches_and_chord_roots():
    melody = np.array([60, HOLD, REST, 71])
    chords = np.array([0, 0, 21, NO_CHORD])  # C, C, Am, NC
    up, up_chords = transpose(melody, chords, 3)
    assert up.tolist() == [63, HOLD, REST, 74]
    assert [chord_name(c) for c in up_chords] == ["Eb", "Eb", "Cm", "NC"]
    with pytest.raises(ValueError):
        transpose(np.array([126]), np.array([0]), 5)


def test_paper_input_is_two_one_hots():
    x = paper_input(np.array([60, HOLD]), np.array([0, NO_CHORD]))
    assert x.shape == (2, 180)
    assert x[0, 60] == 1 and x[0, 155] == 1 and x[1, 154] == 1 and x[1, 179] == 1 and x.sum() == 4


def test_wavenet_encoding_round_trip():
    tokens = np.array([60, HOLD, HOLD, REST, 62, 64, HOLD, REST])
    pitches = tokens_to_wavenet(tokens)
    assert pitches.tolist() == [60, 60, 60, 0, 62, 64, 64, 0]
    assert wavenet_to_tokens(pitches).tolist() == tokens.tolist()
    # The documented loss: a repeated note without a gap merges into one sustained note.
    assert wavenet_to_tokens(tokens_to_wavenet(np.array([60, 60]))).tolist() == [60, HOLD]


def test_midi_round_trip_keeps_pitches_onsets_and_durations(tmp_path):
    notes = [Note(62, 0, 4), Note(65, 4, 2), Note(69, 6, 6), Note(67, 16, 3), Note(65, 19, 13)]
    melody = notes_to_tokens(notes, 32)
    chords = np.array([parse_chord("Dm")] * 16 + [parse_chord("Bb")] * 16)
    for accompaniment in ("block", "arpeggio"):
        midi = melody_to_midi(melody, chords, tempo_bpm=70, accompaniment=accompaniment, key="D minor")
        path = tmp_path / f"{accompaniment}.mid"
        midi.write(str(path))
        read = pretty_midi.PrettyMIDI(str(path))
        assert round(read.get_tempo_changes()[1][0]) == 70
        assert pretty_midi.key_number_to_key_name(read.key_signature_changes[0].key_number) == "D minor"
        back_melody, back_chords = midi_to_tokens(path)
        assert back_melody.tolist() == melody.tolist()
        assert tokens_to_notes(back_melody) == notes
        assert back_chords.tolist() == chords.tolist()


def test_estimate_key():
    d_minor = notes_to_tokens([Note(p, 4 * i, 4) for i, p in enumerate([62, 64, 65, 67, 69, 70, 61, 62])], 32)
    assert estimate_key(d_minor, np.array([parse_chord("Dm")] * 16 + [parse_chord("A")] * 16)) == "D minor"


def test_bar_positions_count_steps_since_the_bar_began():
    assert bar_positions(20).tolist() == list(range(16)) + [0, 1, 2, 3]
    assert bar_positions(13, beats_per_bar=3).tolist() == list(range(12)) + [0]
    # A one-beat pickup before the first bar (at step 4) sits on beat 4 of a 4/4 bar.
    assert bar_positions(24, bar_starts=np.array([4, 20])).tolist() == [*range(12, 16), *range(16), *range(4)]
    # Two half bars of a split bar (bars listed at 0 and 24 only) continue at the written length.
    assert bar_positions(28, bar_starts=np.array([0, 24])).tolist() == [*range(16), *range(8), 0, 1, 2, 3]
    with pytest.raises(ValueError, match="beats_per_bar"):
        bar_positions(4, beats_per_bar=0)


def test_position_features_are_a_beat_and_a_sub_beat_one_hot():
    features = position_features(bar_positions(16))
    assert features.shape == (16, POSITION_SIZE) and (features.sum(1) == 2).all()
    assert features[:, :8].argmax(1).tolist() == [0] * 4 + [1] * 4 + [2] * 4 + [3] * 4
    assert features[:, 8:].argmax(1).tolist() == [0, 1, 2, 3] * 4
