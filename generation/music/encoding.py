"""The paper's encoding: a 16th-note grid of melody tokens (155 values) and chord indices (25 values).

Melody token per step (section 2.2.1 of the paper, 0-indexed):
    0-127   a new note onset of that MIDI pitch (the paper's slots 128-152 never occur and are masked)
    153     rest
    154     hold: the previous note continues
Chord index per step: the major triad on root r (0 = C .. 11 = B) is r, the minor triad on root r is
12 + r, no chord is 24. The network input is the 180-dim concatenation of the two one-hots.

The WaveNet encoding is a pitch per step (0 = rest, the same pitch on consecutive steps = one sustained
note) and the same 25 chord classes. Pitch 0 cannot be played in that encoding, and a note repeated
without a gap merges into one: both are documented losses of the paper's WaveNet representation.

Bar position (an option, off by default: the paper's input has none): per step, the steps since the
bar started, `bar_positions`; a network that uses it reads it as a beat one-hot (8) and a sub-beat
one-hot (4), `POSITION_SIZE` = 12 more conditioning inputs per step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# Bump whenever tokens, chord classes or corpus extraction change: caches and checkpoints record it.
ENCODING_VERSION = 1

STEPS_PER_BEAT = 4  # 16th-note grid in 4/4 and 3/4 (a beat is a quarter note)
MELODY_PITCHES = 153  # the paper's pitch slots 0-152
MIDI_PITCHES = 128  # only 0-127 are playable; 128-152 are masked at sampling
REST = 153
HOLD = 154
MELODY_SIZE = 155
CHORD_SIZE = 25
NO_CHORD = 24
INPUT_SIZE = MELODY_SIZE + CHORD_SIZE  # 180, the paper's per-step vector
WAVENET_SIZE = 128  # pitch per step, channel 0 = rest
MAX_BAR_BEATS = 8  # beats a bar position can name; a later beat of a longer bar reads as the 8th
POSITION_SIZE = MAX_BAR_BEATS + STEPS_PER_BEAT  # beat one-hot + sub-beat one-hot: 12

PITCH_CLASS_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


@dataclass(frozen=True)
class Note:
    """A note on the grid: `start` and `duration` in steps (16ths)."""

    pitch: int
    start: int
    duration: int


# ---------------------------------------------------------------------------------------------- chords


def chord_index(root: int, minor: bool) -> int:
    """The chord class of a triad on pitch class `root`."""
    return (12 if minor else 0) + root % 12


def chord_name(index: int) -> str:
    """'C', 'C#m', ..., 'NC' for a chord index 0-24."""
    if index == NO_CHORD:
        return "NC"
    if not 0 <= index < NO_CHORD:
        raise ValueError(f"chord index {index} is outside 0-{NO_CHORD}")
    return PITCH_CLASS_NAMES[index % 12] + ("m" if index >= 12 else "")


def chord_pitches(index: int) -> list[int]:
    """Pitch classes of the triad (root, third, fifth); [] for NC."""
    if index == NO_CHORD:
        return []
    root = index % 12
    third = 3 if index >= 12 else 4
    return [root, (root + third) % 12, (root + 7) % 12]


_CHORD_RE = re.compile(r"^([A-Ga-g])([#b♯♭]*)(.*)$")
NO_CHORD_SYMBOLS = frozenset({"nc", "n.c.", "n.c", "n", "x", "-", "none"})  # lower case, no spaces


def is_no_chord_symbol(name: str) -> bool:
    """True for a symbol written to mean "no chord" ("NC", "N.C.", "-", "none", ...), in any case."""
    return name.strip().replace(" ", "").lower() in NO_CHORD_SYMBOLS


def parse_chord(name: str) -> int:
    """A chord symbol to one of the 25 classes, mapped as the paper says.

    A chord outside the 24 triads maps to the triad on the same root: C7, Cmaj7, Cadd9, C6 -> C;
    Cm7, Cm6 -> Cm; Caug, C+ -> C; diminished (Cdim, C°, Cm7b5, Cø) -> Cm; suspended (Csus2, Csus4) -> C.
    A slash bass (C/E) is ignored. "NC", "N.C." and anything without a recognisable root -> NC.
    """
    if is_no_chord_symbol(name):
        return NO_CHORD
    text = name.strip().replace(" ", "")
    match = _CHORD_RE.match(text)
    if not match:
        return NO_CHORD
    letter, accidentals, quality = match.groups()
    root = _LETTER_PC[letter.upper()] + accidentals.count("#") + accidentals.count("♯")
    root -= accidentals.count("b") + accidentals.count("♭")
    quality = quality.split("/")[0]
    lowered = quality.lower()
    if lowered.startswith(("maj", "ma", "Δ", "aug", "+", "sus", "add", "dom")) or quality.startswith("M"):
        minor = False
    elif lowered.startswith(("m", "min", "-", "dim", "°", "o", "ø")):
        minor = True
    elif quality == "" or quality[0].isdigit() or quality[0] in "#b(":
        minor = False
    else:
        return NO_CHORD
    return chord_index(root, minor)


# ---------------------------------------------------------------------------------------------- melody


def notes_to_tokens(notes: list[Note], n_steps: int) -> np.ndarray:
    """Monophonic notes on the grid -> (n_steps,) int64 tokens. A later onset cuts an earlier note."""
    tokens = np.full(n_steps, REST, dtype=np.int64)
    for note in sorted(notes, key=lambda n: n.start):
        if note.start >= n_steps or note.duration <= 0:
            continue
        if not 0 <= note.pitch < MIDI_PITCHES:
            raise ValueError(f"pitch {note.pitch} is not a MIDI pitch")
        end = min(n_steps, note.start + note.duration)
        tokens[note.start] = note.pitch
        tokens[note.start + 1 : end] = HOLD
    return tokens


def tokens_to_notes(tokens: np.ndarray) -> list[Note]:
    """(T,) tokens -> notes. A hold after a rest (or at step 0) is treated as a rest."""
    notes: list[Note] = []
    pitch, start = None, 0
    for step, token in enumerate(np.asarray(tokens).tolist()):
        if token == HOLD and pitch is not None:
            continue
        if pitch is not None:
            notes.append(Note(pitch, start, step - start))
            pitch = None
        if token < MIDI_PITCHES:
            pitch, start = int(token), step
    if pitch is not None:
        notes.append(Note(pitch, start, len(tokens) - start))
    return notes


def transpose(melody: np.ndarray, chords: np.ndarray, semitones: int) -> tuple[np.ndarray, np.ndarray]:
    """Shift melody pitches and chord roots by `semitones`; rest, hold and NC are unchanged."""
    melody = np.asarray(melody).copy()
    pitched = melody < MIDI_PITCHES
    melody[pitched] += semitones
    if (melody[pitched] < 0).any() or (melody[pitched] >= MIDI_PITCHES).any():
        raise ValueError(f"transposing by {semitones} leaves the MIDI range")
    chords = np.asarray(chords).copy()
    voiced = chords != NO_CHORD
    chords[voiced] = (chords[voiced] // 12) * 12 + (chords[voiced] + semitones) % 12
    return melody, chords


def one_hot(indices: np.ndarray, size: int) -> np.ndarray:
    """(T,) int -> (T, size) float32."""
    out = np.zeros((len(indices), size), dtype=np.float32)
    out[np.arange(len(indices)), np.asarray(indices)] = 1.0
    return out


def paper_input(melody: np.ndarray, chords: np.ndarray) -> np.ndarray:
    """The paper's (T, 180) vector: melody one-hot (155) then chord one-hot (25)."""
    return np.concatenate([one_hot(melody, MELODY_SIZE), one_hot(chords, CHORD_SIZE)], axis=1)


def tokens_to_wavenet(melody: np.ndarray) -> np.ndarray:
    """(T,) tokens -> (T,) sounding pitch per step, 0 = rest (the WaveNet encoding)."""
    out = np.zeros(len(melody), dtype=np.int64)
    current = 0
    for step, token in enumerate(np.asarray(melody).tolist()):
        if token == HOLD:
            out[step] = current
        elif token == REST:
            current = 0
        else:
            current = int(token)
            out[step] = current
    return out


def wavenet_to_tokens(pitches: np.ndarray) -> np.ndarray:
    """(T,) pitch per step (0 = rest) -> tokens: a pitch equal to the previous step's is a hold."""
    tokens = np.full(len(pitches), REST, dtype=np.int64)
    previous = 0
    for step, pitch in enumerate(np.asarray(pitches).tolist()):
        if pitch != 0:
            tokens[step] = HOLD if pitch == previous else pitch
        previous = pitch
    return tokens


# ------------------------------------------------------------------------------------- bar position


def bar_positions(length: int, *, beats_per_bar: int = 4, bar_starts: np.ndarray | None = None) -> np.ndarray:
    """(length,) int64: steps since the current bar began, in 0 .. beats_per_bar * 4 - 1.

    Bars last `beats_per_bar` beats from each step of `bar_starts` (ascending; default: bars from step 0,
    as generation lays out a progression). Steps before the first bar start (a pickup) count back from
    it, so a one-beat pickup in 4/4 sits on beat 4; a bar that breaks the pattern (the two halves of a
    bar split by a repeat) is continued at the written length from the last bar start.
    """
    if beats_per_bar < 1:
        raise ValueError(f"beats_per_bar must be at least 1, not {beats_per_bar}")
    bar = beats_per_bar * STEPS_PER_BEAT
    steps = np.arange(length, dtype=np.int64)
    starts = np.asarray([0] if bar_starts is None or len(bar_starts) == 0 else bar_starts, dtype=np.int64)
    last = starts[np.clip(np.searchsorted(starts, steps, side="right") - 1, 0, None)]
    return (steps - last) % bar


def position_features(positions: np.ndarray) -> np.ndarray:
    """(T,) steps since the bar began -> (T, 12) float32: beat one-hot (8, later beats clipped to the 8th)
    then sub-beat one-hot (4)."""
    positions = np.asarray(positions, dtype=np.int64)
    beats = np.minimum(positions // STEPS_PER_BEAT, MAX_BAR_BEATS - 1)
    return np.concatenate(
        [one_hot(beats, MAX_BAR_BEATS), one_hot(positions % STEPS_PER_BEAT, STEPS_PER_BEAT)], axis=1
    )
