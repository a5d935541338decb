"""Separation at the input's own sample rate: the model's masks applied to the input's STFT.

The network hears its own rate (16 kHz for the committed model), but a user's recording has its
own (often 44.1 or 48 kHz), and the separation tools people compare us with give the stems back at
that rate. Resampling the model's estimates back up would lose everything above the model's Nyquist
frequency and the stems would no longer add up to the recording. So:

1. the recording is resampled to the model's rate and the model computes its ratio masks there,
   (frames, bins) per source, summing to 1 at every bin;
2. the recording's own STFT is taken with a window of the same duration (model n_fft scaled by the
   rate ratio, hop half of it, Hann: overlap-add reconstructs exactly);
3. the masks are carried onto that STFT's grid by linear interpolation in time and frequency (the
   interpolation weights of each target point sum to 1, so the masks still sum to 1); above the
   model's Nyquist frequency each frame keeps its top bin's mask;
4. each masked STFT is inverted. The masks sum to 1, so the stems sum to the recording up to the
   STFT round trip's float error.

At the model's own rate this is exactly `SeparationRNN.separate`. Nothing here imports Django.
"""

from __future__ import annotations

import librosa
import numpy as np
import torch

from generation.nets.separation import SOURCES, SeparationRNN, istft, stft


def interpolation_matrix(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Linear interpolation as a matrix: values at `source` points -> values at `target` points.

    Args:
        source: (m,) increasing positions of the known values.
        target: (n,) positions to interpolate at; beyond either end the end value is kept.

    Returns:
        (n, m) weights; every row is non-negative and sums to 1.
    """
    weights = np.zeros((len(target), len(source)))
    if len(source) == 1:
        weights[:, 0] = 1.0
        return weights
    clipped = np.clip(target, source[0], source[-1])
    right = np.clip(np.searchsorted(source, clipped, side="right"), 1, len(source) - 1)
    left = right - 1
    share = (clipped - source[left]) / (source[right] - source[left])
    rows = np.arange(len(target))
    weights[rows, left] = 1.0 - share
    weights[rows, right] += share
    return weights


def input_stft_size(model_n_fft: int, model_rate: int, sample_rate: int) -> int:
    """The input STFT's window: the model's window duration at `sample_rate`, an even number of samples."""
    return max(2, 2 * int(round(model_n_fft * sample_rate / model_rate / 2)))


@torch.no_grad()
def separate_at_rate(model: SeparationRNN, audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Separate waveforms at their own sample rate.

    Args:
        model: a separation network (any config rate).
        audio: (channels, samples) waveforms at `sample_rate`; each channel is separated on its own.
        sample_rate: of `audio`.

    Returns:
        (channels, 4, samples) float32 stems (bass, drums, music, vocals) at `sample_rate`; over the
        four sources they add up to `audio` (up to the STFT round trip's float error).
    """
    model.eval()
    audio = np.ascontiguousarray(np.atleast_2d(audio), dtype=np.float32)
    config = model.config
    if sample_rate == config.sample_rate:
        return model.separate(torch.from_numpy(audio)).numpy()
    at_model_rate = librosa.resample(audio, orig_sr=sample_rate, target_sr=config.sample_rate)
    n_fft = input_stft_size(config.n_fft, config.sample_rate, sample_rate)
    hop = n_fft // 2
    stems = np.zeros((audio.shape[0], len(SOURCES), audio.shape[1]), dtype=np.float32)
    for channel, (own, resampled) in enumerate(zip(audio, at_model_rate)):  # one at a time: memory
        model_spec = model.stft(torch.from_numpy(np.ascontiguousarray(resampled, dtype=np.float32)))
        masks = model.masks(model_spec.abs().unsqueeze(0))[0].numpy()  # (4, frames, bins)
        spec = stft(torch.from_numpy(own), n_fft=n_fft, hop=hop)  # (frames', bins')
        model_times = np.arange(masks.shape[1]) * config.hop / config.sample_rate
        model_freqs = np.arange(masks.shape[2]) * config.sample_rate / config.n_fft
        times = np.arange(spec.shape[0]) * hop / sample_rate
        freqs = np.arange(spec.shape[1]) * sample_rate / n_fft
        in_time = interpolation_matrix(model_times, times).astype(np.float32)  # (frames', frames)
        in_freq = interpolation_matrix(model_freqs, freqs).astype(np.float32)  # (bins', bins)
        carried = torch.from_numpy(in_time @ masks @ in_freq.T)  # (4, frames', bins')
        stems[channel] = istft(carried * spec, n_fft=n_fft, hop=hop, length=audio.shape[1]).numpy()
    return stems
