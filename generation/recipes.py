"""The one training recipe: a variant's preset -> its network and TrainConfig -> its batches -> the loop.

    config = train_config("proposed", "small", steps=1000)
    result = train_variant("proposed", preset="small", corpus="chorales", config=config,
                           out=var_dir() / "checkpoints" / "proposed-small", command="...")

Every caller trains this way: the `train` command, `train_pretrained` (every committed melody
checkpoint on one budget, `budget_config`) and the experiments that train the step checkpoints they miss
(generation/evaluation/experiments.py), so that every checkpoint's sidecar records the same fields
(preset, corpus, split, seed, command, budget) whoever made it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from generation.checkpoints import (
    CheckpointError,
    checkpoint_paths,
    load_model,
    resolve_checkpoint,
    sha256_file,
)
from generation.datasets import batches_for, split_rule_for
from generation.nets.base import TrainableModel, get_variant
from generation.training import TrainConfig, TrainResult, train


def train_config(variant: str, preset: str, **overrides: Any) -> TrainConfig:
    """TrainConfig's defaults, then what the preset recommends (the variant's `Config.TRAINING`), then
    `overrides` (TrainConfig fields)."""
    cls = get_variant(variant)
    settings = {**TrainConfig().to_dict(), **cls.Config.training_preset(preset), **overrides}
    settings["checkpoint_steps"] = tuple(settings["checkpoint_steps"])
    return TrainConfig(**settings)


# The melody checkpoints committed in generation/pretrained (separation is trained on its own data).
PRETRAINED_VARIANTS = ("proposed", "unilstm", "gru", "rnn", "lstm1", "wavenet", "bilstm", "ec2vae", "vded")


@dataclass(frozen=True)
class Budget:
    """One training budget for every family, in examples seen rather than steps (batches differ).

    An example is what one row of a family's batch holds: a 100-step window starting on a downbeat for
    the step models (the recurrent ones, WaveNet, EC2-VAE and VD-ED), one event and its context since a
    downbeat for the Bi-LSTM (generation.datasets).
    """

    examples: int = 32_000  # train at most this many examples (patience may stop a run sooner)
    validate_examples: int = 1_600  # validate after every this many examples
    patience: int | None = 5  # validations in a row without a new best before stopping (None: never)

    def __post_init__(self):
        if self.examples < 1 or self.validate_examples < 1:
            raise ValueError("a budget needs at least one example and one example between validations")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be at least 1 validation, not {self.patience}")


def budget_config(variant: str, preset: str, budget: Budget, **overrides: Any) -> TrainConfig:
    """`train_config` on `budget`: steps and validation interval from examples at the preset's batch,
    patience, keep-best, no extra step checkpoints."""
    config = train_config(variant, preset, checkpoint_steps=(), **overrides)
    validate_every = max(1, round(budget.validate_examples / config.batch_size))
    return dataclasses.replace(
        config,
        steps=math.ceil(budget.examples / config.batch_size),
        validate_every=validate_every,
        save_every=validate_every,
        patience=budget.patience,
        keep_best=True,
    )


def train_variant(
    variant: str,
    *,
    preset: str,
    corpus: str,
    config: TrainConfig,
    out: Path,
    command: str,
    validate: bool = True,
    progress: bool = True,
    model_options: dict[str, Any] | None = None,
    init_from: str | Path | None = None,
) -> TrainResult:
    """Build `variant` at `preset` (torch seeded with config.seed), train it on `corpus`, save it at `out`.

    Args:
        variant: a registered variant key.
        preset: "tiny", "small" or "paper": the network's size.
        corpus: what `generation.datasets.batches_for` reads ("chorales", "chorales:N", a folder, ...).
        config: the loop's settings (see `train_config`); its seed seeds the init and the batches.
        out: checkpoint stem (see `generation.training.train`).
        command: how to make this checkpoint again, recorded in the sidecar.
        validate: compute the validation loss on the corpus's validation split every
            `config.validate_every` steps (its batches are made once, up front).
        progress: show the loop's progress bar.
        model_options: fields of the network's Config set over the preset's, e.g.
            {"bar_position": True} (recorded in the sidecar's config like every other field).
        init_from: fine-tune: a checkpoint (path, stem or variant key) of the same variant and config
            whose weights replace the fresh init; the optimizer and the schedule start anew at step 0.
            The sidecar records it ("init_from": path and sha256). A resumed run (config.resume with a
            checkpoint at `out`) continues from `out` instead.

    Raises:
        UnknownVariantError: `variant` is not registered.
        CorpusError, CheckpointError, ValueError: bad corpus, unusable checkpoint to resume, bad settings.
    """
    cls = get_variant(variant)
    torch.manual_seed(config.seed)
    model = cls(cls.Config.preset(preset, **(model_options or {})))
    origin = _initialise_from(model, init_from) if init_from is not None else None

    def batches(split: str):
        return batches_for(
            cls.variant,
            corpus,
            split=split,
            batch_size=config.batch_size,
            seed=config.seed,
            config=model.config,
        )

    train_batches = batches("train")
    validation = list(batches("validation")) if validate else None
    return train(
        model,
        train_batches,
        validation_batches=(lambda: validation) if validate else None,
        config=config,
        out=Path(out),
        progress=progress,
        extra={
            "preset": preset,
            "corpus": corpus,
            "split": split_rule_for(cls.variant),
            "seed": config.seed,
            "command": command,
            **({"init_from": origin} if origin is not None else {}),
        },
    )


def _initialise_from(model: TrainableModel, init_from: str | Path) -> dict[str, str]:
    """Load a checkpoint's weights into `model` (same variant and config) -> its path and sha256.

    Raises:
        CheckpointError: unreadable, another variant, or another config (sizes, rate, ...).
    """
    source = load_model(init_from)
    if source.variant != model.variant:
        raise CheckpointError(
            f"--init-from {init_from} is a {source.variant!r} checkpoint, not a {model.variant!r} one"
        )
    if source.config.to_dict() != model.config.to_dict():
        theirs, ours = source.config.to_dict(), model.config.to_dict()
        differ = sorted(key for key in set(theirs) | set(ours) if theirs.get(key) != ours.get(key))
        raise CheckpointError(
            f"--init-from {init_from} has another config than the {model.variant} network to train "
            f"({', '.join(f'{key}: {theirs.get(key)!r} vs {ours.get(key)!r}' for key in differ)}); "
            "pick the preset it was trained with"
        )
    model.load_state_dict(source.state_dict())  # copies into the fresh float32 tensors (a float16 file too)
    weights, _ = checkpoint_paths(resolve_checkpoint(init_from) if isinstance(init_from, str) else init_from)
    return {"checkpoint": str(init_from), "weights_sha256": sha256_file(weights)}
