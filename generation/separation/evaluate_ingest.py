"""How well audio ingest recovers a chorale's melody and chords, scored against the score itself.

Held-out chorales (the separation test split, `stems.split_of`) are rendered the way the separation
data is (`stems.render_multitrack`: the bass part on a bass program, alto and tenor as "music", the
soprano as "vocals", a drum pattern at the piece's tempo, programs and room drawn as for the test
split, each stem at a common RMS) and mixed at unit gain, with a training soundfont (in distribution)
or any other (the held-out one, or any file). The mixture then
goes through the whole ingest (generation/separation/ingest.py: separation, beats, melody, chords), and
the result is scored against the MIDI the audio was rendered from:

* melody: note-level precision / recall / F-measure of the ingested (quantised) melody against the
  soprano's notes, `mir_eval.transcription.precision_recall_f1_overlap` with onsets within 100 ms,
  pitch within 50 cents, offsets ignored (a 16th at 64 bpm is 234 ms, so the grid itself moves no
  onset by more than half of that);
* chords: per beat of the score, the reference is the chord the corpus would give that beat
  (generation.music.chords.chords_from_roll over all four voices, as parse_chorale labels chorales);
  the estimate is the ingested chord at the beat's middle; they are compared with
  `mir_eval.chord.majmin` and the accuracy is the share of beats that agree.

Nothing here imports Django.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import mir_eval
import numpy as np
import pretty_midi

from generation.music.chords import chords_from_roll
from generation.music.encoding import MIDI_PITCHES, NO_CHORD, PITCH_CLASS_NAMES, STEPS_PER_BEAT
from generation.nets.separation import SeparationRNN
from generation.separation.ingest import NoMelodyError, melody_notes, transcribe
from generation.separation.stems import MAX_SECONDS, chorale_midis, render_multitrack, split_of

ONSET_TOLERANCE = 0.1  # seconds, the MIREX note-tracking default (mir_eval's too)
PITCH_TOLERANCE = 50.0  # cents


@dataclass
class Case:
    """One rendered chorale and what its score says.

    Attributes:
        name: the chorale's file name (e.g. "bwv10.7").
        sample_rate: of `stems`.
        stems: (4, samples) rendered sources in SOURCES order; their sum is the mixture.
        notes: the soprano's notes, (onset s, offset s, MIDI pitch).
        beats: (B + 1,) times of the score's beat boundaries (quarter notes), seconds.
        chords: (B,) chord index of each beat (0-24, NO_CHORD for NC).
    """

    name: str
    sample_rate: int
    stems: np.ndarray
    notes: list[tuple[float, float, int]]
    beats: np.ndarray
    chords: np.ndarray

    @property
    def mixture(self) -> np.ndarray:
        return self.stems.sum(axis=0)


@dataclass
class PieceScore:
    """Ingest scores of one case."""

    name: str
    precision: float
    recall: float
    f_measure: float
    chord_accuracy: float
    melody_stem: str  # which stem the melody was tracked on
    tempo_bpm: float  # found by the beat tracker
    true_tempo_bpm: float


def heldout_chorales(count: int, split: str = "test") -> Iterator[tuple[str, pretty_midi.PrettyMIDI]]:
    """The first `count` chorales (by file name) in a separation split not trained on.

    Args:
        split: "test" (what evaluate_ingest reports) or "validation" (to check that a choice made
            while looking at the test pieces holds on others).
    """
    if split not in ("test", "validation"):
        raise ValueError(f"split must be 'test' or 'validation', not {split!r}")
    found = 0
    for name, midi in chorale_midis():
        if found >= count:
            return
        if split_of(name) == split:
            found += 1
            yield name, midi


def render_case(
    name: str,
    midi: pretty_midi.PrettyMIDI,
    *,
    sample_rate: int,
    soundfont: Path | str | None = None,
    max_seconds: float = MAX_SECONDS,
) -> Case:
    """Render one chorale as the separation data is (stems.render_multitrack) and read its score.

    Args:
        soundfont: a .sf2/.sf3 file (default: the first training soundfont).
    """
    track = render_multitrack(
        name, midi, sample_rate=sample_rate, soundfont=soundfont, max_seconds=max_seconds
    )
    if track is None:
        raise ValueError(f"{name} has no pitched notes")
    seconds = track.seconds
    parts = sorted(
        (inst for inst in midi.instruments if not inst.is_drum and inst.notes),
        key=lambda inst: np.mean([n.pitch for n in inst.notes]),
    )
    soprano = sorted(parts[-1].notes, key=lambda n: n.start)  # the top part: stems renders it as "vocals"
    beat = 60.0 / float(midi.get_tempo_changes()[1][0])
    n_beats = int(math.floor(seconds / beat + 1e-6))
    step = beat / STEPS_PER_BEAT
    roll = np.zeros((n_beats * STEPS_PER_BEAT, MIDI_PITCHES), dtype=bool)
    for note in (n for inst in parts for n in inst.notes if n.start < seconds):
        first = round(note.start / step)
        roll[first : max(round(note.end / step), first + 1), note.pitch] = True
    return Case(
        name=name,
        sample_rate=sample_rate,
        stems=track.stems,
        notes=[(n.start, min(n.end, seconds), n.pitch) for n in soprano if n.start < seconds],
        beats=np.arange(n_beats + 1) * beat,
        chords=chords_from_roll(roll)[::STEPS_PER_BEAT],
    )


def chord_label(index: int) -> str:
    """A chord index as a mir_eval label: 'C:maj', 'A:min', 'N'."""
    if index == NO_CHORD:
        return "N"
    return f"{PITCH_CLASS_NAMES[index % 12]}:{'min' if index >= 12 else 'maj'}"


def note_scores(
    reference: list[tuple[float, float, int]], estimate: list[tuple[float, float, int]]
) -> tuple[float, float, float]:
    """Note-level (precision, recall, F) with onsets within ONSET_TOLERANCE and offsets ignored."""
    if not reference or not estimate:
        return 0.0, 0.0, 0.0
    precision, recall, f_measure, _ = mir_eval.transcription.precision_recall_f1_overlap(
        np.array([[a, b] for a, b, _ in reference]),
        mir_eval.util.midi_to_hz(np.array([p for *_, p in reference], dtype=float)),
        np.array([[a, max(b, a + 1e-3)] for a, b, _ in estimate]),
        mir_eval.util.midi_to_hz(np.array([p for *_, p in estimate], dtype=float)),
        onset_tolerance=ONSET_TOLERANCE,
        pitch_tolerance=PITCH_TOLERANCE,
        offset_ratio=None,
    )
    return float(precision), float(recall), float(f_measure)


def beat_chord_accuracy(
    beats: np.ndarray, reference: np.ndarray, grid: np.ndarray, chords: np.ndarray
) -> float:
    """Share of the score's beats whose ingested chord (at the beat's middle) agrees, majmin.

    Args:
        beats: (B + 1,) beat boundaries of the score, seconds.
        reference: (B,) the score's chord per beat.
        grid: (T + 1,) the ingest's step boundaries, seconds.
        chords: (T,) the ingest's chord per step.
    """
    middles = (beats[:-1] + beats[1:]) / 2
    steps = np.clip(np.searchsorted(grid, middles, side="right") - 1, 0, len(chords) - 1)
    comparison = mir_eval.chord.majmin(
        [chord_label(int(c)) for c in reference], [chord_label(int(c)) for c in chords[steps]]
    )
    valid = comparison >= 0  # majmin gives -1 to a reference outside its vocabulary (never ours)
    return float(comparison[valid].mean()) if valid.any() else 0.0


def score_case(case: Case, model: SeparationRNN) -> PieceScore:
    """Ingest one rendered case and score it (a case in which ingest finds no melody scores 0)."""
    true_tempo = 60.0 / float(case.beats[1] - case.beats[0])
    try:
        result = transcribe(case.mixture, case.sample_rate, model, key=case.name)
    except NoMelodyError:
        return PieceScore(case.name, 0.0, 0.0, 0.0, 0.0, "none", 0.0, true_tempo)
    estimate = melody_notes(result.piece.melody, result.grid)
    precision, recall, f_measure = note_scores(case.notes, estimate)
    accuracy = beat_chord_accuracy(case.beats, case.chords, result.grid, result.piece.chords)
    return PieceScore(
        case.name,
        precision,
        recall,
        f_measure,
        accuracy,
        result.melody_stem,
        result.piece.tempo_bpm,
        true_tempo,
    )


def evaluate_ingest(
    model: SeparationRNN,
    chorales: list[tuple[str, pretty_midi.PrettyMIDI]],
    *,
    soundfont: Path | str | None = None,
    sample_rate: int | None = None,
    max_seconds: float = MAX_SECONDS,
    wrap: Callable[[Iterable], Iterable] = lambda x: x,
) -> list[PieceScore]:
    """Render each chorale with `soundfont` and score its ingest.

    Args:
        model: the separation network the ingest uses.
        chorales: (name, MIDI) pairs, e.g. `list(heldout_chorales(n))`.
        soundfont: a .sf2/.sf3 file; None for the training soundfont.
        sample_rate: of the rendered audio (default: the model's).
        max_seconds: the first this many seconds of each chorale are rendered.
        wrap: wraps the piece iterator (e.g. tqdm).
    """
    rate = sample_rate or model.config.sample_rate
    return [
        score_case(
            render_case(name, midi, sample_rate=rate, soundfont=soundfont, max_seconds=max_seconds), model
        )
        for name, midi in wrap(chorales)
    ]
