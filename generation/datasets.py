"""How each network's training data is made: its batches from a corpus and the rule that splits it.

The networks (generation/nets) hold only modules; what they are fed is chosen here, by variant key:

    melody models     {"melody", "chords"} (B, T) windows of a chord-annotated corpus
                      (generation.music.corpus.melody_batches)
    bilstm            {"tokens"} (B, window + 1) event windows of the same corpus, from the same
                      downbeat starts, transposed the same way (event_batches)
    separation        {"mixture", "sources"} rendered multitrack segments
                      (generation.separation.stems.multitrack_batches)

    batches = batches_for("proposed", "chorales", split="train", batch_size=64, seed=0, config=config)
    rule = split_rule_for("proposed")  # the split in words, recorded in every checkpoint's sidecar

"train" gives an endless, seeded stream; any other split one finite pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from generation.music import corpus as melody_corpus
from generation.music.encoding import HOLD, MIDI_PITCHES, REST, transpose
from generation.music.tokens import PAD_TOKEN, piece_to_events
from generation.nets.base import MelodyModel, ModelConfig, get_variant
from generation.separation import stems

Batches = Iterator[dict[str, Tensor]]


def melody_batches(corpus: str, *, split: str, batch_size: int, seed: int, config: ModelConfig) -> Batches:
    """Melody/chord windows of `config.segment_steps` steps (100 when the config has none), with their
    bar positions when the config's `bar_position` is on (and only then: the default batches are the
    paper's melody and chords alone)."""
    return melody_corpus.melody_batches(
        melody_corpus.load_corpus(
            corpus, progress=True
        ),  # the bar shows only while a corpus is first encoded
        split=split,
        batch_size=batch_size,
        seed=seed,
        segment_steps=getattr(config, "segment_steps", 100),
        bar_position=bool(getattr(config, "bar_position", False)),
    )


def event_batches(corpus: str, *, split: str, batch_size: int, seed: int, config: ModelConfig) -> Batches:
    """Bi-LSTM event windows of a corpus split, made from the same windows the melody models see.

    One example (row) is the next event given the events before it since a bar start: the context
    starts on a downbeat at or after the piece's 9th note (`melody_corpus.window_starts`, the melody
    models' window starts) and is padded with PAD_TOKEN on the left, as generation starts from an
    empty context on a downbeat; the event to predict is one of the first `config.window` after it.
    "train": endless rows, each from a start drawn like the melody models' (pieces in proportion to
    their starts), transposed to one of 12 keys by the melody models' rule (`key_shift`), the event
    drawn uniformly; deterministic for `seed`. Any other split: one pass in the original key, from each
    piece's first start, every `VALIDATION_EVENT_STRIDE`-th event.

    Yields:
        {"tokens": (batch_size, window + 1) int64}, the last batch of a pass may be smaller.

    Raises:
        ValueError: the split has no note events after a bar start.
    """
    segment = getattr(config, "segment_steps", 100)
    prepared = []
    for piece in melody_corpus.load_corpus(corpus).split(split):
        starts = _sounding_starts(piece.melody, melody_corpus.window_starts(piece, segment))
        if len(starts):
            prepared.append((piece.melody, piece.chords, starts))
    if not prepared:
        raise ValueError(f"the {split} split of {corpus!r} has no note events after a bar start")
    if split == "train":
        return _train_event_rows(prepared, batch_size=batch_size, seed=seed, window=config.window)
    rows = np.concatenate(
        [
            _context_rows(_events_from(melody, chords, int(starts[0])), config.window)[
                ::VALIDATION_EVENT_STRIDE
            ]
            for melody, chords, starts in prepared
        ]
    )
    return (
        {"tokens": torch.from_numpy(rows[at : at + batch_size])} for at in range(0, len(rows), batch_size)
    )


# Validation rows cost a 100-event pass each: every 4th event of the 37 validation chorales from their
# first downbeat is 388 rows (about 12 training steps' worth of forward passes), every event four times that.
VALIDATION_EVENT_STRIDE = 4


def key_shift(rng: np.random.Generator, melody: np.ndarray) -> int:
    """The melody models' transposition (melody_corpus.melody_batches): a shift of -5..+6 semitones,
    0 when it would leave the MIDI range."""
    shift = int(rng.integers(-5, 7))
    pitched = melody[melody < MIDI_PITCHES]
    if len(pitched) and (pitched.min() + shift < 0 or pitched.max() + shift >= MIDI_PITCHES):
        return 0
    return shift


def _events_from(melody: np.ndarray, chords: np.ndarray, start: int) -> np.ndarray:
    """The event stream from `start` on; a note sounding into `start` is an onset there, as in the
    melody models' windows (so is the harmony: the first event is a chord token)."""
    head = melody[start:].copy()
    if len(head) and head[0] == HOLD:
        back = start
        while back > 0 and melody[back] == HOLD:
            back -= 1
        head[0] = melody[back] if melody[back] < MIDI_PITCHES else REST
    return piece_to_events(head, chords[start:])


def _sounding_starts(melody: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The starts with a note at or after them (a start in a final rest has no event to predict)."""
    onsets = np.flatnonzero(melody < MIDI_PITCHES)
    if not len(onsets):
        return starts[:0]
    return starts[(starts <= onsets[-1]) | (melody[np.minimum(starts, len(melody) - 1)] == HOLD)]


def _context_rows(events: np.ndarray, window: int) -> np.ndarray:
    """(min(N, window), window + 1): row k is PAD-padded events[:k], then events[k]."""
    count = min(len(events), window)
    padded = np.concatenate([np.full(window, PAD_TOKEN, dtype=np.int64), events[:count]])
    return np.lib.stride_tricks.sliding_window_view(padded, window + 1)[:count].copy()


def _train_event_rows(prepared, *, batch_size: int, seed: int, window: int) -> Batches:
    rng = np.random.default_rng(seed)
    counts = np.array([len(starts) for _, _, starts in prepared], dtype=float)
    probs = counts / counts.sum()
    while True:
        rows = []
        for index in rng.choice(len(prepared), size=batch_size, p=probs):
            melody, chords, starts = prepared[index]
            at = int(starts[rng.integers(0, len(starts))])
            shifted = transpose(melody, chords, key_shift(rng, melody))
            events = _events_from(*shifted, at)
            rows.append(_context_rows(events, window)[rng.integers(0, min(len(events), window))])
        yield {"tokens": torch.from_numpy(np.stack(rows))}


# A variant named here has its own pipeline; any other melody model gets `melody_batches`.
PIPELINES: dict[str, tuple[Callable[..., Batches], str]] = {
    "bilstm": (event_batches, melody_corpus.SPLIT_RULE),
    "separation": (stems.multitrack_batches, stems.SPLIT_RULE),
}


def _pipeline(variant: str) -> tuple[Callable[..., Batches], str]:
    if variant in PIPELINES:
        return PIPELINES[variant]
    if issubclass(get_variant(variant), MelodyModel):  # UnknownVariantError for an unknown key
        return melody_batches, melody_corpus.SPLIT_RULE
    raise ValueError(f"variant {variant!r} has no data pipeline; add one to generation.datasets.PIPELINES")


def batches_for(
    variant: str, corpus: str, *, split: str, batch_size: int, seed: int, config: ModelConfig
) -> Batches:
    """Batches of `corpus` for the network `variant` built with `config`.

    Args:
        variant: a registered variant key.
        corpus: a corpus name as the train command's --corpus takes it ("chorales", "chorales:N",
            a MIDI folder, a saved corpus; a MUSDB18 folder for separation).
        split: "train" (endless, seeded) or "validation" (one pass; "heldout"/"test" likewise).
        batch_size: rows per batch.
        seed: seeds the order, the windows and any augmentation of "train".
        config: the network's config (window or segment lengths come from it).

    Raises:
        UnknownVariantError: `variant` is not registered.
        CorpusError, ValueError: the corpus or its split cannot give batches (the message says why).
    """
    make, _ = _pipeline(variant)
    if getattr(config, "bar_position", False):
        make = melody_batches  # event ids carry no bar position: the Bi-LSTM then cuts the common batch
    return make(corpus, split=split, batch_size=batch_size, seed=seed, config=config)


def split_rule_for(variant: str) -> str:
    """How `batches_for` splits the data of `variant`, in words (a checkpoint sidecar's "split")."""
    return _pipeline(variant)[1]
