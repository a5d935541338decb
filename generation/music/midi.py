"""MIDI in and out with pretty_midi: a melody file to tokens and chords, tokens and chords to a file.

Out: instrument 0 is the melody, instrument 1 the chord accompaniment ("block" chords re-struck on
every bar and chord change, or "arpeggio" eighth notes root-third-fifth-third over a held bass), with tempo, time signature and key signature.
In: the melody track is the one named melody/soprano/lead/vocal/voice, else the non-drum track with
the highest mean pitch; chords come from all other non-drum tracks, one per beat.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pretty_midi

from generation.music.chords import chords_from_roll
from generation.music.encoding import (
    MIDI_PITCHES,
    NO_CHORD,
    PITCH_CLASS_NAMES,
    STEPS_PER_BEAT,
    Note,
    chord_pitches,
    notes_to_tokens,
    tokens_to_notes,
)

MELODY_TRACK_NAMES = re.compile(r"melod|soprano|lead|vocal|voice", re.IGNORECASE)
ACCOMPANIMENTS = ("block", "arpeggio", "none")

# Krumhansl-Kessler key profiles (major, minor), tonic first.
_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


class MidiError(ValueError):
    """A MIDI file that cannot be read or has no melody; the message names the file."""


def estimate_key(melody: np.ndarray, chords: np.ndarray) -> str:
    """Krumhansl-Schmuckler key of a melody plus its chords, e.g. "D minor"."""
    weights = np.zeros(12)
    for note in tokens_to_notes(melody):
        weights[note.pitch % 12] += note.duration
    for chord in np.asarray(chords).tolist():
        for pc in chord_pitches(int(chord)):
            weights[pc] += 0.5
    if not weights.any():
        return "C major"
    best, best_r = "C major", -np.inf
    for tonic in range(12):
        for profile, mode in ((_MAJOR_PROFILE, "major"), (_MINOR_PROFILE, "minor")):
            r = np.corrcoef(weights, np.roll(profile, tonic))[0, 1]
            if r > best_r:
                best, best_r = f"{PITCH_CLASS_NAMES[tonic]} {mode}", r
    return best


def _chord_runs(chords: np.ndarray, bar_steps: int) -> list[tuple[int, int, int]]:
    """(chord, start, end) runs of one chord, split at bar lines."""
    runs = []
    start = 0
    for step in range(1, len(chords) + 1):
        if step == len(chords) or chords[step] != chords[start] or step % bar_steps == 0:
            runs.append((int(chords[start]), start, step))
            start = step
    return runs


def melody_to_midi(
    melody: np.ndarray,
    chords: np.ndarray,
    *,
    tempo_bpm: float,
    beats_per_bar: int = 4,
    accompaniment: str = "block",
    melody_program: int = 0,
    chord_program: int = 48,
    key: str | None = None,
    melody_velocity: int = 96,
    chord_velocity: int = 60,
) -> pretty_midi.PrettyMIDI:
    """Tokens and chords on the grid -> a two-instrument MIDI.

    Args:
        melody: (T,) melody tokens.
        chords: (T,) chord indices (the accompaniment; NC steps are silent).
        tempo_bpm: quarter notes per minute.
        beats_per_bar: the time signature's numerator (over 4).
        accompaniment: "block", "arpeggio" or "none" (the chord instrument is then empty).
        melody_program, chord_program: General MIDI programs (0 piano, 48 string ensemble).
        key: e.g. "D minor" for the key signature; estimated from the notes when None.

    Returns:
        PrettyMIDI: instruments[0] melody, instruments[1] accompaniment.
    """
    if accompaniment not in ACCOMPANIMENTS:
        raise ValueError(f"accompaniment must be one of {ACCOMPANIMENTS}, not {accompaniment!r}")
    melody, chords = np.asarray(melody), np.asarray(chords)
    if len(melody) != len(chords):
        raise ValueError(f"melody has {len(melody)} steps but chords {len(chords)}")
    step_s = 60.0 / tempo_bpm / STEPS_PER_BEAT
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo_bpm)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(beats_per_bar, 4, 0.0))
    key_name = key or estimate_key(melody, chords)
    pm.key_signature_changes.append(
        pretty_midi.KeySignature(pretty_midi.key_name_to_key_number(key_name), 0.0)
    )
    lead = pretty_midi.Instrument(program=melody_program, name="melody")
    for note in tokens_to_notes(melody):
        lead.notes.append(
            pretty_midi.Note(
                melody_velocity, note.pitch, note.start * step_s, (note.start + note.duration) * step_s
            )
        )
    backing = pretty_midi.Instrument(program=chord_program, name="chords")
    bar_steps = beats_per_bar * STEPS_PER_BEAT
    for chord, start, end in _chord_runs(chords, bar_steps) if accompaniment != "none" else []:
        if chord == NO_CHORD:
            continue
        root, third, fifth = chord_pitches(chord)
        bass = 36 + root  # C2..B2
        triad = [48 + root, 48 + root + (third - root) % 12, 48 + root + (fifth - root) % 12]
        backing.notes.append(pretty_midi.Note(chord_velocity, bass, start * step_s, end * step_s))
        if accompaniment == "block":
            for pitch in triad:
                backing.notes.append(pretty_midi.Note(chord_velocity, pitch, start * step_s, end * step_s))
        else:
            pattern = [triad[0], triad[1], triad[2], triad[1]]  # every beat holds the third
            for i, at in enumerate(range(start, end, 2)):  # eighth notes
                pitch = pattern[i % len(pattern)]
                backing.notes.append(
                    pretty_midi.Note(chord_velocity, pitch, at * step_s, min(end, at + 2) * step_s)
                )
    pm.instruments.extend([lead, backing])
    return pm


def _load(midi: pretty_midi.PrettyMIDI | str | Path) -> pretty_midi.PrettyMIDI:
    if isinstance(midi, pretty_midi.PrettyMIDI):
        return midi
    try:
        return pretty_midi.PrettyMIDI(str(midi))
    except Exception as exc:  # pretty_midi/mido raise many types for a bad file
        raise MidiError(f"{Path(midi).name} is not a readable MIDI file ({exc})") from None


def midi_to_tokens(
    midi: pretty_midi.PrettyMIDI | str | Path, *, melody_track: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A MIDI file -> (melody tokens (T,), chord indices (T,)) on the 16th grid.

    Times are quantised through MIDI ticks, so tempo changes do not shift the grid. Where the melody
    track plays several notes at once, the highest is kept.
    """
    pm = _load(midi)
    pitched = [(i, inst) for i, inst in enumerate(pm.instruments) if not inst.is_drum and inst.notes]
    if not pitched:
        raise MidiError("the MIDI file has no pitched notes")
    if melody_track is None:
        named = [i for i, inst in pitched if MELODY_TRACK_NAMES.search(inst.name or "")]
        melody_track = (
            named[0] if named else max(pitched, key=lambda p: np.mean([n.pitch for n in p[1].notes]))[0]
        )

    def step(seconds: float) -> int:
        return round(pm.time_to_tick(seconds) * STEPS_PER_BEAT / pm.resolution)

    n_steps = max(step(n.end) for _, inst in pitched for n in inst.notes)
    n_steps = int(math.ceil(n_steps / STEPS_PER_BEAT) * STEPS_PER_BEAT)
    by_onset: dict[int, Note] = {}
    for n in pm.instruments[melody_track].notes:
        start, end = step(n.start), step(n.end)
        if end > start and (start not in by_onset or n.pitch > by_onset[start].pitch):
            by_onset[start] = Note(n.pitch, start, end - start)
    melody = notes_to_tokens(list(by_onset.values()), n_steps)
    roll = np.zeros((n_steps, MIDI_PITCHES), dtype=bool)
    for i, inst in pitched:
        if i == melody_track and len(pitched) > 1:
            continue
        for n in inst.notes:
            roll[step(n.start) : max(step(n.end), step(n.start) + 1), n.pitch] = True
    return melody, chords_from_roll(roll)


def midi_meter(midi: pretty_midi.PrettyMIDI | str | Path) -> tuple[float, int]:
    """(tempo in bpm, beats per bar) of a MIDI file: the first tempo and time signature."""
    pm = _load(midi)
    tempi = pm.get_tempo_changes()[1]
    tempo = float(tempi[0]) if len(tempi) else 120.0
    beats = pm.time_signature_changes[0].numerator if pm.time_signature_changes else 4
    return tempo, beats
