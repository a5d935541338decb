"""The paper's RNN source-separation model (section 2.1, figure 1, equations 1-4).

The mixture's magnitude STFT (window 1024, hop 512) is read frame by frame by three stacked GRU
layers of 256 units. One dense ReLU layer per source (bass, drums, music, vocals) turns the GRU
state into a non-negative magnitude estimate B', D', M', V' per frame; the estimates become ratio
masks over their sum C' = B' + D' + M' + V', so that

    source_hat_j = estimate_j / C' * mixture            (equations 1-4)

and the four estimates add up to the mixture exactly. All four sources are learned by one network
at once. Waveforms come back through the inverse STFT with the mixture's phase (the mask is real,
so masking the complex STFT keeps the phase).

Choices the paper leaves open, and ours:
* input features: log(1 + |X|) of the mixture magnitude (the paper says "amplitude spectrum"; the
  log compression keeps the GRU inputs in a sane range whatever the recording's level, as open-unmix
  does with its input scaling), the masks are applied to the linear magnitude;
* loss: mean squared error between the masked estimates and the true source magnitudes, all four
  sources at once (open-unmix's loss; the paper names none);
* the sample rate S_t and segment length T are configuration (the paper gives no numbers).

Training batches hold waveforms, `{"mixture": (B, samples), "sources": (B, 4, samples)}`, at the
config's sample rate; generation/datasets.py has them rendered from MIDI pieces
(generation/separation/stems.py). Nothing here imports Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from generation.nets.base import ModelConfig, TrainableModel, register_variant

SOURCES = ("bass", "drums", "music", "vocals")  # the order of the heads and of batch["sources"]
EPSILON = 1e-8  # keeps the mask defined where every head says zero (then each source gets 1/4)


def stft(audio: Tensor, *, n_fft: int, hop: int) -> Tensor:
    """Complex STFT with a Hann window and centred frames.

    Args:
        audio: (..., samples) waveforms.

    Returns:
        (..., frames, bins) complex spectrogram, frames = samples // hop + 1, bins = n_fft // 2 + 1.
    """
    flat = audio.reshape(-1, audio.shape[-1])
    window = torch.hann_window(n_fft, device=audio.device, dtype=audio.dtype)
    spec = torch.stft(flat, n_fft=n_fft, hop_length=hop, window=window, center=True, return_complex=True)
    return spec.transpose(-1, -2).reshape(*audio.shape[:-1], spec.shape[-1], spec.shape[-2])


def istft(spec: Tensor, *, n_fft: int, hop: int, length: int) -> Tensor:
    """Inverse of `stft`: (..., frames, bins) complex -> (..., length) waveforms (overlap-add)."""
    flat = spec.reshape(-1, *spec.shape[-2:]).transpose(-1, -2)
    window = torch.hann_window(n_fft, device=spec.device, dtype=spec.real.dtype)
    audio = torch.istft(flat, n_fft=n_fft, hop_length=hop, window=window, center=True, length=length)
    return audio.reshape(*spec.shape[:-2], length)


@dataclass
class SeparationConfig(ModelConfig):
    """Rebuilds a separation network. Defaults are the paper's architecture at a CPU-friendly rate."""

    sample_rate: int = 16000  # S_t: the paper gives none; 16 kHz keeps bass/voice detail, halves cost
    segment_seconds: float = 4.0  # T: training segment length; long enough for a few bars
    n_fft: int = 1024  # the paper's STFT window
    hop: int = 512  # the paper's STFT shift (half the window: Hann overlap-add reconstructs exactly)
    hidden: int = 256  # the paper's GRU width
    layers: int = 3  # the paper's GRU depth
    dropout: float = 0.0  # between GRU layers; the paper mentions none

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        # seconds-long CPU tests: a short 8 kHz segment and a thin network
        "tiny": {"sample_rate": 8000, "segment_seconds": 1.0, "hidden": 32, "layers": 2},
        # a CPU run: 3 GRU layers as the paper, half the width (< 3 MB), 2 s segments (63 frames)
        "small": {"sample_rate": 16000, "segment_seconds": 2.0, "hidden": 128, "layers": 3},
        # the paper's network (3 x GRU 256); the paper names no rate, and 16 kHz is what the data,
        # the ingest and the committed model use (the cost per second of audio is a third of 44.1 kHz)
        "paper": {"sample_rate": 16000, "segment_seconds": 2.0, "hidden": 256, "layers": 3},
    }
    TRAINING: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"batch_size": 4, "steps": 200},
        "small": {"batch_size": 8, "steps": 1200},  # a quick CPU run (the committed model until 2026-12-02)
        # the paper preset's own run (the committed model): the learning rate x0.96 every 600 steps (x0.46 by the end)
        "paper": {"batch_size": 32, "steps": 12000, "decay_every": 600},
    }

    @property
    def bins(self) -> int:
        """Frequency bins of the one-sided STFT."""
        return self.n_fft // 2 + 1

    @property
    def segment_samples(self) -> int:
        return int(round(self.sample_rate * self.segment_seconds))


@register_variant("separation")
class SeparationRNN(TrainableModel):
    """Three GRU layers over mixture frames, one ReLU head per source, ratio masks (paper eq. 1-4)."""

    Config = SeparationConfig
    sources: ClassVar[tuple[str, ...]] = SOURCES

    def __init__(self, config: SeparationConfig):
        super().__init__(config)
        bins = config.bins
        self.gru = nn.GRU(
            input_size=bins,
            hidden_size=config.hidden,
            num_layers=config.layers,
            batch_first=True,
            dropout=config.dropout if config.layers > 1 else 0.0,
        )
        self.heads = nn.ModuleList(nn.Sequential(nn.Linear(config.hidden, bins), nn.ReLU()) for _ in SOURCES)

    # ------------------------------------------------------------------------------ transforms

    def stft(self, audio: Tensor) -> Tensor:
        """(..., samples) waveforms -> (..., frames, bins) complex spectrogram (see `stft`)."""
        return stft(audio, n_fft=self.config.n_fft, hop=self.config.hop)

    def istft(self, spec: Tensor, length: int) -> Tensor:
        """(..., frames, bins) complex -> (..., length) waveforms (see `istft`)."""
        return istft(spec, n_fft=self.config.n_fft, hop=self.config.hop, length=length)

    # ---------------------------------------------------------------------------------- network

    def estimates(self, mixture: Tensor) -> Tensor:
        """The heads' raw non-negative estimates B', D', M', V'.

        Args:
            mixture: (B, frames, bins) mixture magnitudes.

        Returns:
            (B, 4, frames, bins), each >= 0.
        """
        hidden, _ = self.gru(torch.log1p(mixture))
        return torch.stack([head(hidden) for head in self.heads], dim=1)

    def masks(self, mixture: Tensor) -> Tensor:
        """Ratio masks estimate_j / C' (paper eq. 1-4).

        Args:
            mixture: (B, frames, bins) mixture magnitudes.

        Returns:
            (B, 4, frames, bins) in [0, 1], summing to 1 over the sources at every bin.
        """
        raw = self.estimates(mixture) + EPSILON / len(SOURCES)
        return raw / raw.sum(dim=1, keepdim=True)

    def forward(self, mixture: Tensor) -> Tensor:
        """Separate magnitudes.

        Args:
            mixture: (B, frames, bins) mixture magnitudes.

        Returns:
            (B, 4, frames, bins) source magnitudes (bass, drums, music, vocals) summing to `mixture`.
        """
        return self.masks(mixture) * mixture.unsqueeze(1)

    def training_loss(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        """MSE between the masked estimates and the true source magnitudes.

        Args:
            batch: "mixture" (B, samples) and "sources" (B, 4, samples) waveforms.
        """
        mixture = self.stft(batch["mixture"]).abs()
        target = self.stft(batch["sources"]).abs()
        estimate = self(mixture)
        per_source = ((estimate - target) ** 2).mean(dim=(0, 2, 3))
        metrics = {f"mse_{name}": float(value) for name, value in zip(SOURCES, per_source.detach())}
        return per_source.mean(), metrics

    @torch.no_grad()
    def separate(self, audio: Tensor) -> Tensor:
        """Separate waveforms with the mixture's phase.

        Args:
            audio: (B, samples) mono waveforms at the config's sample rate (stereo: one row per
                channel).

        Returns:
            (B, 4, samples) waveforms of bass, drums, music, vocals; they add up to `audio` (up to
            the STFT round trip's float error).
        """
        spec = self.stft(audio)
        masks = self.masks(spec.abs())
        return self.istft(masks * spec.unsqueeze(1), audio.shape[-1])
