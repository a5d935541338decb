"""WaveNet over the paper's 128-dim melody encoding, with the chord sequence as local condition.

The melody is a sounding pitch per step (channel 0 = rest; the same pitch on consecutive steps is one
sustained note), the condition the 25-dim chord one-hot at each step. A stack of dilated causal
convolutions with gated activations (tanh x sigmoid, chord added to both through 1x1 convolutions),
residual and skip connections, and a 1x1 head gives 128 logits per step: the distribution of the
pitch sounding at t given the pitches before t and the chords up to t.

Training minimises the cross-entropy in that 128-class encoding. For the common interface the 128
logits map to the 155-token vocabulary given the pitch q sounding at t-1: rest <- channel 0,
hold <- channel q (only when q is a pitch), a new onset of pitch p <- channel p for p != q; an onset
of q itself (a repeated note without a gap) and pitch 0 cannot be expressed in this encoding and get
probability zero. So `forward` returns 155 logits and sampling treats WaveNet like every other variant.

With the config's bar_position on, the local condition is the chord one-hot and the bar position
one-hot (12: beat, sub-beat) of each step: 37 channels instead of 25.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from generation.music.encoding import (
    CHORD_SIZE,
    HOLD,
    MELODY_SIZE,
    MIDI_PITCHES,
    POSITION_SIZE,
    REST,
    WAVENET_SIZE,
)
from generation.nets.base import (
    START,
    STRUCTURE_TRAINING,
    MelodyConfig,
    MelodyModel,
    position_one_hot,
    register_variant,
)


@dataclass
class WaveNetConfig(MelodyConfig):
    channels: int = 64  # residual channels
    skip_channels: int = 128
    layers: int = 14  # dilations 1, 2, ..., 64 twice: a receptive field of 255 steps (~16 bars of 4/4)
    dilation_cycle: int = 7
    kernel_size: int = 2
    dropout: float = 0.25  # on the skip sum, the paper's dropout
    segment_steps: int = 100  # the paper's segments

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"channels": 8, "skip_channels": 8, "layers": 4, "dilation_cycle": 4, "segment_steps": 32},
        "small": {"channels": 32, "skip_channels": 64, "layers": 12, "dilation_cycle": 6},
        "paper": {"channels": 128, "skip_channels": 256, "layers": 14, "dilation_cycle": 7},
    }
    TRAINING: ClassVar[dict[str, dict[str, Any]]] = STRUCTURE_TRAINING


def sounding_pitches(melody: Tensor) -> Tensor:
    """(B, T) tokens -> (B, T) sounding pitch per step, 0 = rest (the 128-dim encoding's index)."""
    positions = torch.arange(melody.shape[1], device=melody.device).expand_as(melody)
    event = (melody < MIDI_PITCHES) | (melody == REST)
    last_event = torch.where(event, positions, torch.zeros_like(positions)).cummax(dim=1).values
    value = torch.where(melody < MIDI_PITCHES, melody, torch.zeros_like(melody))
    pitches = value.gather(1, last_event)
    # A leading hold (never in data or samples) has no note to continue: a rest.
    return torch.where(event.cumsum(1) > 0, pitches, torch.zeros_like(pitches))


def to_token_logits(logits: Tensor, previous_pitch: Tensor) -> Tensor:
    """(..., 128) pitch logits and (...) the pitch sounding at t-1 -> (..., 155) token logits."""
    out = torch.full(
        (*logits.shape[:-1], MELODY_SIZE), float("-inf"), device=logits.device, dtype=logits.dtype
    )
    onsets = logits[..., 1:MIDI_PITCHES].clone()
    same = nn.functional.one_hot(previous_pitch, WAVENET_SIZE)[..., 1:].bool()
    out[..., 1:MIDI_PITCHES] = onsets.masked_fill(same, float("-inf"))
    out[..., REST] = logits[..., 0]
    held = logits.gather(-1, previous_pitch.unsqueeze(-1)).squeeze(-1)
    out[..., HOLD] = torch.where(previous_pitch > 0, held, torch.full_like(held, float("-inf")))
    return out


class ResidualBlock(nn.Module):
    def __init__(
        self, channels: int, skip_channels: int, dilation: int, kernel_size: int, condition: int = CHORD_SIZE
    ):
        super().__init__()
        self.pad = (kernel_size - 1) * dilation
        self.conv = nn.Conv1d(channels, 2 * channels, kernel_size, dilation=dilation)
        self.condition = nn.Conv1d(condition, 2 * channels, 1)
        self.residual = nn.Conv1d(channels, channels, 1)
        self.skip = nn.Conv1d(channels, skip_channels, 1)

    def forward(self, x: Tensor, chords: Tensor) -> tuple[Tensor, Tensor]:
        """x: (B, C, T), chords: (B, condition, T) -> (residual out (B, C, T), skip (B, S, T))."""
        h = self.conv(nn.functional.pad(x, (self.pad, 0))) + self.condition(chords)
        filt, gate = h.chunk(2, dim=1)
        h = torch.tanh(filt) * torch.sigmoid(gate)
        return x + self.residual(h), self.skip(h)


@register_variant("wavenet")
class WaveNet(MelodyModel):
    """Dilated causal convolutions over the 128-dim melody, chords as local condition."""

    Config = WaveNetConfig

    def __init__(self, config: WaveNetConfig):
        super().__init__(config)
        self.embed = nn.Conv1d(WAVENET_SIZE, config.channels, 1)
        condition = CHORD_SIZE + (POSITION_SIZE if config.bar_position else 0)
        self.blocks = nn.ModuleList(
            ResidualBlock(
                config.channels,
                config.skip_channels,
                2 ** (i % config.dilation_cycle),
                config.kernel_size,
                condition,
            )
            for i in range(config.layers)
        )
        self.dropout = nn.Dropout(config.dropout)
        self.out1 = nn.Conv1d(config.skip_channels, config.skip_channels, 1)
        self.out2 = nn.Conv1d(config.skip_channels, WAVENET_SIZE, 1)
        self.receptive_field = 1 + sum(b.pad for b in self.blocks)

    def pitch_logits(self, inputs: Tensor, chords: Tensor, position: Tensor | None = None) -> Tensor:
        """inputs: (B, T) the pitch sounding at t-1 (START = nothing yet); chords: (B, T); position:
        (B, T) bar positions, when configured -> (B, T, 128)."""
        x = nn.functional.one_hot(inputs, WAVENET_SIZE + 1)[..., :WAVENET_SIZE].float().transpose(1, 2)
        c = nn.functional.one_hot(chords, CHORD_SIZE).float()
        position = self.bar_position_of(position, "the local condition")
        if position is not None:
            c = torch.cat([c, position_one_hot(position)], dim=-1)
        c = c.transpose(1, 2)
        h = self.embed(x)
        skips = 0
        for block in self.blocks:
            h, skip = block(h, c)
            skips = skips + skip
        y = self.out2(torch.relu(self.out1(self.dropout(torch.relu(skips)))))
        return y.transpose(1, 2)

    @staticmethod
    def _inputs(pitches: Tensor) -> Tensor:
        start = torch.full_like(pitches[:, :1], WAVENET_SIZE)  # START: an all-zero input
        return torch.cat([start, pitches[:, :-1]], dim=1)

    def forward(self, melody: Tensor, chords: Tensor, position: Tensor | None = None) -> Tensor:
        pitches = sounding_pitches(melody)
        logits = self.pitch_logits(self._inputs(pitches), chords, position)
        previous = torch.cat([torch.zeros_like(pitches[:, :1]), pitches[:, :-1]], dim=1)
        return to_token_logits(logits, previous)

    def training_loss(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        pitches = sounding_pitches(batch["melody"])
        position = self.bar_position_of(batch.get("position"), "the batch")
        logits = self.pitch_logits(self._inputs(pitches), batch["chords"], position)
        loss = nn.functional.cross_entropy(logits.reshape(-1, WAVENET_SIZE), pitches.reshape(-1))
        return loss, {"accuracy": (logits.argmax(-1) == pitches).float().mean().item()}

    def begin(self, chords: Tensor, position: Tensor | None = None) -> dict[str, Any]:
        return {
            "chords": chords,
            "position": position,
            "inputs": [],
            "sounding": torch.zeros_like(chords[:, 0]),
        }

    def step(self, state: dict[str, Any], previous: Tensor, t: int) -> tuple[Tensor, dict[str, Any]]:
        sounding = state["sounding"]
        if t > 0:
            sounding = torch.where(
                previous == HOLD,
                sounding,
                torch.where(previous < MIDI_PITCHES, previous, torch.zeros_like(previous)),
            )
            sounding = torch.where(previous == START, torch.zeros_like(sounding), sounding)
        state["inputs"].append(sounding if t > 0 else torch.full_like(sounding, WAVENET_SIZE))
        first = max(0, t + 1 - self.receptive_field)
        inputs = torch.stack(state["inputs"][first:], dim=1)
        position = None if state["position"] is None else state["position"][:, first : t + 1]
        logits = self.pitch_logits(inputs, state["chords"][:, first : t + 1], position)[:, -1]
        return to_token_logits(logits, sounding), {**state, "sounding": sounding}
