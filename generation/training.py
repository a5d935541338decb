"""The one training loop, for every registered network (melody models, control models, separation).

    result = train(model, train_batches, validation_batches=make_val, config=TrainConfig(steps=1000), out=path)

RMSProp at 5e-4 with a staircase exponential decay every 100 steps (the paper's schedule), gradient
clipping, a tqdm bar, validation on held-out pieces, the loss at every step kept in the sidecar (so the
paper's 500 / 1000 / 2000-iteration comparisons can be drawn later), checkpoints at chosen steps and
at the end, and exact resumption: the loop saves optimizer and RNG state beside `out` and, on
resume, skips the batches it already consumed, so an interrupted run ends where an uninterrupted
one would have.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from generation.checkpoints import (
    checkpoint_paths,
    load_training_state,
    read_sidecar,
    save_checkpoint,
    save_training_state,
    validate_checkpoint,
)
from generation.nets.base import TrainableModel


@dataclass
class TrainConfig:
    steps: int = 2000  # the paper's longest comparison (500 / 1000 / 2000 iterations)
    batch_size: int = 512  # the paper's batch_size; the command builds batches with it, the loop records it
    learning_rate: float = 5e-4  # the paper's RMSProp learning rate
    lr_decay: float = 0.96  # multiplied in every `decay_every` steps ("exponential decay every 100 steps")
    decay_every: int = 100
    grad_clip: float = 1.0  # max global grad norm: recurrent stacks of 7 layers spike without it
    validate_every: int = 100  # validation loss on held-out pieces this often (and at the end)
    save_every: int = 500  # the resumable checkpoint at `out` is refreshed this often
    checkpoint_steps: tuple[int, ...] = (500, 1000, 2000)  # extra checkpoints `<out>-step<N>`
    seed: int = 0  # seeds dropout and anything else random inside the loop
    device: str = "auto"  # "auto" = CUDA when present, else CPU
    resume: bool = False  # continue from the checkpoint at `out` if there is one

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["checkpoint_steps"] = list(self.checkpoint_steps)
        return values


@dataclass
class TrainResult:
    model: TrainableModel
    path: Path  # the final weights file
    steps: int
    train_losses: list[float] = field(default_factory=list)  # one per step, from step 1
    validation_losses: list[tuple[int, float]] = field(default_factory=list)  # (step, loss)

    @property
    def final_validation_loss(self) -> float | None:
        return self.validation_losses[-1][1] if self.validation_losses else None


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch sees no CUDA device")
    return torch.device(name)


def _to(batch: dict[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    return {key: value.to(device) if torch.is_tensor(value) else value for key, value in batch.items()}


def _batch_size(batch: dict[str, Tensor]) -> int:
    first = next((v for v in batch.values() if torch.is_tensor(v)), None)
    return int(first.shape[0]) if first is not None and first.dim() else 1


@torch.no_grad()
def evaluate(model: TrainableModel, batches: Iterable[dict[str, Tensor]], device: torch.device) -> float:
    """Mean `training_loss` over one pass of `batches`, weighted by batch size, in eval mode."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for batch in batches:
        loss, _ = model.training_loss(_to(batch, device))
        size = _batch_size(batch)
        total += float(loss) * size
        count += size
    model.train(was_training)
    if count == 0:
        raise ValueError("the validation split gave no batches")
    return total / count


def train(
    model: TrainableModel,
    train_batches: Iterable[dict[str, Tensor]],
    *,
    validation_batches: Callable[[], Iterable[dict[str, Tensor]]] | None,
    config: TrainConfig,
    out: Path,
    progress: bool = True,
    extra: dict[str, Any] | None = None,
) -> TrainResult:
    """Train `model` for `config.steps` steps, saving to `out` (a checkpoint stem).

    Args:
        model: a registered network, freshly built (its init seeded by the caller).
        train_batches: an endless iterable of batches (dicts of tensors); deterministic for a seed.
        validation_batches: makes one finite pass of held-out batches, or None.
        config: the loop's settings.
        out: checkpoint stem; `<out>.safetensors` + `<out>.json` at the end, `<out>-step<N>` at the
            checkpoint steps, the resume state beside it.
        progress: show a tqdm bar.
        extra: more sidecar fields (corpus, split, seed, command, preset, ...).

    Returns:
        The trained model (train mode off), the final weights path and the loss history.
    """
    out = Path(out)
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    model.to(device)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=config.learning_rate)
    train_losses: list[float] = []
    validation_losses: list[tuple[int, float]] = []
    start = 0
    weights, _ = checkpoint_paths(out)
    if config.resume and weights.exists():
        restored = validate_checkpoint(weights, read_sidecar(weights))
        model.load_state_dict(restored.state_dict())
        info = load_training_state(out, optimizer=optimizer)
        start = int(info["step"])
        train_losses = list(info["train_losses"])
        validation_losses = [tuple(pair) for pair in info["validation_losses"]]
    iterator: Iterator[dict[str, Tensor]] = iter(train_batches)
    for _ in range(start):  # the data a resumed run already saw
        next(iterator)

    def sidecar_extra(step: int) -> dict[str, Any]:
        return {
            **(extra or {}),
            "steps": step,
            "training": config.to_dict(),
            "losses": {
                "train": [round(x, 5) for x in train_losses[:step]],
                "validation": [[s, round(v, 5)] for s, v in validation_losses if s <= step],
            },
            "final_validation_loss": next((v for s, v in reversed(validation_losses) if s <= step), None),
        }

    def save(path: Path, step: int, *, resumable: bool) -> Path:
        written = save_checkpoint(model, path, extra=sidecar_extra(step))
        if resumable:
            save_training_state(
                path,
                optimizer=optimizer,
                info={"step": step, "train_losses": train_losses, "validation_losses": validation_losses},
            )
        return written

    model.train()
    bar = tqdm(
        total=config.steps, initial=start, disable=not progress, desc=f"train {model.variant}", unit="step"
    )
    for step in range(start + 1, config.steps + 1):
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate * config.lr_decay ** ((step - 1) // config.decay_every)
        batch = _to(next(iterator), device)
        model.train_step = step
        loss, metrics = model.training_loss(batch)
        value = loss.item()
        if not math.isfinite(value):
            raise FloatingPointError(f"the loss became {value} at step {step}; lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        train_losses.append(value)
        postfix = {"loss": f"{value:.3f}"}
        if validation_batches is not None and (step % config.validate_every == 0 or step == config.steps):
            validation_losses.append((step, evaluate(model, validation_batches(), device)))
        if validation_losses:
            postfix["val"] = f"{validation_losses[-1][1]:.3f}"
        bar.set_postfix(postfix)
        bar.update(1)
        if step in config.checkpoint_steps and step != config.steps:
            save(out.with_name(f"{out.name}-step{step}"), step, resumable=False)
        if step % config.save_every == 0 and step != config.steps:
            save(out, step, resumable=True)
    bar.close()
    model.eval()
    path = save(out, config.steps, resumable=True)
    if config.steps in config.checkpoint_steps:
        save(out.with_name(f"{out.name}-step{config.steps}"), config.steps, resumable=False)
    return TrainResult(
        model=model,
        path=path,
        steps=config.steps,
        train_losses=train_losses,
        validation_losses=validation_losses,
    )
