"""EC2-VAE: a chord-conditioned VAE whose latent splits into a pitch half and a rhythm half.

A control model of the listening study. Yang et al., "Deep Music Analogy via Latent Representation
Disentanglement" (ISMIR 2019), following their released code (buggyyang/Deep-Music-Analogy-Demos):

* a segment is 2 bars of 4/4 = 32 sixteenth steps; the melody is 130-dim per step (128 pitches,
  128 = hold, 129 = rest), the chord a 12-dim chroma per step;
* a bidirectional GRU reads melody + chord (142 per step); its two final states give the mean and
  log-variance of a 256-dim latent split into z_pitch (128) and z_rhythm (128);
* a rhythm decoder (GRU cell on z_rhythm) emits onset / hold / rest per step; a melody decoder (two
  GRU cells on z_pitch, the previous note, the decoded rhythm and the chord) emits the 130 classes;
* teacher forcing with probability k / (k + exp(step / k)), k = 1000;
* loss = melody NLL + rhythm NLL + beta * (KL_pitch + KL_rhythm), beta = 0.1, each KL averaged over
  batch and latent dimensions as the original code does.

Differences from the original, all small: the encoder gives a log-variance (the original's second
head is exponentiated into a standard deviation), the melody decoder reads the rhythm decoder's
probabilities (the original feeds log-probabilities), and the optimiser and schedule are the
project's one training loop (RMSProp) instead of Adam.

With the config's bar_position on (not in the original), the chord condition of every step is the
chroma followed by the bar position one-hot (12: beat, sub-beat), for the encoder and the melody
decoder, and the rhythm decoder reads the bar position too (onsets depend on the beat).

The module also holds what VD-ED shares with it: the 130-dim conversion, chroma, 2-bar cutting,
the teacher-forcing schedule and constrained sampling.
"""

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from generation.music.encoding import (
    CHORD_SIZE,
    HOLD,
    MIDI_PITCHES,
    NO_CHORD,
    POSITION_SIZE,
    REST,
    chord_pitches,
)
from generation.nets.base import (
    MelodyConfig,
    MelodyModel,
    RunLimiter,
    SamplingRules,
    draw,
    position_one_hot,
    register_variant,
)

SEGMENT_STEPS = 32  # 2 bars of 4/4 on the 16th grid, EC2-VAE's unit
ROLL_SIZE = 130  # 128 pitches, hold, rest
ROLL_HOLD = 128
ROLL_REST = 129
CHROMA_SIZE = 12
RHYTHM_SIZE = 3  # onset, hold, rest
ONSET, SUSTAIN, SILENCE = 0, 1, 2


# ------------------------------------------------------------------------------------- representations


def to_roll(melody: Tensor) -> Tensor:
    """155-vocabulary melody tokens (..., T) -> 130-class indices (..., T): hold 154 -> 128, rest 153 -> 129.

    Pitch slots 128-152 never occur in the data; they would be read as rests.
    """
    roll = melody.clone()
    roll[melody == HOLD] = ROLL_HOLD
    roll[(melody == REST) | ((melody >= MIDI_PITCHES) & (melody != HOLD))] = ROLL_REST
    return roll


def from_roll(roll: Tensor) -> Tensor:
    """130-class indices (..., T) -> 155-vocabulary tokens (..., T): 128 -> hold 154, 129 -> rest 153."""
    melody = roll.clone()
    melody[roll == ROLL_HOLD] = HOLD
    melody[roll == ROLL_REST] = REST
    return melody


def rhythm_of(roll: Tensor) -> Tensor:
    """130-class indices (..., T) -> rhythm classes (..., T): 0 onset, 1 hold, 2 rest."""
    rhythm = torch.full_like(roll, ONSET)
    rhythm[roll == ROLL_HOLD] = SUSTAIN
    rhythm[roll == ROLL_REST] = SILENCE
    return rhythm


def chroma_table() -> Tensor:
    """(25, 12) float: the pitch classes of each chord index (all zero for no chord)."""
    table = torch.zeros(CHORD_SIZE, CHROMA_SIZE)
    for index in range(CHORD_SIZE):
        for pitch_class in chord_pitches(index):
            table[index, pitch_class] = 1.0
    return table


def cut_segments(melody: Tensor, *others: Tensor, steps: int = SEGMENT_STEPS) -> tuple[Tensor, ...]:
    """Cut (B, T) windows (melody, then chords, bar positions, ... alike) into whole segments
    (B * (T // steps), steps); the remainder is dropped.

    With the common T = 100 a window gives 3 segments (96 steps).

    Raises:
        ValueError: a window shorter than one segment.
    """
    batch, length = melody.shape
    count = length // steps
    if count == 0:
        raise ValueError(f"a window of {length} steps is shorter than one {steps}-step segment")
    used = count * steps
    return tuple(x[:, :used].reshape(batch * count, steps) for x in (melody, *others))


def segment_condition(
    chroma: Tensor, chords: Tensor, position: Tensor | None
) -> tuple[Tensor, Tensor | None]:
    """(N, S) chords (and bar positions) -> the condition (N, S, 12 or 24: chroma [+ position one-hot])
    and the position one-hot alone (N, S, 12), or None without positions. `chroma` is chroma_table()."""
    condition = chroma[chords]
    if position is None:
        return condition, None
    features = position_one_hot(position)
    return torch.cat([condition, features], dim=-1), features


def pad_progression(chords: Tensor, steps: int = SEGMENT_STEPS) -> Tensor:
    """(T,) chord indices -> (n, steps): the progression cut into segments, the last chord repeated."""
    count = max(1, math.ceil(len(chords) / steps))
    fill = chords[-1] if len(chords) else torch.tensor(NO_CHORD)
    padded = torch.full((count * steps,), int(fill), dtype=torch.long)
    padded[: len(chords)] = chords
    return padded.reshape(count, steps)


def teacher_forcing_ratio(step: int, k: float) -> float:
    """EC2-VAE's schedule k / (k + exp(step / k)): ~1 at the start, 0.5 near step k * ln(k)."""
    exponent = step / k
    if exponent > 700:  # exp overflows; the ratio is 0 long before this
        return 0.0
    return k / (k + math.exp(exponent))


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) averaged over batch and dimensions (as EC2-VAE's code)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean()


def constrain_roll(logits: Tensor, previous: int | None) -> Tensor:
    """Mask a hold at the start (``previous`` None) or right after a rest, in (130,) melody logits."""
    logits = logits.clone()
    if previous is None or previous == ROLL_REST:
        logits[ROLL_HOLD] = float("-inf")
    return logits


def constrain_rhythm(logits: Tensor, previous: int | None) -> Tensor:
    """Mask a hold at the start (``previous`` None) or right after a rest, in (3,) rhythm logits."""
    logits = logits.clone()
    if previous is None or previous == SILENCE:
        logits[SUSTAIN] = float("-inf")
    return logits


def prime_roll(prime: Tensor | None, length: int) -> list[int]:
    """The forced first steps as 130-class indices (at most ``length``), from 155-vocabulary tokens."""
    if prime is None:
        return []
    return to_roll(prime.long().cpu()[:length]).tolist()


# ------------------------------------------------------------------------------------------- the model


@dataclass
class EC2VAEConfig(MelodyConfig):
    hidden: int = 2048  # GRU width of the encoder and all decoder cells, as in the original
    z_pitch: int = 128  # pitch half of the latent (original: 128)
    z_rhythm: int = 128  # rhythm half of the latent (original: 128)
    span_steps: int = SEGMENT_STEPS  # 2 bars of 4/4: the unit the VAE encodes and decodes
    beta: float = 0.1  # KL weight of the original
    teacher_forcing_k: float = 1000.0  # k in k / (k + exp(step / k)), from the original

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"hidden": 16, "z_pitch": 4, "z_rhythm": 4},  # tests: a forward pass in milliseconds
        "small": {"hidden": 128, "z_pitch": 32, "z_rhythm": 32},  # CPU training in minutes, ~2 MB
        "paper": {},  # the original EC2-VAE sizes
    }
    TRAINING: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"batch_size": 4, "steps": 50},
        # 16 windows of 100 steps = 48 two-bar segments a step; minutes on one CPU core
        "small": {"batch_size": 16, "steps": 600, "learning_rate": 1e-3, "validate_every": 200},
        "paper": {"batch_size": 43},  # 43 windows = 129 segments, the original's batch of 128
    }


@register_variant("ec2vae")
class EC2VAE(MelodyModel):
    """EC2-VAE with a disentangled latent (z_pitch, z_rhythm), conditioned on chroma chords.

    Tensors: melody roll (B, 32) indices 0-129; chroma (B, 32, 12); latents (B, z_pitch), (B, z_rhythm).
    """

    variant = "ec2vae"
    Config = EC2VAEConfig

    def __init__(self, config: EC2VAEConfig):
        super().__init__(config)
        c = config
        position = POSITION_SIZE if c.bar_position else 0
        condition = CHROMA_SIZE + position
        self.encoder = nn.GRU(ROLL_SIZE + condition, c.hidden, batch_first=True, bidirectional=True)
        self.to_mu = nn.Linear(2 * c.hidden, c.z_pitch + c.z_rhythm)
        self.to_logvar = nn.Linear(2 * c.hidden, c.z_pitch + c.z_rhythm)
        self.rhythm_init = nn.Linear(c.z_rhythm, c.hidden)
        self.rhythm_cell = nn.GRUCell(c.z_rhythm + RHYTHM_SIZE + position, c.hidden)
        self.rhythm_out = nn.Linear(c.hidden, RHYTHM_SIZE)
        self.melody_init = nn.Linear(c.z_pitch, c.hidden)
        self.melody_cell_1 = nn.GRUCell(c.z_pitch + ROLL_SIZE + RHYTHM_SIZE + condition, c.hidden)
        self.melody_cell_2 = nn.GRUCell(c.hidden, c.hidden)
        self.melody_out = nn.Linear(c.hidden, ROLL_SIZE)
        self.register_buffer("chroma", chroma_table(), persistent=False)

    # --------------------------------------------------------------------------------------- encoder

    def encode(self, roll: Tensor, chroma: Tensor) -> tuple[Tensor, Tensor]:
        """roll (B, S) indices 0-129, chroma (B, S, 12; 24 with the bar position) -> mu, logvar, each
        (B, z_pitch + z_rhythm)."""
        x = torch.cat([F.one_hot(roll, ROLL_SIZE).float(), chroma], dim=-1)
        _, h_n = self.encoder(x)  # (2, B, hidden): final forward and backward states
        h = torch.cat([h_n[0], h_n[1]], dim=-1)
        return self.to_mu(h), self.to_logvar(h)

    def split(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """(B, z_pitch + z_rhythm) -> z_pitch (B, z_pitch), z_rhythm (B, z_rhythm)."""
        return z[:, : self.config.z_pitch], z[:, self.config.z_pitch :]

    # -------------------------------------------------------------------------------------- decoders

    def decode_rhythm(
        self,
        z_rhythm: Tensor,
        steps: int,
        target: Tensor | None,
        ratio: float,
        position: Tensor | None = None,
    ) -> Tensor:
        """Rhythm logits (B, steps, 3); with ``target`` (B, steps) each step is teacher-forced with
        probability ``ratio``, otherwise the previous argmax is fed back. ``position``: (B, steps, 12)
        bar position one-hots, when configured."""
        batch = z_rhythm.shape[0]
        h = torch.tanh(self.rhythm_init(z_rhythm))
        previous = F.one_hot(torch.full((batch,), SILENCE, device=z_rhythm.device), RHYTHM_SIZE).float()
        outputs = []
        for step in range(steps):
            extra = [] if position is None else [position[:, step]]
            h = self.rhythm_cell(torch.cat([previous, z_rhythm, *extra], dim=-1), h)
            logits = self.rhythm_out(h)
            outputs.append(logits)
            if target is not None and torch.rand(()).item() < ratio:
                previous = F.one_hot(target[:, step], RHYTHM_SIZE).float()
            else:
                previous = F.one_hot(logits.argmax(-1), RHYTHM_SIZE).float()
        return torch.stack(outputs, dim=1)

    def decode_melody(
        self, z_pitch: Tensor, rhythm: Tensor, chroma: Tensor, target: Tensor | None, ratio: float
    ) -> Tensor:
        """Melody logits (B, S, 130) from z_pitch (B, z_pitch), rhythm probabilities (B, S, 3) and
        chroma (B, S, 12; 24 with the bar position); teacher-forced from ``target`` (B, S) with probability ``ratio`` per step."""
        batch, steps, _ = rhythm.shape
        h1 = torch.tanh(self.melody_init(z_pitch))
        h2 = None
        previous = F.one_hot(torch.full((batch,), ROLL_REST, device=z_pitch.device), ROLL_SIZE).float()
        outputs = []
        for step in range(steps):
            h1 = self.melody_cell_1(torch.cat([previous, rhythm[:, step], z_pitch, chroma[:, step]], -1), h1)
            h2 = self.melody_cell_2(h1, h1 if h2 is None else h2)
            logits = self.melody_out(h2)
            outputs.append(logits)
            if target is not None and torch.rand(()).item() < ratio:
                previous = F.one_hot(target[:, step], ROLL_SIZE).float()
            else:
                previous = F.one_hot(logits.argmax(-1), ROLL_SIZE).float()
        return torch.stack(outputs, dim=1)

    def reconstruct(self, z_pitch: Tensor, z_rhythm: Tensor, chroma: Tensor) -> tuple[Tensor, Tensor]:
        """Greedy decoding: (B, S) melody roll indices and (B, S) rhythm classes of the rhythm decoder.

        ``chroma`` is the condition `segments` gives (with the bar position when configured)."""
        rhythm_logits = self.decode_rhythm(z_rhythm, chroma.shape[1], None, 0.0, self._position_part(chroma))
        melody_logits = self.decode_melody(z_pitch, F.softmax(rhythm_logits, -1), chroma, None, 0.0)
        return melody_logits.argmax(-1), rhythm_logits.argmax(-1)

    # ------------------------------------------------------------------------------------- interface

    def _position_part(self, condition: Tensor) -> Tensor | None:
        """The bar position one-hots inside a condition (N, S, 24), or None without the option."""
        return condition[..., CHROMA_SIZE:] if self.uses_bar_position else None

    def segments(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """The common batch {"melody", "chords"[, "position"]} (B, T) -> roll (N, 32) and the condition
        (N, 32, 12): chroma, followed by the bar position one-hot (N, 32, 24) when configured."""
        position = self.bar_position_of(batch.get("position"), "the batch")
        extra = () if position is None else (position,)
        melody, chords, *cut = cut_segments(
            batch["melody"], batch["chords"], *extra, steps=self.config.span_steps
        )
        return to_roll(melody), segment_condition(self.chroma, chords, cut[0] if cut else None)[0]

    def training_loss(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        """Melody NLL + rhythm NLL + beta * (KL_pitch + KL_rhythm) over the batch's 2-bar segments.

        In training mode the teacher-forcing ratio follows the schedule at ``self.train_step`` (set
        by the training loop, which also restores it on resume); in eval mode (validation) decoding
        is fully teacher-forced, so validation losses of different steps compare.

        Args:
            batch: {"melody": (B, T) tokens, "chords": (B, T) chord indices}, T >= 32.
        """
        roll, chroma = self.segments(batch)
        rhythm = rhythm_of(roll)
        if self.training:
            ratio = teacher_forcing_ratio(self.train_step, self.config.teacher_forcing_k)
        else:
            ratio = 1.0
        mu, logvar = self.encode(roll, chroma)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        z_pitch, z_rhythm = self.split(z)
        rhythm_logits = self.decode_rhythm(
            z_rhythm, roll.shape[1], rhythm, ratio, self._position_part(chroma)
        )
        melody_logits = self.decode_melody(z_pitch, F.softmax(rhythm_logits, -1), chroma, roll, ratio)
        melody_nll = F.cross_entropy(melody_logits.reshape(-1, ROLL_SIZE), roll.reshape(-1))
        rhythm_nll = F.cross_entropy(rhythm_logits.reshape(-1, RHYTHM_SIZE), rhythm.reshape(-1))
        mu_pitch, mu_rhythm = self.split(mu)
        logvar_pitch, logvar_rhythm = self.split(logvar)
        kl_pitch = gaussian_kl(mu_pitch, logvar_pitch)
        kl_rhythm = gaussian_kl(mu_rhythm, logvar_rhythm)
        loss = melody_nll + rhythm_nll + self.config.beta * (kl_pitch + kl_rhythm)
        accuracy = (melody_logits.argmax(-1) == roll).float().mean()
        return loss, {
            "melody_nll": melody_nll.item(),
            "rhythm_nll": rhythm_nll.item(),
            "kl_pitch": kl_pitch.item(),
            "kl_rhythm": kl_rhythm.item(),
            "accuracy": accuracy.item(),
            "teacher_forcing": ratio,
        }

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
        """Sample a melody over a progression, two bars at a time, latents drawn from the prior.

        Each 2-bar segment gets its own z_pitch, z_rhythm ~ N(0, I); the rhythm decoder samples
        onset/hold/rest, then the melody decoder samples the notes conditioned on that rhythm and the
        segment's chords. Holds are masked at the start and after a rest (across segments too).

        Args:
            chords: (T,) chord indices.
            temperature: softmax temperature of every sampled step, > 0.
            generator: seeds the latents and the draws (CPU generator).
            prime: optional (P,) tokens forced as the first P steps.
            rules: nucleus sampling and rest/hold run limits, applied to the rhythm and the note draws.
            position: (T,) steps since the bar began; required when the config's bar_position is on.

        Returns:
            (T,) melody tokens in the 155 vocabulary.
        """
        if temperature <= 0:
            raise ValueError("temperature must be > 0")
        rules = rules or SamplingRules()
        rhythm_limiter = RunLimiter(rules, length=len(chords), rest=SILENCE, hold=SUSTAIN)
        note_limiter = RunLimiter(rules, length=len(chords), rest=ROLL_REST, hold=ROLL_HOLD)
        was_training = self.training
        self.eval()
        device = self.chroma.device
        forced = prime_roll(prime, len(chords))
        notes: list[int] = []
        previous_rhythm: int | None = None
        segments = pad_progression(chords.cpu().long(), self.config.span_steps).to(device)
        position = self.bar_position_of(position, "generate")
        positions = (
            [None] * len(segments)
            if position is None
            else pad_progression(position.cpu().long(), self.config.span_steps).to(device)
        )
        for segment, segment_position in zip(segments, positions, strict=True):
            z_pitch = torch.randn(1, self.config.z_pitch, generator=generator).to(device)
            z_rhythm = torch.randn(1, self.config.z_rhythm, generator=generator).to(device)
            chroma, position_features = segment_condition(
                self.chroma, segment[None], None if segment_position is None else segment_position[None]
            )
            start = len(notes)
            h = torch.tanh(self.rhythm_init(z_rhythm))
            rhythm_in = F.one_hot(torch.tensor([SILENCE], device=device), RHYTHM_SIZE).float()
            rhythm_probs = []
            for step in range(len(segment)):
                extra = [] if position_features is None else [position_features[:, step]]
                h = self.rhythm_cell(torch.cat([rhythm_in, z_rhythm, *extra], -1), h)
                logits = self.rhythm_out(h)[0].cpu()
                rhythm_probs.append(F.softmax(logits, -1))
                if start + step < len(forced):
                    previous_rhythm = int(rhythm_of(torch.tensor(forced[start + step])))
                else:
                    allowed = rhythm_limiter.mask(constrain_rhythm(logits, previous_rhythm))
                    previous_rhythm = draw(allowed, temperature, generator, top_p=rules.top_p)
                rhythm_limiter.push(previous_rhythm)
                rhythm_in = F.one_hot(torch.tensor([previous_rhythm], device=device), RHYTHM_SIZE).float()
            rhythm = torch.stack(rhythm_probs)[None].to(device)
            h1 = torch.tanh(self.melody_init(z_pitch))
            h2 = None
            note_in = F.one_hot(torch.tensor([ROLL_REST], device=device), ROLL_SIZE).float()
            for step in range(len(segment)):
                h1 = self.melody_cell_1(
                    torch.cat([note_in, rhythm[:, step], z_pitch, chroma[:, step]], -1), h1
                )
                h2 = self.melody_cell_2(h1, h1 if h2 is None else h2)
                if len(notes) < len(forced):
                    note = forced[len(notes)]
                else:
                    logits = self.melody_out(h2)[0].cpu()
                    allowed = note_limiter.mask(constrain_roll(logits, notes[-1] if notes else None))
                    note = draw(allowed, temperature, generator, top_p=rules.top_p)
                note_limiter.push(note)
                notes.append(note)
                note_in = F.one_hot(torch.tensor([note], device=device), ROLL_SIZE).float()
        self.train(was_training)
        return from_roll(torch.tensor(notes[: len(chords)], dtype=torch.long))
