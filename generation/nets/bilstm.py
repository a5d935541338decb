"""Bi-LSTM: the paper's note/chord token baseline (section 2.2.3), not chord-conditioned.

A control model of the listening study, and the one that shows what chord conditioning adds. The
recipe is the well-known Keras "LSTM music generation with music21" one the paper describes: each
event of a score is one token (a pitch "67", or a chord "60.64.67.72", see ``generation.music.tokens``);
a bidirectional LSTM (2 x 512, dropout 0.25) reads the previous 100 tokens; dense layers end in a
softmax over the token vocabulary; training minimises categorical cross-entropy of the next token;
generation appends one token at a time, each 0.5 beats after the previous one.

Choices of ours, so that it plays in the same study as the other models:

* token ids are fixed (3,200: 128 pitches + 24 triads x 128 melody pitches) and embedded, instead
  of a vocabulary collected from the corpus fed as one scaled number; the window before a piece's
  first event is padding, so generation starts from an empty context instead of a random excerpt;
* ``generate(chords)`` ignores the chords except for their length: it samples events, keeps the
  melody line (a chord token's top pitch), and lays it on the 16th grid one event per 0.5 beats
  (an onset then a hold), so that the clip is played over the same accompaniment as the others.
* with the config's bar_position on (an option of ours, off by default), the summary is joined by the
  bar position one-hot (12: beat, sub-beat) of the event to predict before the dense layers: where its
  onset falls in training, where generation will lay it (every 0.5 beats from the first downbeat).
  Event ids carry no position, so such a network trains on the common {"melody", "chords",
  "position"} batch (generation.datasets), cut into event windows here.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from generation.music.encoding import MIDI_PITCHES, POSITION_SIZE
from generation.music.tokens import (
    PAD_TOKEN,
    STEPS_PER_EVENT,
    TOKEN_VOCAB_SIZE,
    events_to_melody,
    piece_to_events,
)
from generation.nets.base import (
    MelodyConfig,
    MelodyModel,
    SamplingRules,
    draw,
    position_one_hot,
    register_variant,
)


@dataclass
class BiLSTMConfig(MelodyConfig):
    window: int = 100  # the paper's sequence length: the previous 100 events predict the next one
    embedding: int = 64  # width of the event-id embedding
    hidden: int = 512  # LSTM units per direction (the paper's 512)
    layers: int = 2  # stacked bidirectional LSTM layers
    dense: int = 256  # the dense layer before the softmax (the Keras recipe's 256)
    dropout: float = 0.25  # the paper's dropout, between layers and before each dense layer

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"window": 16, "embedding": 8, "hidden": 16, "layers": 1, "dense": 16},  # tests
        "small": {"embedding": 32, "hidden": 96, "dense": 128},  # CPU training in minutes, ~3.5 MB
        "paper": {},  # 2 x 512 bidirectional, dropout 0.25
    }
    TRAINING: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"batch_size": 8, "steps": 50},
        # ~0.6 s a step on one busy CPU core: about 6 minutes
        "small": {"batch_size": 32, "steps": 600, "learning_rate": 1e-3, "validate_every": 200},
        "paper": {"batch_size": 512},  # the paper's batch size and 2000 steps
    }


def event_windows(streams: Sequence[np.ndarray], window: int) -> np.ndarray:
    """Every (context, next event) pair of the streams as rows of ``window + 1`` ids.

    The context of a piece's k-th event is its previous ``window`` events, padded on the left with
    PAD_TOKEN; contexts never cross from one piece into another.

    Args:
        streams: event-id arrays (N_i,), one per piece.
        window: context length.

    Returns:
        (sum N_i, window + 1) int64; the last column is the event to predict.
    """
    rows = []
    for events in streams:
        if len(events) == 0:
            continue
        padded = np.concatenate(
            [np.full(window, PAD_TOKEN, dtype=np.int64), np.asarray(events, dtype=np.int64)]
        )
        rows.append(np.lib.stride_tricks.sliding_window_view(padded, window + 1))
    if not rows:
        return np.zeros((0, window + 1), dtype=np.int64)
    return np.concatenate(rows).copy()


@register_variant("bilstm")
class BiLSTM(MelodyModel):
    """Next-event classifier over a window of event tokens: embedding -> BiLSTM -> dense -> softmax.

    Tensors: window (B, W) event ids incl. PAD_TOKEN; logits (B, 3200).
    """

    variant = "bilstm"
    Config = BiLSTMConfig

    def __init__(self, config: BiLSTMConfig):
        super().__init__(config)
        c = config
        self.embed = nn.Embedding(TOKEN_VOCAB_SIZE + 1, c.embedding)
        self.lstm = nn.LSTM(
            c.embedding,
            c.hidden,
            num_layers=c.layers,
            batch_first=True,
            bidirectional=True,
            dropout=c.dropout if c.layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(c.dropout)
        self.dense = nn.Linear(2 * c.hidden + (POSITION_SIZE if c.bar_position else 0), c.dense)
        self.out = nn.Linear(c.dense, TOKEN_VOCAB_SIZE)

    def forward(self, window: Tensor, position: Tensor | None = None) -> Tensor:  # type: ignore[override]
        """window (B, W) event ids -> (B, 3200) logits of the next event.

        The summary is the last layer's final forward state (after the newest event) with its final
        backward state (after reading back to the oldest), as Keras' Bidirectional(LSTM) returns.
        ``position`` (B,): the bar position of the event to predict, when configured.
        """
        _, (h_n, _) = self.lstm(self.embed(window))  # h_n: (layers * 2, B, hidden)
        summary = torch.cat([h_n[-2], h_n[-1]], dim=-1)
        position = self.bar_position_of(position, "the event windows")
        if position is not None:
            summary = torch.cat([summary, position_one_hot(position)], dim=-1)
        hidden = F.relu(self.dense(self.dropout(summary)))
        return self.out(self.dropout(hidden))

    def windows_from_melody(self, melody: Tensor, chords: Tensor) -> Tensor:
        """The common batch (B, T) -> (N, window + 1) event windows, one per event in each row."""
        streams = [
            piece_to_events(m, c) for m, c in zip(melody.cpu().numpy(), chords.cpu().numpy(), strict=True)
        ]
        return torch.from_numpy(event_windows(streams, self.config.window)).to(melody.device)

    @staticmethod
    def event_positions(melody: Tensor, position: Tensor) -> Tensor:
        """(B, T) tokens and bar positions -> (N,) the bar position of every event (melody onset), in
        the order `windows_from_melody` gives their windows."""
        return position[melody < MIDI_PITCHES]

    def training_loss(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        """Cross-entropy of the next event.

        Args:
            batch: {"tokens": (B, window + 1) event windows} (generation.datasets); the common batch
                {"melody", "chords"} (B, T) is accepted too and cut into event windows.
        """
        position = None
        if "tokens" in batch:
            rows = batch["tokens"]
            if self.uses_bar_position:
                raise ValueError(
                    "this bilstm network is conditioned on the bar position, which event-id batches do "
                    'not carry: train it on the common {"melody", "chords", "position"} batch'
                )
        else:
            rows = self.windows_from_melody(batch["melody"], batch["chords"])
            if self.uses_bar_position:
                position = self.event_positions(
                    batch["melody"], self.bar_position_of(batch.get("position"), "the batch")
                )
        if rows.shape[0] == 0:
            raise ValueError("the batch holds no note onsets, so no events to predict")
        logits = self(rows[:, :-1], position)
        loss = F.cross_entropy(logits, rows[:, -1])
        accuracy = (logits.argmax(-1) == rows[:, -1]).float().mean().item()
        return loss, {"accuracy": accuracy}

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
        """Sample events one at a time and lay their melody line on the 16th grid.

        Args:
            chords: (T,) chord indices; only their number matters (the model is not conditioned).
            temperature: softmax temperature, > 0.
            generator: seeds the draws (CPU generator); same seed, same melody.
            prime: optional (P,) melody tokens kept as the first P steps; their events (read with
                ``chords[:P]``) start the context.
            rules: only its nucleus (top_p) applies: events are notes 0.5 beats apart, so there is no
                rest and no note longer than 2 steps to limit.
            position: (T,) steps since the bar began; required when the config's bar_position is on
                (each new event is told the position of the step it will be laid on).

        Returns:
            (T,) melody tokens: one onset every 0.5 beats (2 steps), holds in between; never a rest.
        """
        if temperature <= 0:
            raise ValueError("temperature must be > 0")
        rules = rules or SamplingRules()
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        steps = len(chords)
        head = prime.cpu().long()[:steps] if prime is not None else torch.zeros(0, dtype=torch.long)
        context = piece_to_events(head.numpy(), chords.cpu().numpy()[: len(head)]).tolist()
        window = [PAD_TOKEN] * self.config.window + context
        position = self.bar_position_of(position, "generate")
        new_events = []
        for k in range(math.ceil((steps - len(head)) / STEPS_PER_EVENT)):
            at = None if position is None else position[len(head) + k * STEPS_PER_EVENT].view(1).to(device)
            logits = self(torch.tensor([window[-self.config.window :]], device=device), at)[0].cpu()
            event = draw(logits, temperature, generator, top_p=rules.top_p)
            new_events.append(event)
            window.append(event)
        self.train(was_training)
        tail = torch.from_numpy(events_to_melody(new_events, steps - len(head)))
        return torch.cat([head, tail])
