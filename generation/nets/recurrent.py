"""The proposed network and its recurrent ablations (paper section 2.2.2).

proposed: a bidirectional LSTM reads the whole chord progression (the "global structure") and gives a
per-step chord encoding; a stack of 7 LSTM layers, with a residual skip connection around every layer
but the first, reads at each step the previous melody token (one-hot, 155) and that chord encoding;
a fully connected layer gives 155 logits. Bidirectional over harmony, causal over melody:
p(m_t | m_1..m_{t-1}, c_1..c_T).

unilstm: the same with a forward-only chord pass, p(m_t | m_<t, c_1..c_t).
gru, rnn: the same structure with GRU or plain (tanh) RNN cells, chord pass included.
lstm1: one LSTM layer over the previous melody token and the raw chord one-hot.

With the config's bar_position on, the bar position one-hot (12: beat, sub-beat) is appended to the
chord encoding of every step (after the chord pass: it is local, the chord pass need not carry it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from generation.music.encoding import CHORD_SIZE, MELODY_SIZE, POSITION_SIZE
from generation.nets.base import (
    STRUCTURE_TRAINING,
    MelodyConfig,
    MelodyModel,
    one_hot_previous,
    position_one_hot,
    previous_tokens,
    register_variant,
)

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


@dataclass
class RecurrentConfig(MelodyConfig):
    cell: str = "lstm"  # the paper's structure comparison swaps this for "gru" / "rnn"
    layers: int = 7  # the paper's seven recurrent layers
    hidden: int = 512  # the paper's "hidden layer 1 has 512 neurons"
    chord_hidden: int = 128  # per direction: 25 chord classes need far less than the melody stack
    chord_encoder: str = (
        "bidirectional"  # "bidirectional" (whole progression), "forward", "none" (raw one-hot)
    )
    dropout: float = 0.25  # the paper's Dropout 25%
    segment_steps: int = 100  # the paper's training segments of 100 steps

    TRAINING: ClassVar[dict[str, dict[str, Any]]] = STRUCTURE_TRAINING


def _presets(**changes: Any) -> dict[str, dict[str, Any]]:
    base = {
        "tiny": {"layers": 2, "hidden": 16, "chord_hidden": 8, "segment_steps": 32},
        "small": {"layers": 7, "hidden": 64, "chord_hidden": 32},
        "paper": {"layers": 7, "hidden": 512, "chord_hidden": 128, "dropout": 0.25},
    }
    return {name: {**values, **changes} for name, values in base.items()}


class RecurrentMelodyNet(MelodyModel):
    """Chord encoder + recurrent stack with residual skips + FC head."""

    Config = RecurrentConfig

    def __init__(self, config: RecurrentConfig):
        super().__init__(config)
        if config.cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, not {config.cell!r}")
        if config.chord_encoder not in {"bidirectional", "forward", "none"}:
            raise ValueError(f"unknown chord_encoder {config.chord_encoder!r}")
        cell = CELLS[config.cell]
        if config.chord_encoder == "none":
            self.chord_encoder = None
            chord_dim = CHORD_SIZE
        else:
            bidirectional = config.chord_encoder == "bidirectional"
            self.chord_encoder = cell(
                CHORD_SIZE, config.chord_hidden, batch_first=True, bidirectional=bidirectional
            )
            chord_dim = config.chord_hidden * (2 if bidirectional else 1)
        if config.bar_position:
            chord_dim += POSITION_SIZE
        self.stack = nn.ModuleList(
            cell(MELODY_SIZE + chord_dim if i == 0 else config.hidden, config.hidden, batch_first=True)
            for i in range(config.layers)
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, MELODY_SIZE)

    def encode_chords(self, chords: Tensor, position: Tensor | None = None) -> Tensor:
        """(B, T) chord indices (and (B, T) bar positions when configured) -> (B, T, chord_dim)."""
        x = nn.functional.one_hot(chords, CHORD_SIZE).float()
        encoded = x if self.chord_encoder is None else self.chord_encoder(x)[0]
        position = self.bar_position_of(position, "the chord conditioning")
        if position is None:
            return encoded
        return torch.cat([encoded, position_one_hot(position)], dim=-1)

    def _run(self, x: Tensor, states: list[Any] | None) -> tuple[Tensor, list[Any]]:
        """x: (B, T, 155 + chord_dim) -> logits (B, T, 155) and each layer's final state."""
        h = x
        new_states = []
        for i, layer in enumerate(self.stack):
            y, state = layer(h, None if states is None else states[i])
            y = self.dropout(y)
            h = y if i == 0 else h + y  # skip connections in every layer but the first (the paper's Fig. 2)
            new_states.append(state)
        return self.head(h), new_states

    def forward(self, melody: Tensor, chords: Tensor, position: Tensor | None = None) -> Tensor:
        x = torch.cat(
            [one_hot_previous(previous_tokens(melody)), self.encode_chords(chords, position)], dim=-1
        )
        return self._run(x, None)[0]

    def begin(self, chords: Tensor, position: Tensor | None = None) -> dict[str, Any]:
        return {"chords": self.encode_chords(chords, position), "states": None}

    def step(self, state: dict[str, Any], previous: Tensor, t: int) -> tuple[Tensor, dict[str, Any]]:
        x = torch.cat([one_hot_previous(previous)[:, None], state["chords"][:, t : t + 1]], dim=-1)
        logits, states = self._run(x, state["states"])
        return logits[:, 0], {"chords": state["chords"], "states": states}


@dataclass
class ProposedConfig(RecurrentConfig):
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = _presets()


@register_variant("proposed")
class Proposed(RecurrentMelodyNet):
    """The paper's model: bidirectional chord LSTM + 7-layer skip LSTM."""

    Config = ProposedConfig


@dataclass
class UniLSTMConfig(RecurrentConfig):
    chord_encoder: str = "forward"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = _presets(chord_encoder="forward")


@register_variant("unilstm")
class UniLSTM(RecurrentMelodyNet):
    """Ablation: only the chords so far (forward chord pass)."""

    Config = UniLSTMConfig


@dataclass
class GRUConfig(RecurrentConfig):
    cell: str = "gru"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = _presets(cell="gru")


@register_variant("gru")
class GRUNet(RecurrentMelodyNet):
    """Ablation: the proposed structure with GRU cells."""

    Config = GRUConfig


@dataclass
class RNNConfig(RecurrentConfig):
    cell: str = "rnn"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = _presets(cell="rnn")


@register_variant("rnn")
class RNNNet(RecurrentMelodyNet):
    """Ablation: the proposed structure with plain tanh RNN cells."""

    Config = RNNConfig


@dataclass
class LSTM1Config(RecurrentConfig):
    layers: int = 1
    chord_encoder: str = "none"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"layers": 1, "hidden": 16, "chord_encoder": "none", "segment_steps": 32},
        "small": {"layers": 1, "hidden": 128, "chord_encoder": "none"},
        "paper": {"layers": 1, "hidden": 512, "chord_encoder": "none"},
    }


@register_variant("lstm1")
class LSTM1(RecurrentMelodyNet):
    """Ablation: a single LSTM layer over the previous token and the current chord."""

    Config = LSTM1Config
