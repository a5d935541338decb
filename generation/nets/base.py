"""What every trainable network shares: the variant registry, configs with presets, and the
MelodyModel interface that the one training loop, the checkpoints and sampling rely on.

A network is a `TrainableModel` subclass registered under a variant key:

    @register_variant("proposed")
    class Proposed(MelodyModel):
        Config = RecurrentConfig

`training_loss(batch)` is all the training loop needs and `generate(chords)` all sampling needs; the
batches a network is fed are made in generation/datasets.py. Nothing here imports Django.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import torch
from torch import Tensor, nn

from generation.music.encoding import (
    HOLD,
    MAX_BAR_BEATS,
    MELODY_SIZE,
    MIDI_PITCHES,
    REST,
    STEPS_PER_BEAT,
)

VARIANTS: dict[str, type[TrainableModel]] = {}

PRESET_NAMES = ("tiny", "small", "paper")

# Training settings per preset of the structures the paper compares (Figure 4: the recurrent variants
# and WaveNet), one set so that the comparison is between structures, not training settings. tiny:
# seconds, for tests; small: a few minutes on 2 CPU cores (a doubled learning rate, as the paper
# advises when training must be fast); paper: the paper's batch 512, learning rate 5e-4 and 2000
# iterations, meant for a GPU.
STRUCTURE_TRAINING: dict[str, dict[str, Any]] = {
    "tiny": {"batch_size": 4, "steps": 20, "validate_every": 10, "save_every": 10, "checkpoint_steps": ()},
    "small": {
        "batch_size": 16,
        "steps": 800,
        "learning_rate": 1e-3,
        "validate_every": 100,
        "save_every": 200,
    },
    "paper": {"batch_size": 512, "steps": 2000, "validate_every": 100, "save_every": 500},
}


class UnknownVariantError(KeyError):
    """A variant key that no net module registered."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass
class ModelConfig:
    """Base of every network's config: a dataclass whose fields rebuild the network.

    Subclasses set `PRESETS` (field overrides for "tiny", "small", "paper") and `TRAINING` (TrainConfig
    overrides for the same presets: batch size, steps, ...). `preset(name)` applies the first.
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}
    TRAINING: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> Self:
        if name not in cls.PRESETS:
            raise ValueError(f"unknown preset {name!r} for {cls.__name__}; choose from {sorted(cls.PRESETS)}")
        return cls.from_dict({**cls.PRESETS[name], **overrides})

    @classmethod
    def training_preset(cls, name: str) -> dict[str, Any]:
        """TrainConfig overrides recommended with this preset (batch size, steps, ...)."""
        return dict(cls.TRAINING.get(name, {}))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Self:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{cls.__name__} has no field(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class MelodyConfig(ModelConfig):
    """Base of every melody network's config: what all of them may be conditioned on besides chords."""

    # Off: the paper's 180-dim input (melody + chord). On: the position in the bar joins the chord
    # conditioning (POSITION_SIZE = 12 inputs a step: beat and sub-beat), fed by the batches'
    # "position" and by generation.sampling. A sidecar without the field is an older checkpoint: off.
    bar_position: bool = False


def position_one_hot(position: Tensor) -> Tensor:
    """(...) steps since the bar began -> (..., 12) float: beat one-hot (8) then sub-beat one-hot (4).

    The torch twin of generation.music.encoding.position_features.
    """
    beats = (position // STEPS_PER_BEAT).clamp(max=MAX_BAR_BEATS - 1)
    return torch.cat(
        [
            nn.functional.one_hot(beats, MAX_BAR_BEATS).float(),
            nn.functional.one_hot(position % STEPS_PER_BEAT, STEPS_PER_BEAT).float(),
        ],
        dim=-1,
    )


class TrainableModel(nn.Module):
    """A network the one training loop can train and the checkpoint format can save.

    Class attributes: `variant` (the registry key, set by `register_variant`) and `Config`.
    The loop sets `self.train_step` (int) before each `training_loss` call, for losses that
    depend on the step (teacher-forcing schedules, KL annealing).
    """

    variant: ClassVar[str] = ""
    Config: ClassVar[type[ModelConfig]] = ModelConfig

    def __init__(self, config: ModelConfig):
        super().__init__()
        if not isinstance(config, self.Config):
            raise TypeError(
                f"{type(self).__name__} needs a {self.Config.__name__}, got {type(config).__name__}"
            )
        self.config = config
        self.train_step = 0

    def training_loss(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        """The scalar the loop minimises, and extra metrics (floats) to log."""
        raise NotImplementedError


class MelodyModel(TrainableModel):
    """A melody generator conditioned on a chord progression, in the 155-token vocabulary.

    Training batches are `{"melody": LongTensor (B, T), "chords": LongTensor (B, T)}` (T = 100 by
    default), plus `"position"` (B, T), the steps since the bar began, when the config's
    `bar_position` is on. A model that needs another representation converts inside `training_loss`.

    Step-wise models implement `forward` (teacher forcing) plus `begin`/`step`; the default
    `generate` drives them with `constrain_logits`. Other models override `generate`.
    """

    @property
    def uses_bar_position(self) -> bool:
        return bool(getattr(self.config, "bar_position", False))

    def bar_position_of(self, position: Tensor | None, where: str) -> Tensor | None:
        """`position` when this network is conditioned on it (None otherwise); a clear error when missing.

        Raises:
            ValueError: the config's bar_position is on and `where` gave no position.
        """
        if not self.uses_bar_position:
            return None
        if position is None:
            raise ValueError(
                f"this {self.variant or type(self).__name__} network is conditioned on the bar position "
                f"(config bar_position=True): {where} must give the position (steps since the bar began)"
            )
        return position.long()

    def forward(self, melody: Tensor, chords: Tensor, position: Tensor | None = None) -> Tensor:
        """Teacher-forced logits.

        Args:
            melody: (B, T) tokens; the logits at t may only depend on melody[:, :t].
            chords: (B, T) chord indices.
            position: (B, T) steps since the bar began; required when the config's bar_position is on.

        Returns:
            (B, T, 155) logits for melody[:, t].
        """
        raise NotImplementedError

    def training_loss(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        melody, chords = batch["melody"], batch["chords"]
        logits = self(melody, chords, self.bar_position_of(batch.get("position"), "the batch"))
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), melody.reshape(-1))
        accuracy = (logits.argmax(-1) == melody).float().mean().item()
        return loss, {"accuracy": accuracy}

    def begin(self, chords: Tensor, position: Tensor | None = None) -> Any:
        """State for step-wise generation over the whole progression `chords` (B, T) (and its bar
        `position` (B, T) when the network is conditioned on it)."""
        raise NotImplementedError

    def step(self, state: Any, previous: Tensor, t: int) -> tuple[Tensor, Any]:
        """Logits (B, 155) for step t given the token at t-1 (`previous`, (B,), START at t = 0)."""
        raise NotImplementedError

    @torch.no_grad()
    def generate(
        self,
        chords: Tensor,
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        prime: Tensor | None = None,
        rules: SamplingRules | None = None,
        position: Tensor | None = None,
    ) -> Tensor:
        """Sample a melody over a whole chord progression.

        Args:
            chords: (T,) chord indices.
            temperature: softmax temperature (> 0); lower is more conservative.
            generator: seeds the draws (CPU generator); same seed, same melody.
            prime: optional (P,) tokens forced as the first P steps (a melody to continue).
            rules: nucleus sampling and the rest/hold run limits (none by default).
            position: (T,) steps since the bar began (generation.music.encoding.bar_positions);
                required when the config's bar_position is on, ignored otherwise.

        Returns:
            (T,) tokens, never a masked pitch (128-152), never a hold at step 0 or after a rest, and
            within `rules`' limits after the prime.
        """
        rules = rules or SamplingRules()
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        chords = chords.to(device).long().view(1, -1)
        position = self.bar_position_of(position, "generate")
        state = self.begin(chords, None if position is None else position.to(device).view(1, -1))
        previous = torch.full((1,), START, dtype=torch.long, device=device)
        out = torch.empty(chords.shape[1], dtype=torch.long)
        limiter = RunLimiter(rules, length=chords.shape[1], rest=REST, hold=HOLD)
        for t in range(chords.shape[1]):
            logits, state = self.step(state, previous, t)
            if prime is not None and t < len(prime):
                token = int(prime[t])
            else:
                allowed = limiter.mask(constrain_logits(logits[0].float().cpu(), int(previous[0])))
                token = draw(allowed, temperature, generator, top_p=rules.top_p)
            limiter.push(token)
            out[t] = token
            previous = torch.full((1,), token, dtype=torch.long, device=device)
        self.train(was_training)
        return out


START = MELODY_SIZE  # "no previous token" at step 0: an all-zero one-hot


def previous_tokens(melody: Tensor) -> Tensor:
    """(B, T) tokens -> (B, T) the token at t-1, START at t = 0 (teacher forcing input)."""
    start = torch.full_like(melody[:, :1], START)
    return torch.cat([start, melody[:, :-1]], dim=1)


def one_hot_previous(previous: Tensor) -> Tensor:
    """(...,) tokens incl. START -> (..., 155) float one-hots; START is all zeros."""
    return nn.functional.one_hot(previous, MELODY_SIZE + 1)[..., :MELODY_SIZE].float()


def constrain_logits(logits: Tensor, previous: int) -> Tensor:
    """Mask what may not be played: pitches 128-152 always, hold at step 0 or right after a rest.

    Args:
        logits: (155,) logits for one step.
        previous: the token at t-1 (START at step 0).
    """
    logits = logits.clone()
    logits[MIDI_PITCHES:REST] = float("-inf")
    if previous in (START, REST):
        logits[HOLD] = float("-inf")
    return logits


def draw(logits: Tensor, temperature: float, generator: torch.Generator | None, *, top_p: float = 1.0) -> int:
    """One token from (V,) logits at `temperature`, from the nucleus `top_p`, with the given generator.

    Nucleus sampling (Holtzman et al. 2020): only the most probable tokens whose probabilities (after
    temperature) sum to at least `top_p` may be drawn, renormalised; top_p = 1 keeps every token.
    """
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    if not 0 < top_p <= 1:
        raise ValueError("top_p must be in (0, 1]")
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1:
        sorted_probs, order = probs.sort(descending=True)
        # Keep a token if the mass before it is below top_p: the most probable token is always kept.
        keep = (sorted_probs.cumsum(0) - sorted_probs) < top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs, 1, generator=generator)[0])


@dataclass(frozen=True)
class SamplingRules:
    """How a melody is drawn beyond the network's distribution. Limits are in steps (16ths); None is none.

    They exist because a network that has seen a few long rests or held notes will sometimes fall into
    one and never leave it: a clip of silence, or one note held for bars (generation.sampling states the
    defaults, in bars, and how they were chosen).
    """

    top_p: float = 1.0  # nucleus sampling: the smallest set of tokens holding this much probability
    max_rest_run: int | None = None  # consecutive rest steps; at the limit, rest is masked
    max_note_steps: int | None = None  # steps one note lasts (onset + holds); at the limit, hold is masked
    max_rest_share: float | None = None  # of the melody's length; once that many rest steps, rest is masked

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class RunLimiter:
    """Follows a melody as it is drawn and masks rest or hold when their run reaches a limit.

    Works in any vocabulary that has one rest and one hold index (the 155 tokens; EC2-VAE's 130-class
    roll and its 3-class rhythm). Masking only ever removes rest or hold, so a pitch stays possible.
    """

    def __init__(self, rules: SamplingRules, *, length: int, rest: int, hold: int):
        self.rules, self.rest, self.hold = rules, rest, hold
        self.rest_budget = None if rules.max_rest_share is None else int(rules.max_rest_share * length)
        self.rest_run = self.note_steps = self.rests = 0

    def mask(self, logits: Tensor) -> Tensor:
        """(V,) logits with rest and/or hold at -inf where a limit is reached (a copy when changed)."""
        rules = self.rules
        rest_full = (rules.max_rest_run is not None and self.rest_run >= rules.max_rest_run) or (
            self.rest_budget is not None and self.rests >= self.rest_budget
        )
        hold_full = rules.max_note_steps is not None and self.note_steps >= rules.max_note_steps
        if not (rest_full or hold_full):
            return logits
        logits = logits.clone()
        if rest_full:
            logits[self.rest] = float("-inf")
        if hold_full:
            logits[self.hold] = float("-inf")
        return logits

    def push(self, token: int) -> None:
        """Record the token drawn (or forced) at the current step."""
        if token == self.rest:
            self.rest_run, self.note_steps, self.rests = self.rest_run + 1, 0, self.rests + 1
        elif token == self.hold:
            self.note_steps = self.note_steps + 1 if self.note_steps else 0
            self.rest_run = 0
        else:
            self.rest_run, self.note_steps = 0, 1


def register_variant(key: str):
    """Class decorator: register a TrainableModel subclass under `key` and set its `variant`."""

    def decorate(cls: type[TrainableModel]) -> type[TrainableModel]:
        if key in VARIANTS and VARIANTS[key] is not cls:
            raise ValueError(f"variant {key!r} is already registered by {VARIANTS[key].__name__}")
        cls.variant = key
        VARIANTS[key] = cls
        return cls

    return decorate


def get_variant(key: str) -> type[TrainableModel]:
    """The registered class, or UnknownVariantError listing the known keys.

    Every net module is registered by now: importing this module imports its package first, and
    generation/nets/__init__.py imports each net module.
    """
    try:
        return VARIANTS[key]
    except KeyError:
        raise UnknownVariantError(
            f"unknown variant {key!r}; known variants: {', '.join(sorted(VARIANTS))}"
        ) from None


def build_model(variant: str, config: dict[str, Any] | ModelConfig | str = "tiny") -> TrainableModel:
    """A fresh network: `config` is a Config, a dict of its fields, or a preset name."""
    cls = get_variant(variant)
    if isinstance(config, str):
        config = cls.Config.preset(config)
    elif isinstance(config, dict):
        config = cls.Config.from_dict(config)
    return cls(config)
