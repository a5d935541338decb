"""How each network's training data is made: its batches from a corpus and the rule that splits it.

The networks (generation/nets) hold only modules; what they are fed is chosen here, by variant key:

    melody models     {"melody", "chords"} (B, T) windows of a chord-annotated corpus
                      (generation.music.corpus.melody_batches)
    bilstm            {"tokens"} (B, window + 1) event windows of the same corpus (below)
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
from generation.music.tokens import piece_to_events
from generation.nets.base import MelodyModel, ModelConfig, get_variant
from generation.nets.bilstm import event_windows
from generation.separation import stems

Batches = Iterator[dict[str, Tensor]]


def melody_batches(corpus: str, *, split: str, batch_size: int, seed: int, config: ModelConfig) -> Batches:
    """Melody/chord windows of `config.segment_steps` steps (100 when the config has none)."""
    return melody_corpus.melody_batches(
        melody_corpus.load_corpus(
            corpus, progress=True
        ),  # the bar shows only while a corpus is first encoded
        split=split,
        batch_size=batch_size,
        seed=seed,
        segment_steps=getattr(config, "segment_steps", 100),
    )


def event_batches(corpus: str, *, split: str, batch_size: int, seed: int, config: ModelConfig) -> Batches:
    """Bi-LSTM event windows of a corpus split: endless shuffled epochs for "train", one pass otherwise.

    Yields:
        {"tokens": (batch_size, window + 1) int64}, the last batch of a pass may be smaller.
    """
    pieces = melody_corpus.load_corpus(corpus).split(split)
    rows = event_windows([piece_to_events(p.melody, p.chords) for p in pieces], config.window)
    if len(rows) == 0:
        raise ValueError(f"the {split} split of {corpus!r} has no note events")
    return _iterate_rows(rows, batch_size=batch_size, seed=seed, endless=split == "train")


def _iterate_rows(rows: np.ndarray, *, batch_size: int, seed: int, endless: bool) -> Batches:
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(rows)) if endless else np.arange(len(rows))
        for start in range(0, len(order), batch_size):
            yield {"tokens": torch.from_numpy(rows[order[start : start + batch_size]])}
        if not endless:
            return


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
    return make(corpus, split=split, batch_size=batch_size, seed=seed, config=config)


def split_rule_for(variant: str) -> str:
    """How `batches_for` splits the data of `variant`, in words (a checkpoint sidecar's "split")."""
    return _pipeline(variant)[1]
