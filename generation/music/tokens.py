"""The paper's note/chord event tokens (section 2.2.3), used by the Bi-LSTM control model.

The paper's recipe reads a score as a stream of events, each one token: a single note is its MIDI
pitch ("60") and a chord is its MIDI pitches joined by dots ("45.21.78"). Durations are dropped;
when generating, each new token is placed 0.5 beats after the previous one.

We derive that stream from the project's 155/25 step encoding (``generation.music.encoding``):

* every melody onset becomes one event; rests and holds are dropped, as the recipe drops them;
* an onset where the harmony changed since the previous event becomes a *chord* token: the triad
  voiced closely below the melody note, the melody note last and on top (C major under E5 ->
  "64.67.72.76"); otherwise it is a *pitch* token. A chord token therefore carries the melody line
  in its top pitch, and decoding keeps that line.

So that a network can be built before it sees any data, the token ids are fixed rather than
collected from a corpus: ids 0-127 are pitch tokens, ``128 + 128 * chord + pitch`` is the chord
token of a major/minor triad ``chord`` (0-23) under melody ``pitch`` -- 3,200 ids in all, plus one
padding id that only ever appears in a model's input window.
"""

from collections.abc import Sequence

import numpy as np

from generation.music.encoding import HOLD, NO_CHORD, REST, STEPS_PER_BEAT, chord_pitches

OFFSET_BEATS = 0.5  # the paper's offset between two generated events
STEPS_PER_EVENT = int(OFFSET_BEATS * STEPS_PER_BEAT)  # 2 sixteenth steps per event
N_PITCHES = 128
N_TRIADS = NO_CHORD  # 24 major/minor triads; "no chord" has no chord token
TOKEN_VOCAB_SIZE = N_PITCHES + N_TRIADS * N_PITCHES  # 3200 event ids a model can emit
PAD_TOKEN = TOKEN_VOCAB_SIZE  # fills the input window before the first event; never emitted


def format_token(pitches: Sequence[int]) -> str:
    """Write a note or chord as the paper does: its MIDI pitches joined by dots, in the given order.

    Args:
        pitches: one pitch (a note) or several (a chord), each 0-127.

    Returns:
        "60" for a note, "45.21.78" for a chord.

    Raises:
        ValueError: no pitches, or a pitch outside 0-127.
    """
    if not pitches:
        raise ValueError("a token needs at least one pitch")
    for pitch in pitches:
        if not 0 <= int(pitch) < N_PITCHES:
            raise ValueError(f"MIDI pitch {pitch} is outside 0-127")
    return ".".join(str(int(pitch)) for pitch in pitches)


def parse_token(text: str) -> tuple[int, ...]:
    """Read a note or chord token: "60" -> (60,), "45.21.78" -> (45, 21, 78).

    Raises:
        ValueError: an empty part, a non-integer, or a pitch outside 0-127.
    """
    parts = text.strip().split(".")
    try:
        pitches = tuple(int(part) for part in parts)
    except ValueError:
        raise ValueError(f"{text!r} is not a note or chord token (MIDI pitches joined by dots)") from None
    format_token(pitches)  # validates the range
    return pitches


def voice_chord(chord: int, melody_pitch: int) -> tuple[int, ...]:
    """The pitches of a chord token: the triad closely below the melody note, the melody note last.

    Args:
        chord: a triad index 0-23 (major r, minor 12 + r).
        melody_pitch: the melody's MIDI pitch, 0-127.

    Returns:
        The triad tones ascending, each the highest pitch of its class strictly below the melody,
        then ``melody_pitch``. Under a melody below MIDI 12 a tone with no room below it is written in
        octave 0 (above the melody), so that the written form still names the whole triad.
    """
    if not 0 <= chord < N_TRIADS:
        raise ValueError(f"chord index {chord} has no chord token (0-23 are the triads)")
    tones = []
    for pitch_class in chord_pitches(chord):
        below = melody_pitch - 1 - (melody_pitch - 1 - pitch_class) % 12
        tones.append(below if below >= 0 else pitch_class)
    return (*sorted(tones), melody_pitch)


def event_id(melody_pitch: int, chord: int | None = None) -> int:
    """The id of a pitch token (``chord`` None or NO_CHORD) or of a chord token."""
    if not 0 <= melody_pitch < N_PITCHES:
        raise ValueError(f"MIDI pitch {melody_pitch} is outside 0-127")
    if chord is None or chord == NO_CHORD:
        return int(melody_pitch)
    if not 0 <= chord < N_TRIADS:
        raise ValueError(f"chord index {chord} is not a triad (0-23)")
    return N_PITCHES + N_PITCHES * int(chord) + int(melody_pitch)


def event_parts(token: int) -> tuple[int, int | None]:
    """Split an event id into (melody pitch, triad index or None for a pitch token)."""
    if not 0 <= token < TOKEN_VOCAB_SIZE:
        raise ValueError(f"event id {token} is outside 0-{TOKEN_VOCAB_SIZE - 1}")
    if token < N_PITCHES:
        return int(token), None
    chord, pitch = divmod(int(token) - N_PITCHES, N_PITCHES)
    return pitch, chord


def event_to_string(token: int) -> str:
    """An event id in the paper's written form: "67" or "60.64.67.72"."""
    pitch, chord = event_parts(token)
    return format_token((pitch,) if chord is None else voice_chord(chord, pitch))


def string_to_event(text: str) -> int:
    """The event id of a written token: a chord's last pitch is the melody (the top one in every
    voicing ``voice_chord`` writes) and the pitches before it must make one major/minor triad.

    Raises:
        ValueError: not a token, or a chord whose other pitches are not one major/minor triad.
    """
    pitches = parse_token(text)
    if len(pitches) == 1:
        return event_id(pitches[0])
    melody = pitches[-1]
    pitch_classes = {pitch % 12 for pitch in pitches[:-1]}
    for chord in range(N_TRIADS):
        if pitch_classes == set(chord_pitches(chord)):
            return event_id(melody, chord)
    raise ValueError(f"{text!r}: the pitches before the melody are not a major or minor triad")


def piece_to_events(melody: np.ndarray, chords: np.ndarray) -> np.ndarray:
    """Turn a piece in the step encoding into the event-token stream.

    Args:
        melody: (T,) melody tokens (0-127 onsets, REST, HOLD).
        chords: (T,) chord indices (0-23 triads, NO_CHORD).

    Returns:
        (N,) int64 event ids, one per melody onset; an onset where the harmony changed since the
        previous event is a chord token.
    """
    melody = np.asarray(melody)
    chords = np.asarray(chords)
    if melody.shape != chords.shape:
        raise ValueError(f"melody {melody.shape} and chords {chords.shape} differ in length")
    events: list[int] = []
    sounding_chord: int | None = None
    for token, chord in zip(melody.tolist(), chords.tolist(), strict=True):
        if token >= N_PITCHES:  # REST or HOLD: no event
            continue
        if chord != sounding_chord and chord != NO_CHORD:
            events.append(event_id(token, chord))
        else:
            events.append(event_id(token))
        sounding_chord = chord
    return np.asarray(events, dtype=np.int64)


def events_to_piece(events: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lay an event stream on the 16th grid, one event every 0.5 beats.

    Args:
        events: (N,) event ids.

    Returns:
        melody (N * STEPS_PER_EVENT,) with each event's melody pitch on its first step and HOLD on
        the rest; chords (N * STEPS_PER_EVENT,) with the triad of the latest chord token
        (NO_CHORD before the first one).
    """
    n = len(events)
    melody = np.full(n * STEPS_PER_EVENT, HOLD, dtype=np.int64)
    chords = np.full(n * STEPS_PER_EVENT, NO_CHORD, dtype=np.int64)
    sounding_chord = NO_CHORD
    for index, token in enumerate(np.asarray(events, dtype=np.int64).tolist()):
        pitch, chord = event_parts(token)
        if chord is not None:
            sounding_chord = chord
        start = index * STEPS_PER_EVENT
        melody[start] = pitch
        chords[start : start + STEPS_PER_EVENT] = sounding_chord
    return melody, chords


def events_to_melody(events: Sequence[int] | np.ndarray, steps: int) -> np.ndarray:
    """The melody line of an event stream on the 16th grid, cut or padded to ``steps``.

    Pitch tokens give their pitch, chord tokens their top (melody) pitch, one event every 0.5
    beats; steps past the last event hold it (or rest, when there are no events).

    Returns:
        (steps,) int64 melody tokens in the 155 vocabulary; never a REST after an onset.
    """
    melody, _ = events_to_piece(events)
    if len(melody) >= steps:
        return melody[:steps].copy()
    fill = HOLD if len(melody) else REST
    return np.concatenate([melody, np.full(steps - len(melody), fill, dtype=np.int64)])
