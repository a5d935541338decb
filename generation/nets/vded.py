"""VD-ED: a chord-conditioned variational encoder-decoder with one latent (our reading of the paper).

A control model of the listening study. The paper names "VD-ED" as its second-best baseline but
never defines it, and no public system carries that name. This is OUR READING: EC2-VAE without the
disentanglement -- the same 2-bar segments (32 sixteenth steps, 130-dim melody, 12-dim chroma
chords), a bidirectional GRU encoder to the mean and log-variance of ONE latent, and a GRU decoder
that reads the previous note, the chord of the step and the latent at every step. The loss is the
melody NLL + beta * KL with EC2-VAE's beta, KL averaging and teacher-forcing schedule; there is no
rhythm branch. The nearest published relative is MusicVAE's chord-conditioned 2-bar melody model.
With the config's bar_position on, the condition of every step is the chroma followed by the bar
position one-hot (12: beat, sub-beat), in the encoder and the decoder.
"""

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from generation.music.encoding import POSITION_SIZE
from generation.nets.base import MelodyConfig, MelodyModel, RunLimiter, SamplingRules, draw, register_variant
from generation.nets.ec2vae import (
    CHROMA_SIZE,
    ROLL_HOLD,
    ROLL_REST,
    ROLL_SIZE,
    SEGMENT_STEPS,
    chroma_table,
    constrain_roll,
    cut_segments,
    from_roll,
    gaussian_kl,
    pad_progression,
    prime_roll,
    segment_condition,
    teacher_forcing_ratio,
    to_roll,
)


@dataclass
class VDEDConfig(MelodyConfig):
    hidden: int = (
        2048  # GRU width of encoder and decoder: EC2-VAE's, so the two VAEs differ in structure only
    )
    z: int = 256  # one latent as large as EC2-VAE's two halves together
    span_steps: int = SEGMENT_STEPS  # 2 bars of 4/4, as EC2-VAE
    beta: float = 0.1  # KL weight, EC2-VAE's
    teacher_forcing_k: float = 1000.0  # EC2-VAE's schedule k / (k + exp(step / k))

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"hidden": 16, "z": 8},  # tests: a forward pass in milliseconds
        "small": {"hidden": 128, "z": 64},  # CPU training in minutes, ~1 MB
        "paper": {},  # EC2-VAE's sizes
    }
    TRAINING: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"batch_size": 4, "steps": 50},
        # 16 windows of 100 steps = 48 two-bar segments a step; minutes on one CPU core
        "small": {"batch_size": 16, "steps": 600, "learning_rate": 1e-3, "validate_every": 200},
        "paper": {"batch_size": 43},  # 43 windows = 129 segments, the original's batch of 128
    }


@register_variant("vded")
class VDED(MelodyModel):
    """Variational encoder-decoder with one (entangled) latent, conditioned on chroma chords.

    Tensors: melody roll (B, 32) indices 0-129; chroma (B, 32, 12); latent (B, z).
    """

    variant = "vded"
    Config = VDEDConfig

    def __init__(self, config: VDEDConfig):
        super().__init__(config)
        c = config
        condition = CHROMA_SIZE + (POSITION_SIZE if c.bar_position else 0)
        self.encoder = nn.GRU(ROLL_SIZE + condition, c.hidden, batch_first=True, bidirectional=True)
        self.to_mu = nn.Linear(2 * c.hidden, c.z)
        self.to_logvar = nn.Linear(2 * c.hidden, c.z)
        self.decoder_init = nn.Linear(c.z, c.hidden)
        self.decoder_cell = nn.GRUCell(ROLL_SIZE + condition + c.z, c.hidden)
        self.decoder_out = nn.Linear(c.hidden, ROLL_SIZE)
        self.register_buffer("chroma", chroma_table(), persistent=False)

    def encode(self, roll: Tensor, chroma: Tensor) -> tuple[Tensor, Tensor]:
        """roll (B, S) indices 0-129, chroma (B, S, 12) -> mu, logvar, each (B, z)."""
        x = torch.cat([F.one_hot(roll, ROLL_SIZE).float(), chroma], dim=-1)
        _, h_n = self.encoder(x)  # (2, B, hidden): final forward and backward states
        h = torch.cat([h_n[0], h_n[1]], dim=-1)
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: Tensor, chroma: Tensor, target: Tensor | None, ratio: float) -> Tensor:
        """Melody logits (B, S, 130) from z (B, z) and chroma (B, S, 12); with ``target`` (B, S) each
        step is teacher-forced with probability ``ratio``, otherwise the previous argmax is fed back."""
        batch, steps, _ = chroma.shape
        h = torch.tanh(self.decoder_init(z))
        previous = F.one_hot(torch.full((batch,), ROLL_REST, device=z.device), ROLL_SIZE).float()
        outputs = []
        for step in range(steps):
            h = self.decoder_cell(torch.cat([previous, chroma[:, step], z], dim=-1), h)
            logits = self.decoder_out(h)
            outputs.append(logits)
            if target is not None and torch.rand(()).item() < ratio:
                previous = F.one_hot(target[:, step], ROLL_SIZE).float()
            else:
                previous = F.one_hot(logits.argmax(-1), ROLL_SIZE).float()
        return torch.stack(outputs, dim=1)

    def reconstruct(self, z: Tensor, chroma: Tensor) -> Tensor:
        """Greedy decoding: (B, S) melody roll indices."""
        return self.decode(z, chroma, None, 0.0).argmax(-1)

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
        """Melody NLL + beta * KL over the batch's 2-bar segments (teacher forcing as EC2-VAE).

        Args:
            batch: {"melody": (B, T) tokens, "chords": (B, T) chord indices}, T >= 32.
        """
        roll, chroma = self.segments(batch)
        ratio = (
            teacher_forcing_ratio(self.train_step, self.config.teacher_forcing_k) if self.training else 1.0
        )
        mu, logvar = self.encode(roll, chroma)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        logits = self.decode(z, chroma, roll, ratio)
        nll = F.cross_entropy(logits.reshape(-1, ROLL_SIZE), roll.reshape(-1))
        kl = gaussian_kl(mu, logvar)
        accuracy = (logits.argmax(-1) == roll).float().mean()
        return nll + self.config.beta * kl, {
            "melody_nll": nll.item(),
            "kl": kl.item(),
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
        """Sample a melody over a progression, two bars at a time, each from a latent z ~ N(0, I).

        Args:
            chords: (T,) chord indices.
            temperature: softmax temperature of every sampled step, > 0.
            generator: seeds the latents and the draws (CPU generator).
            prime: optional (P,) tokens forced as the first P steps.
            rules: nucleus sampling and rest/hold run limits.
            position: (T,) steps since the bar began; required when the config's bar_position is on.

        Returns:
            (T,) melody tokens in the 155 vocabulary; no hold at the start or right after a rest.
        """
        if temperature <= 0:
            raise ValueError("temperature must be > 0")
        rules = rules or SamplingRules()
        limiter = RunLimiter(rules, length=len(chords), rest=ROLL_REST, hold=ROLL_HOLD)
        was_training = self.training
        self.eval()
        device = self.chroma.device
        forced = prime_roll(prime, len(chords))
        notes: list[int] = []
        segments = pad_progression(chords.cpu().long(), self.config.span_steps).to(device)
        position = self.bar_position_of(position, "generate")
        positions = (
            [None] * len(segments)
            if position is None
            else pad_progression(position.cpu().long(), self.config.span_steps).to(device)
        )
        for segment, segment_position in zip(segments, positions, strict=True):
            z = torch.randn(1, self.config.z, generator=generator).to(device)
            chroma = segment_condition(
                self.chroma, segment[None], None if segment_position is None else segment_position[None]
            )[0]
            h = torch.tanh(self.decoder_init(z))
            note_in = F.one_hot(torch.tensor([ROLL_REST], device=device), ROLL_SIZE).float()
            for step in range(len(segment)):
                h = self.decoder_cell(torch.cat([note_in, chroma[:, step], z], dim=-1), h)
                if len(notes) < len(forced):
                    note = forced[len(notes)]
                else:
                    logits = self.decoder_out(h)[0].cpu()
                    allowed = limiter.mask(constrain_roll(logits, notes[-1] if notes else None))
                    note = draw(allowed, temperature, generator, top_p=rules.top_p)
                limiter.push(note)
                notes.append(note)
                note_in = F.one_hot(torch.tensor([note], device=device), ROLL_SIZE).float()
        self.train(was_training)
        return from_roll(torch.tensor(notes[: len(chords)], dtype=torch.long))
