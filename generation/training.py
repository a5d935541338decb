"""The one training loop, for every registered network (melody models, control models, separation).

    result = train(model, train_batches, validation_batches=make_val, config=TrainConfig(steps=1000), out=path)

RMSProp at 5e-4 with a staircase exponential decay every 100 steps (the paper's schedule), gradient
clipping, a tqdm bar, validation on held-out pieces, the loss at every step kept in the sidecar (so the
paper's 500 / 1000 / 2000-iteration comparisons can be drawn later), checkpoints at chosen steps and
at the end, and exact resumption: the loop saves optimizer and RNG state beside `out` and, on
resume, skips the batches it already consumed, so an interrupted run ends where an uninterrupted
one would have.

Validation-based stopping (`patience`, `keep_best`): the run stops once `patience` validations in a row
failed to beat the best validation loss by `min_delta`, and with `keep_best` the checkpoint saved at
`out` holds the weights of the best validation step, not the last. The sidecar's "budget" records what
was spent: examples seen (steps x batch), steps run of the planned, best step and loss, wall seconds
and why the run stopped.
"""

from __future__ import annotations

import dataclasses
import math
import time
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
    # Validation-based stopping: stop after this many validations in a row without a new best (None:
    # run every step). Counted in validations, so its reach in examples is patience x validate_every x batch.
    patience: int | None = None
    min_delta: float = 0.0  # a validation loss must beat the best by more than this to count as better
    keep_best: bool = False  # save the weights of the best validation step at `out`, not the last step's

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
    best_step: int | None = None  # the step of the best validation loss (what `out` holds with keep_best)
    stop_reason: str = "budget"  # "budget" (every planned step ran) or "patience" (stopped early)
    wall_seconds: float = 0.0  # time inside the loop, summed over resumed parts

    @property
    def final_validation_loss(self) -> float | None:
        """The validation loss of the saved weights: the best step's with keep_best, else the last."""
        if self.best_step is not None:
            return dict(self.validation_losses)[self.best_step]
        return self.validation_losses[-1][1] if self.validation_losses else None


def best_validation(
    validation_losses: list[tuple[int, float]], min_delta: float = 0.0
) -> tuple[int | None, int]:
    """The best validation step and how many validations since it failed to beat it by `min_delta`.

    Returns:
        (best step or None when there was no validation, validations after the best one).
    """
    best_step, best, since = None, math.inf, 0
    for step, loss in validation_losses:
        if loss < best - min_delta:
            best_step, best, since = step, loss, 0
        else:
            since += 1
    return best_step, since


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
    """Train `model` for `config.steps` steps (fewer when `config.patience` stops it), saving to `out`.

    Args:
        model: a registered network, freshly built (its init seeded by the caller).
        train_batches: an endless iterable of batches (dicts of tensors); deterministic for a seed.
        validation_batches: makes one finite pass of held-out batches, or None.
        config: the loop's settings.
        out: checkpoint stem; `<out>.safetensors` + `<out>.json` at the end (the best validation
            step's weights with `config.keep_best`), `<out>-step<N>` at the checkpoint steps, the
            resume state beside it (and `<out>-best` while a keep_best run is open).
        progress: show a tqdm bar.
        extra: more sidecar fields (corpus, split, seed, command, preset, ...).

    Returns:
        The trained model (train mode off; the saved weights), the final weights path, the loss
        history, the best step (keep_best), why it stopped and the wall seconds.

    Raises:
        ValueError: patience below 1, or patience / keep_best without validation batches.
        FloatingPointError: the loss stopped being finite.
    """
    out = Path(out)
    device = pick_device(config.device)
    if config.patience is not None and config.patience < 1:
        raise ValueError(f"patience must be at least 1 validation (or None), not {config.patience}")
    if (config.patience is not None or config.keep_best) and validation_batches is None:
        raise ValueError("patience and keep_best need validation batches to judge the steps by")
    torch.manual_seed(config.seed)
    model.to(device)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=config.learning_rate)
    train_losses: list[float] = []
    validation_losses: list[tuple[int, float]] = []
    start, wall_before, stop_reason = 0, 0.0, None
    best_path = out.with_name(f"{out.name}-best")  # the best weights so far, kept only while a run is open
    best_state: dict[str, Tensor] | None = None
    weights, _ = checkpoint_paths(out)
    if config.resume and weights.exists():
        restored = validate_checkpoint(weights, read_sidecar(weights))
        model.load_state_dict(restored.state_dict())
        # An interrupted keep_best run left its best weights at best_path; a finished one holds them at
        # `out` itself, so extending a finished run continues from its best step. (Read before the RNG
        # state is restored: rebuilding a network draws from it.)
        if config.keep_best and checkpoint_paths(best_path)[0].exists():
            best_state = validate_checkpoint(
                checkpoint_paths(best_path)[0], read_sidecar(best_path)
            ).state_dict()
        info = load_training_state(out, optimizer=optimizer)
        start = int(info["step"])
        train_losses = list(info["train_losses"])
        validation_losses = [tuple(pair) for pair in info["validation_losses"]]
        wall_before = float(info.get("wall_seconds", 0.0))
        # A run that patience stopped stays stopped; one that spent its budget goes on to a larger one.
        since_best = best_validation(validation_losses, config.min_delta)[1]
        if config.patience is not None and since_best >= config.patience and start < config.steps:
            stop_reason = "patience"
    iterator: Iterator[dict[str, Tensor]] = iter(train_batches)
    for _ in range(start):  # the data a resumed run already saw
        next(iterator)
    began = time.perf_counter()

    def wall_seconds() -> float:
        return wall_before + time.perf_counter() - began

    def sidecar_extra(step: int, *, saved_step: int) -> dict[str, Any]:
        seen = [(s, v) for s, v in validation_losses if s <= step]
        best_step, _ = best_validation(seen, config.min_delta)
        return {
            **(extra or {}),
            "steps": step,
            "training": config.to_dict(),
            "losses": {
                "train": [round(x, 5) for x in train_losses[:step]],
                "validation": [[s, round(v, 5)] for s, v in seen],
            },
            # the validation loss of the weights in this file
            "final_validation_loss": dict(seen).get(saved_step, seen[-1][1] if seen else None),
            "budget": {
                "examples": config.steps * config.batch_size,
                "examples_seen": step * config.batch_size,
                "steps_planned": config.steps,
                "steps_run": step,
                "batch_size": config.batch_size,
                "saved_step": saved_step,
                "best_step": best_step,
                "best_validation_loss": dict(seen).get(best_step) if best_step is not None else None,
                "wall_seconds": round(wall_seconds(), 1),
                "stop_reason": stop_reason,
            },
        }

    def save(path: Path, step: int, *, resumable: bool, saved_step: int | None = None) -> Path:
        written = save_checkpoint(model, path, extra=sidecar_extra(step, saved_step=saved_step or step))
        if resumable:
            save_training_state(
                path,
                optimizer=optimizer,
                info={
                    "step": step,
                    "train_losses": train_losses,
                    "validation_losses": validation_losses,
                    "wall_seconds": wall_seconds(),
                    "stop_reason": stop_reason,
                },
            )
        return written

    def keep(step: int) -> None:
        """Remember the weights of a new best step, in memory and (for --resume) at `best_path`."""
        nonlocal best_state
        best_state = {name: value.detach().clone() for name, value in model.state_dict().items()}
        save(best_path, step, resumable=False)

    model.train()
    step = start
    bar = tqdm(
        total=config.steps, initial=start, disable=not progress, desc=f"train {model.variant}", unit="step"
    )
    while stop_reason is None and step < config.steps:
        step += 1
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
            best_step, since = best_validation(validation_losses, config.min_delta)
            if best_step == step and config.keep_best:
                keep(step)
            if config.patience is not None and since >= config.patience and step < config.steps:
                stop_reason = "patience"  # only when it saves steps: a run that spent its budget says so
        if validation_losses:
            postfix["val"] = f"{validation_losses[-1][1]:.3f}"
        bar.set_postfix(postfix)
        bar.update(1)
        if step in config.checkpoint_steps and step != config.steps:
            save(out.with_name(f"{out.name}-step{step}"), step, resumable=False)
        if step % config.save_every == 0 and step != config.steps and stop_reason is None:
            save(out, step, resumable=True)
    bar.close()
    if stop_reason is None:
        stop_reason = "budget"
    model.eval()
    if config.steps in config.checkpoint_steps and step == config.steps and step > start:
        save(out.with_name(f"{out.name}-step{step}"), step, resumable=False)  # the last step's own weights
    best_step, _ = best_validation(validation_losses, config.min_delta)
    if config.keep_best and best_step is not None:
        if best_state is not None:
            model.load_state_dict(best_state)
        path = save(out, step, resumable=True, saved_step=best_step)
    else:
        best_step = None
        path = save(out, step, resumable=True)
    for leftover in checkpoint_paths(best_path):
        leftover.unlink(missing_ok=True)
    return TrainResult(
        model=model,
        path=path,
        steps=step,
        train_losses=train_losses,
        validation_losses=validation_losses,
        best_step=best_step,
        stop_reason=stop_reason,
        wall_seconds=wall_seconds(),
    )
