"""Melodies from a trained network for a given chord progression, and the MIDI they make.

    chords = parse_progression("Dm | Bb | F | C", beats_per_bar=4)   # one bar each, 16th grid
    chords = fill_to_seconds(chords, seconds=45, tempo_bpm=70, beats_per_bar=4)
    melody = sample_melody(load_model("proposed"), chords, seed=7)             # DEFAULT_SAMPLING
    melody = sample_melody(model, chords, sampling=Sampling(temperature=0.9, top_p=1.0), seed=7)
    midi = melody_to_midi(melody, chords, tempo_bpm=70)

Masking (base.constrain_logits): pitches 128-152 are never emitted, nor a hold at step 0 or after a rest.
On top of it every family draws under the same `Sampling`: temperature, nucleus (top-p), and limits on
rest runs, on a clip's total rest and on how long one note lasts (base.RunLimiter), so that no melody
goes silent or stalls on one note for bars.

A network trained with the bar position (its config's `bar_position`) is told, at every step, how far
into the bar it is: a progression here starts on a downbeat and its bars last `beats_per_bar` beats.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pretty_midi
import torch

from generation.music.encoding import (
    NO_CHORD,
    STEPS_PER_BEAT,
    bar_positions,
    is_no_chord_symbol,
    parse_chord,
)
from generation.music.midi import melody_to_midi
from generation.nets.base import MelodyModel, SamplingRules
from generation.stimuli import SAMPLING_TEMPERATURE, SAMPLING_TOP_P, clip_steps, loop_to_steps


def parse_chord_strict(symbol: str) -> int:
    """parse_chord, but a symbol that is neither a chord nor an explicit no-chord ("NC", "-", ...) is an error."""
    index = parse_chord(symbol)
    if index == NO_CHORD and not is_no_chord_symbol(symbol):
        raise ValueError(f"unrecognised chord symbol {symbol!r} (write e.g. C, Am, F#m7, Bb/D or NC)")
    return index


def parse_progression(
    text: str, *, beats_per_bar: int = 4, steps_per_beat: int = STEPS_PER_BEAT
) -> np.ndarray:
    """A chord string -> (T,) chord indices on the grid.

    Bars are separated by "|"; several chords in one bar ("C G | Am F") share it evenly, on beat
    boundaries when the count divides the bar. "Dm | Bb | F | C" in 4/4 is 4 bars of 16 steps.
    """
    bars = [bar.split() for bar in text.strip().strip("|").split("|")]
    if not text.strip() or any(not bar for bar in bars):
        raise ValueError(
            f"empty bar in progression {text!r}: write chords between the bars, e.g. 'Dm | Bb | F | C'"
        )
    bar_steps = beats_per_bar * steps_per_beat
    out = []
    for bar in bars:
        edges = [round(i * bar_steps / len(bar)) for i in range(len(bar) + 1)]
        if bar_steps % len(bar) == 0 and beats_per_bar % len(bar) == 0:
            edges = [i * bar_steps // len(bar) for i in range(len(bar) + 1)]
        for symbol, start, end in zip(bar, edges[:-1], edges[1:]):
            out.extend([parse_chord_strict(symbol)] * (end - start))
    return np.array(out, dtype=np.int64)


def fill_to_seconds(
    chords: np.ndarray, *, seconds: float, tempo_bpm: float, beats_per_bar: int = 4
) -> np.ndarray:
    """Repeat a progression over the whole bars that fit in `seconds`, cutting the last repeat.

    A cue must fit its scene: it ends on the last bar line at or before the requested length, as
    rendered clips and stimuli do (`stimuli.clip_steps`), rather than running past the picture cut.
    """
    steps = clip_steps(seconds, tempo_bpm=tempo_bpm, beats_per_bar=beats_per_bar)
    return loop_to_steps(np.asarray(chords), steps)


@dataclass(frozen=True)
class Sampling:
    """How melodies are drawn from any network; the same for every family, recorded with every stimulus.

    The defaults (DEFAULT_SAMPLING) were chosen on the validation split, never on held-out items:
    `python manage.py evaluate sampling` prints the grid it compared and the choice.
    """

    temperature: float = SAMPLING_TEMPERATURE
    top_p: float = SAMPLING_TOP_P  # nucleus sampling; 1 keeps every token
    max_rest_bars: float | None = 1.0  # longest run of rest; true chorale sopranos rest <= 3 beats
    max_note_bars: float | None = 1.0  # longest note (onset + holds): a whole note in 4/4
    max_rest_share: float | None = 0.5  # of a clip: no clip is mostly silence

    def rules(self, beats_per_bar: int = 4) -> SamplingRules:
        """The limits in steps for a bar of `beats_per_bar` beats."""
        bar = beats_per_bar * STEPS_PER_BEAT
        return SamplingRules(
            top_p=self.top_p,
            max_rest_run=None if self.max_rest_bars is None else max(1, round(self.max_rest_bars * bar)),
            max_note_steps=None if self.max_note_bars is None else max(1, round(self.max_note_bars * bar)),
            max_rest_share=self.max_rest_share,
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict | None) -> Sampling:
        """A Sampling from a stimulus set's parameters; missing fields take DEFAULT_SAMPLING's."""
        return cls(**{**DEFAULT_SAMPLING.to_dict(), **(values or {})})


DEFAULT_SAMPLING = Sampling()
# The network alone: what every model drew before the limits and the nucleus existed.
UNCONSTRAINED = Sampling(
    temperature=1.0, top_p=1.0, max_rest_bars=None, max_note_bars=None, max_rest_share=None
)


def sample_melody(
    model: MelodyModel,
    chords: np.ndarray,
    *,
    temperature: float | None = None,
    seed: int = 0,
    prime: np.ndarray | None = None,
    sampling: Sampling | None = None,
    beats_per_bar: int = 4,
) -> np.ndarray:
    """A melody over `chords` ((T,) indices) -> (T,) tokens; the same seed gives the same melody.

    `sampling` defaults to DEFAULT_SAMPLING; `temperature`, when given, overrides its temperature.
    `prime` forces the first tokens (to continue an existing melody); models that cannot be primed
    refuse it with a TypeError. A model conditioned on the bar position gets it from `beats_per_bar`,
    step 0 being a downbeat (`encoding.bar_positions`).
    """
    sampling = sampling or DEFAULT_SAMPLING
    if temperature is not None:
        sampling = Sampling(**{**sampling.to_dict(), "temperature": float(temperature)})
    generator = torch.Generator().manual_seed(int(seed))
    kwargs = {
        "temperature": sampling.temperature,
        "generator": generator,
        "rules": sampling.rules(beats_per_bar),
    }
    if prime is not None:
        kwargs["prime"] = torch.as_tensor(np.asarray(prime), dtype=torch.long)
    if getattr(model.config, "bar_position", False):
        kwargs["position"] = torch.from_numpy(bar_positions(len(chords), beats_per_bar=beats_per_bar))
    tokens = model.generate(torch.as_tensor(np.asarray(chords), dtype=torch.long), **kwargs)
    return tokens.cpu().numpy().astype(np.int64)


@dataclass
class Cue:
    melody: np.ndarray  # (T,) tokens
    chords: np.ndarray  # (T,) chord indices
    midi: pretty_midi.PrettyMIDI
    tempo_bpm: float
    seconds: float  # the length of the grid: whole bars covering the requested seconds


def compose_cue(
    model: MelodyModel,
    chords_text: str,
    *,
    seconds: float,
    tempo_bpm: float,
    beats_per_bar: int = 4,
    temperature: float | None = None,
    seed: int = 0,
    sampling: Sampling | None = None,
    accompaniment: str = "block",
    key: str | None = None,
    melody_program: int = 0,
    chord_program: int = 48,
) -> Cue:
    """One cue for a scene: the progression repeated over `seconds`, a sampled melody, its MIDI."""
    chords = fill_to_seconds(
        parse_progression(chords_text, beats_per_bar=beats_per_bar),
        seconds=seconds,
        tempo_bpm=tempo_bpm,
        beats_per_bar=beats_per_bar,
    )
    melody = sample_melody(
        model, chords, temperature=temperature, seed=seed, sampling=sampling, beats_per_bar=beats_per_bar
    )
    midi = melody_to_midi(
        melody,
        chords,
        tempo_bpm=tempo_bpm,
        beats_per_bar=beats_per_bar,
        accompaniment=accompaniment,
        key=key,
        melody_program=melody_program,
        chord_program=chord_program,
    )
    return Cue(melody, chords, midi, tempo_bpm, len(chords) / STEPS_PER_BEAT * 60.0 / tempo_bpm)
