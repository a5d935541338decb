"""Per-piece symbolic music metrics (Yang & Lerch 2018 as in mgeval; MusPy's definitions).

Every metric reads one monophonic melody on the project's 16th-note grid (``generation.music.encoding``:
0-127 onsets, REST, HOLD) and, for the chord-tone ratio, the chord index at every step. Times are in
beats rather than seconds so that the metrics do not depend on the tempo a piece is rendered at.

Where the two references differ we say which we follow:

* pitch count, pitch range, pitch-class histogram, average pitch interval, average inter-onset
  interval and the note-length histogram follow mgeval (``total_used_pitch``, ``pitch_range``,
  ``total_pitch_class_histogram``, ``avg_pitch_shift``, ``avg_IOI``, ``note_length_hist``): the
  histograms count notes and are normalised to sum to 1; the interval is the mean *absolute* step in
  semitones between consecutive notes;
* scale consistency, pitch entropy and pitch-class entropy follow MusPy (best in-scale share over
  the 12 major and 12 natural-minor scales; Shannon entropy in bits of the note-count histogram);
* empty-beat rate follows MusPy's idea (share of beats in which no note sounds) over the whole grid,
  trailing rests included, because a generated piece has a fixed length;
* the chord-tone ratio is ours: the share of sounding melody time (in steps) whose pitch class is a
  tone of the chord at that step, counting only steps that have a chord (NC steps are left out).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from generation.music.encoding import NO_CHORD, STEPS_PER_BEAT, Note, chord_pitches, tokens_to_notes

# mgeval's 12 note-length classes, in beats (quarter notes): whole, half, quarter, 8th, 16th, the
# dotted half/quarter/8th/16th, and the half/quarter/8th triplets. A note goes to the nearest class.
NOTE_LENGTH_CLASSES_BEATS = (4.0, 2.0, 1.0, 0.5, 0.25, 3.0, 1.5, 0.75, 0.375, 4 / 3, 2 / 3, 1 / 3)
NOTE_LENGTH_CLASS_NAMES = (
    "whole",
    "half",
    "quarter",
    "8th",
    "16th",
    "dotted half",
    "dotted quarter",
    "dotted 8th",
    "dotted 16th",
    "half triplet",
    "quarter triplet",
    "8th triplet",
)
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
NATURAL_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)

# The scalar metrics, in the order tables show them.
SCALAR_METRICS = (
    "pitch_count",
    "pitch_range",
    "avg_pitch_interval",
    "avg_ioi_beats",
    "scale_consistency",
    "pitch_entropy",
    "pitch_class_entropy",
    "empty_beat_rate",
    "chord_tone_ratio",
)
# The histogram metrics (vectors); inter/intra-set distances compare them as vectors.
HISTOGRAM_METRICS = ("pitch_class_histogram", "note_length_histogram")


@dataclass
class PieceMetrics:
    """The symbolic metrics of one melody. NaN where a metric is undefined (see each field)."""

    n_notes: int
    pitch_count: int  # distinct MIDI pitches
    pitch_range: int  # highest minus lowest pitch, semitones; 0 without notes
    avg_pitch_interval: float  # mean |interval| between consecutive notes; NaN with < 2 notes
    avg_ioi_beats: float  # mean time between consecutive onsets, beats; NaN with < 2 notes
    scale_consistency: float  # best share of notes in one major/minor scale; NaN without notes
    pitch_entropy: float  # bits; 0 for one pitch
    pitch_class_entropy: float  # bits
    empty_beat_rate: float  # share of beats in which nothing sounds
    chord_tone_ratio: float  # share of sounding time on chord tones; NaN if never under a chord
    pitch_class_histogram: list[float] = field(default_factory=list)  # 12 values, sum 1 (or all 0)
    note_length_histogram: list[float] = field(default_factory=list)  # 12 mgeval classes, sum 1

    def as_dict(self) -> dict:
        return asdict(self)


def melody_notes(melody: np.ndarray) -> list[Note]:
    """The notes of a (T,) token melody (a hold after a rest counts as a rest)."""
    return tokens_to_notes(np.asarray(melody))


def pitch_count(notes: list[Note]) -> int:
    return len({note.pitch for note in notes})


def pitch_range(notes: list[Note]) -> int:
    if not notes:
        return 0
    pitches = [note.pitch for note in notes]
    return max(pitches) - min(pitches)


def pitch_class_histogram(notes: list[Note]) -> np.ndarray:
    """(12,) share of notes on each pitch class C..B; all zeros without notes."""
    counts = np.zeros(12)
    for note in notes:
        counts[note.pitch % 12] += 1
    return counts / counts.sum() if counts.sum() else counts


def average_pitch_interval(notes: list[Note]) -> float:
    if len(notes) < 2:
        return math.nan
    pitches = np.array([note.pitch for note in notes])
    return float(np.abs(np.diff(pitches)).mean())


def average_inter_onset_interval(notes: list[Note]) -> float:
    """Mean distance between consecutive onsets, in beats."""
    if len(notes) < 2:
        return math.nan
    starts = np.array([note.start for note in notes])
    return float(np.diff(starts).mean() / STEPS_PER_BEAT)


def note_length_histogram(notes: list[Note]) -> np.ndarray:
    """(12,) share of notes in each of mgeval's note-length classes (nearest class wins)."""
    classes = np.array(NOTE_LENGTH_CLASSES_BEATS)
    counts = np.zeros(len(classes))
    for note in notes:
        counts[int(np.argmin(np.abs(classes - note.duration / STEPS_PER_BEAT)))] += 1
    return counts / counts.sum() if counts.sum() else counts


def scale_consistency(notes: list[Note]) -> float:
    """The largest share of notes that fall in one major or natural-minor scale (MusPy)."""
    if not notes:
        return math.nan
    pcs = np.array([note.pitch % 12 for note in notes])
    best = 0.0
    for root in range(12):
        for scale in (MAJOR_SCALE, NATURAL_MINOR_SCALE):
            members = {(root + degree) % 12 for degree in scale}
            best = max(best, float(np.isin(pcs, list(members)).mean()))
    return best


def _entropy_bits(counts: np.ndarray) -> float:
    total = counts.sum()
    if not total:
        return math.nan
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0


def pitch_entropy(notes: list[Note]) -> float:
    """Shannon entropy (bits) of the pitch histogram over notes (MusPy); NaN without notes."""
    return _entropy_bits(np.bincount([note.pitch for note in notes], minlength=128).astype(float))


def pitch_class_entropy(notes: list[Note]) -> float:
    return _entropy_bits(np.bincount([note.pitch % 12 for note in notes], minlength=12).astype(float))


def sounding_pitch(melody: np.ndarray) -> np.ndarray:
    """(T,) the MIDI pitch sounding at each step, -1 where nothing sounds."""
    out = np.full(len(melody), -1, dtype=np.int64)
    for note in melody_notes(melody):
        out[note.start : note.start + note.duration] = note.pitch
    return out


def empty_beat_rate(melody: np.ndarray) -> float:
    """Share of beats (STEPS_PER_BEAT steps each; a last partial beat counts) in which nothing sounds."""
    sounding = sounding_pitch(melody) >= 0
    if not len(sounding):
        return math.nan
    n_beats = math.ceil(len(sounding) / STEPS_PER_BEAT)
    empty = sum(not sounding[b * STEPS_PER_BEAT : (b + 1) * STEPS_PER_BEAT].any() for b in range(n_beats))
    return empty / n_beats


def chord_tone_ratio(melody: np.ndarray, chords: np.ndarray) -> float:
    """Share of melody note-time on tones of the current chord, over steps that have a chord."""
    melody = np.asarray(melody)
    chords = np.asarray(chords)
    if melody.shape != chords.shape:
        raise ValueError(f"melody {melody.shape} and chords {chords.shape} differ in length")
    sounding = sounding_pitch(melody)
    eligible = (sounding >= 0) & (chords != NO_CHORD)
    if not eligible.any():
        return math.nan
    on_tone = [int(sounding[t]) % 12 in chord_pitches(int(chords[t])) for t in np.flatnonzero(eligible)]
    return float(np.mean(on_tone))


def piece_metrics(melody: np.ndarray, chords: np.ndarray | None = None) -> PieceMetrics:
    """All metrics of one piece.

    Args:
        melody: (T,) melody tokens.
        chords: (T,) chord indices; without them the chord-tone ratio is NaN.
    """
    melody = np.asarray(melody)
    notes = melody_notes(melody)
    return PieceMetrics(
        n_notes=len(notes),
        pitch_count=pitch_count(notes),
        pitch_range=pitch_range(notes),
        avg_pitch_interval=average_pitch_interval(notes),
        avg_ioi_beats=average_inter_onset_interval(notes),
        scale_consistency=scale_consistency(notes),
        pitch_entropy=pitch_entropy(notes),
        pitch_class_entropy=pitch_class_entropy(notes),
        empty_beat_rate=empty_beat_rate(melody),
        chord_tone_ratio=math.nan if chords is None else chord_tone_ratio(melody, chords),
        pitch_class_histogram=pitch_class_histogram(notes).tolist(),
        note_length_histogram=note_length_histogram(notes).tolist(),
    )


# ------------------------------------------------------------------ distance to the real melody of an item

# What `item_measures` returns, in the order tables show them (docs/evaluation.md, "Distance to real music").
ITEM_MEASURES = (
    "chord_tone_share",
    "pc_overlap",
    "pc_kl",
    "mean_abs_interval",
    "step_share",
    "pitch_range",
    "notes_per_bar",
    "repetition_4",
    "out_of_key_share",
    "rest_share",
)
DEGENERATE_KINDS = ("silent", "one pitch", "held >= 2 bars")
PC_SMOOTHING = 0.01  # added to every pitch class before the KL, so that an unused class is not infinite
# A minor key's melody uses the raised 6th and 7th (melodic minor) as freely as the natural ones.
MINOR_KEY_SCALE = (0, 2, 3, 5, 7, 8, 9, 10, 11)


def step_share(notes: list[Note]) -> float:
    """Share of consecutive-note intervals of at most 2 semitones (repeats and steps); NaN with < 2 notes."""
    if len(notes) < 2:
        return math.nan
    return float((np.abs(np.diff([n.pitch for n in notes])) <= 2).mean())


def notes_per_bar(notes: list[Note], steps: int, bar_steps: int = 16) -> float:
    return len(notes) / (steps / bar_steps) if steps else math.nan


def repetition_share(notes: list[Note], length: int = 4) -> float:
    """Share of the melody's `length`-note pitch sequences that occur more than once in it (motifs)."""
    grams = [tuple(n.pitch for n in notes[i : i + length]) for i in range(len(notes) - length + 1)]
    if not grams:
        return math.nan
    counts: dict[tuple[int, ...], int] = {}
    for gram in grams:
        counts[gram] = counts.get(gram, 0) + 1
    return float(np.mean([counts[g] > 1 for g in grams]))


def out_of_key_share(notes: list[Note], tonic: int, mode: str) -> float:
    """Share of notes outside the key (major scale, or minor with raised 6th and 7th); NaN without notes."""
    if not notes:
        return math.nan
    scale = MAJOR_SCALE if mode == "major" else MINOR_KEY_SCALE
    members = {(tonic + degree) % 12 for degree in scale}
    return float(np.mean([n.pitch % 12 not in members for n in notes]))


def rest_share(melody: np.ndarray) -> float:
    """Share of steps on which nothing sounds."""
    return float((sounding_pitch(melody) < 0).mean()) if len(melody) else math.nan


def degeneracy(melody: np.ndarray, bar_steps: int = 16) -> str | None:
    """Why a melody is degenerate ("silent", "one pitch", "held >= 2 bars"), or None."""
    notes = melody_notes(melody)
    if not notes or rest_share(melody) > 0.9:
        return "silent"
    if pitch_count(notes) == 1:
        return "one pitch"
    if max(n.duration for n in notes) >= 2 * bar_steps:
        return "held >= 2 bars"
    return None


def item_measures(
    melody: np.ndarray, chords: np.ndarray, real: np.ndarray, *, tonic: int, mode: str, bar_steps: int = 16
) -> dict[str, float]:
    """The ITEM_MEASURES of one melody on an item whose real melody is `real`, in the key (tonic, mode).

    Args:
        melody, chords, real: (T,) melody tokens, chord indices and the item's real melody tokens.
        tonic: the key's pitch class (0 = C); mode: "major" or "minor" (estimated from `real`).

    The pitch-class overlap (sum of the minimum, 1 = the same histogram) and KL(real || melody, in
    bits, both smoothed by PC_SMOOTHING) compare note-count histograms with the real melody's.
    """
    notes = melody_notes(melody)
    mine = pitch_class_histogram(notes)
    theirs = pitch_class_histogram(melody_notes(real))
    p = (theirs + PC_SMOOTHING) / (theirs + PC_SMOOTHING).sum()
    q = (mine + PC_SMOOTHING) / (mine + PC_SMOOTHING).sum()
    return {
        "chord_tone_share": chord_tone_ratio(melody, chords),
        "pc_overlap": float(np.minimum(mine, theirs).sum()) if notes else 0.0,
        "pc_kl": float((p * np.log2(p / q)).sum()),
        "mean_abs_interval": average_pitch_interval(notes),
        "step_share": step_share(notes),
        "pitch_range": float(pitch_range(notes)),
        "notes_per_bar": notes_per_bar(notes, len(melody), bar_steps),
        "repetition_4": repetition_share(notes),
        "out_of_key_share": out_of_key_share(notes, tonic, mode),
        "rest_share": rest_share(melody),
    }
