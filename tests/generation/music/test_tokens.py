"""The paper's note/chord event tokens (generation/music/tokens.py)."""

import numpy as np
import pytest

from generation.music.encoding import HOLD, NO_CHORD, REST, parse_chord
from generation.music.tokens import (
    PAD_TOKEN,
    STEPS_PER_EVENT,
    TOKEN_VOCAB_SIZE,
    event_id,
    event_parts,
    event_to_string,
    events_to_melody,
    events_to_piece,
    format_token,
    parse_token,
    piece_to_events,
    string_to_event,
    voice_chord,
)

C, G, AM = parse_chord("C"), parse_chord("G"), parse_chord("Am")


def test_written_form_round_trips_notes_and_chords():
    assert parse_token("45.21.78") == (45, 21, 78)
    assert format_token((45, 21, 78)) == "45.21.78"
    assert parse_token("60") == (60,)
    assert format_token([60]) == "60"


@pytest.mark.parametrize("text", ["", "a.b", "60.", "128", "-1", "60.200"])
def test_malformed_tokens_are_refused(text):
    with pytest.raises(ValueError):
        parse_token(text)


def test_chord_is_voiced_closely_under_the_melody():
    assert voice_chord(C, 76) == (64, 67, 72, 76)  # E5 over C major: E4 G4 C5 under it
    assert voice_chord(AM, 69) == (57, 60, 64, 69)
    assert voice_chord(G, 1) == (2, 7, 11, 1)  # no room below MIDI 1: tones in octave 0, melody last


def test_every_event_id_survives_the_written_form():
    for token in range(TOKEN_VOCAB_SIZE):
        assert string_to_event(event_to_string(token)) == token
    assert PAD_TOKEN == TOKEN_VOCAB_SIZE == 128 + 24 * 128


def test_ids_split_into_melody_pitch_and_triad():
    assert event_parts(event_id(67)) == (67, None)
    assert event_parts(event_id(67, NO_CHORD)) == (67, None)
    assert event_parts(event_id(76, AM)) == (76, AM)
    with pytest.raises(ValueError):
        event_parts(TOKEN_VOCAB_SIZE)


def test_written_chord_must_be_a_triad_under_the_melody():
    assert string_to_event("64.67.72.76") == event_id(76, C)
    assert string_to_event("48.52.55.76") == event_id(76, C)  # any voicing of the triad below
    with pytest.raises(ValueError, match="triad"):
        string_to_event("45.21.78")  # A and A before F#: not a triad


def test_piece_becomes_one_event_per_onset_with_chords_where_harmony_changes():
    melody = np.array([72, HOLD, HOLD, REST, 74, HOLD, 76, HOLD, REST, REST, 77, HOLD])
    chords = np.array([C, C, C, C, G, G, G, G, AM, AM, AM, AM])
    events = piece_to_events(melody, chords)
    assert [event_to_string(e) for e in events] == ["60.64.67.72", "62.67.71.74", "76", "69.72.76.77"]


def test_no_chord_onsets_are_plain_pitches_and_a_later_chord_is_written_again():
    melody = np.array([60, 62, 64, 65])
    chords = np.array([C, NO_CHORD, C, C])
    assert piece_to_events(melody, chords).tolist() == [event_id(60, C), 62, event_id(64, C), 65]


def test_events_are_laid_half_a_beat_apart_and_round_trip():
    events = np.array([event_id(72, C), 74, event_id(76, G), 77])
    melody, chords = events_to_piece(events)
    assert STEPS_PER_EVENT == 2
    assert melody.tolist() == [72, HOLD, 74, HOLD, 76, HOLD, 77, HOLD]
    assert chords.tolist() == [C, C, C, C, G, G, G, G]
    assert piece_to_events(melody, chords).tolist() == events.tolist()


def test_melody_line_is_cut_or_held_to_the_asked_length():
    events = [event_id(60, C), 64]
    assert events_to_melody(events, 3).tolist() == [60, HOLD, 64]
    assert events_to_melody(events, 6).tolist() == [60, HOLD, 64, HOLD, HOLD, HOLD]
    assert events_to_melody([], 2).tolist() == [REST, REST]


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="differ"):
        piece_to_events(np.array([60, 62]), np.array([C]))
