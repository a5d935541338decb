"""Read side for the researcher pages: the symbolic metrics of a stimulus set next to real music's.

The only Django code in generation/evaluation besides the `evaluate` command. Usage in a view:

    context["symbolic_metrics"] = stimulus_set_symbolic_metrics(stimulus_set=stimulus_set)

and in the template ``{% include "generation/evaluation/_symbolic_metrics.html" %}``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from generation.evaluation import sets, symbolic
from generation.models import Stimulus, StimulusSet
from generation.music.encoding import STEPS_PER_BEAT, parse_chord

METRIC_LABELS = {
    "pitch_count": "Pitch count (distinct pitches)",
    "pitch_range": "Pitch range (semitones)",
    "avg_pitch_interval": "Average pitch interval (semitones)",
    "avg_ioi_beats": "Average inter-onset interval (beats)",
    "scale_consistency": "Scale consistency",
    "pitch_entropy": "Pitch entropy (bits)",
    "pitch_class_entropy": "Pitch-class entropy (bits)",
    "empty_beat_rate": "Empty-beat rate",
    "chord_tone_ratio": "Chord-tone ratio",
}


def stimulus_piece(stimulus: Stimulus) -> tuple[np.ndarray, np.ndarray] | None:
    """(melody tokens, chord indices) of a clip: the recorded melody and progression, else its MIDI file."""
    melody = stimulus.provenance.get("melody") if isinstance(stimulus.provenance, dict) else None
    if melody:
        melody = np.asarray(melody, dtype=np.int64)
        chords = np.repeat([parse_chord(name) for name in stimulus.progression or []], STEPS_PER_BEAT)
        if len(chords) < len(melody):  # no (or a short) progression: the chord-tone ratio is left out
            chords = None
        return melody, None if chords is None else chords[: len(melody)]
    if stimulus.midi:
        from generation.music.midi import MidiError, midi_to_tokens

        try:
            with stimulus.midi.open("rb") as handle:
                import pretty_midi

                return midi_to_tokens(pretty_midi.PrettyMIDI(handle))
        except (OSError, MidiError, ValueError):
            return None
    return None


def stimulus_set_pieces(*, stimulus_set: StimulusSet) -> list[symbolic.PieceMetrics]:
    pieces = []
    for stimulus in stimulus_set.stimuli.order_by("position"):
        piece = stimulus_piece(stimulus)
        if piece is not None:
            pieces.append(symbolic.piece_metrics(*piece))
    return pieces


def real_music_set_for(*, stimulus_set: StimulusSet) -> StimulusSet | None:
    """The newest ready real-music set, preferring one that shares the most items with `stimulus_set`."""
    candidates = StimulusSet.objects.filter(source=StimulusSet.Source.REAL, status=StimulusSet.Status.READY)
    items = set(stimulus_set.stimuli.values_list("item_key", flat=True))
    best, best_shared = None, -1
    for candidate in candidates.order_by("-created_at", "-pk"):
        shared = len(items & set(candidate.stimuli.values_list("item_key", flat=True)))
        if shared > best_shared:
            best, best_shared = candidate, shared
    return best


def _value(frame, metric: str) -> float | None:
    if frame.empty or metric not in frame:
        return None
    value = float(frame[metric].mean())
    return None if math.isnan(value) else value


def stimulus_set_symbolic_metrics(*, stimulus_set: StimulusSet) -> dict[str, Any]:
    """The metrics table of a set beside the real-music set's.

    Returns:
        {"real_set": StimulusSet | None, "n_pieces": int, "n_real": int,
         "rows": [{"metric", "label", "value", "real"}] (means over clips, None where undefined),
         "overlap_area", "kl_divergence": mean over features of the Yang & Lerch comparison against the
         real set (None without a real set or with fewer than two clips on either side)}
    """
    pieces = stimulus_set_pieces(stimulus_set=stimulus_set)
    real_set = (
        None
        if stimulus_set.source == StimulusSet.Source.REAL
        else real_music_set_for(stimulus_set=stimulus_set)
    )
    real = stimulus_set_pieces(stimulus_set=real_set) if real_set else []
    frame, real_frame = sets.metrics_frame(pieces), sets.metrics_frame(real)
    rows = [
        {"metric": m, "label": METRIC_LABELS[m], "value": _value(frame, m), "real": _value(real_frame, m)}
        for m in symbolic.SCALAR_METRICS
    ]
    overlap = divergence = None
    if len(pieces) >= 2 and len(real) >= 2:
        comparison = sets.compare_sets(pieces, real)
        overlap = float(comparison["overlap_area"].mean())
        divergence = float(comparison["kl_divergence"].mean())
    return {
        "real_set": real_set,
        "n_pieces": len(pieces),
        "n_real": len(real),
        "rows": rows,
        "overlap_area": overlap,
        "kl_divergence": divergence,
    }
