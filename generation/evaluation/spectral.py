"""Spectral comparison of generated and sample (real) music, as in the paper's Figures 3-5.

The paper shows spectra of generated and sample music and describes them in words ("many frequencies
not present in the sample music", "a difference of approximately 50-100 Hz"). We turn each statement
into a number:

* long-term average spectrum (LTAS): Welch's average power spectrum of the mono mix
  (Hann window of ``N_FFT`` samples, half overlap), normalised to sum to 1 over 20 Hz - Nyquist;
* spectral divergence: the Jensen-Shannon divergence (base 2, so 0 = identical, 1 = disjoint) between
  the two normalised LTAS, chosen because it is symmetric, bounded and finite where one spectrum
  has no energy;
* foreign-energy share: the share of the generated LTAS's energy in frequency bins the sample music
  "does not use", i.e. bins whose sample power is more than ``UNUSED_BELOW_DB`` below the sample's
  strongest bin (the paper's "frequencies not present in the sample music");
* spectrogram difference in Hz: the mean absolute difference of the spectral centroids of the two
  signals over time (librosa, frames where both are audible), the paper's "about 50-100 Hz".
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np
from scipy.signal import welch
from scipy.spatial.distance import jensenshannon

N_FFT = 4096  # ~93 ms at 44.1 kHz: 10.8 Hz bins, fine enough to separate semitones above ~180 Hz
MIN_FREQUENCY_HZ = 20.0  # below hearing; DC and rumble would otherwise dominate nothing useful
UNUSED_BELOW_DB = 40.0  # a bin 40 dB under the sample's peak carries 1/10,000 of its power: "not used"
SPECTROGRAM_N_FFT = 2048
SPECTROGRAM_HOP = 512
SILENCE_DB = -60.0  # frames quieter than this (RMS, dBFS) are left out of the centroid comparison


@dataclass
class SpectrumComparison:
    """How a generated LTAS differs from the sample music's."""

    js_divergence: float  # bits, 0 = identical spectra, 1 = no common frequency
    foreign_energy_share: float  # share of generated energy in bins the sample does not use
    missing_energy_share: float  # share of sample energy in bins the generated music does not use


def to_mono(samples: np.ndarray) -> np.ndarray:
    """(n,) or (n, channels) -> (n,) float64 mean of the channels."""
    samples = np.asarray(samples, dtype=np.float64)
    return samples.mean(axis=1) if samples.ndim == 2 else samples


def long_term_average_spectrum(
    samples: np.ndarray, sample_rate: int, *, n_fft: int = N_FFT
) -> tuple[np.ndarray, np.ndarray]:
    """The normalised long-term average power spectrum.

    Args:
        samples: (n,) or (n, channels) audio.
        sample_rate: Hz.

    Returns:
        frequencies (bins,) in Hz from MIN_FREQUENCY_HZ up, and power (bins,) summing to 1 (all zeros
        for silence).
    """
    mono = to_mono(samples)
    if len(mono) < n_fft:
        mono = np.pad(mono, (0, n_fft - len(mono)))
    freqs, power = welch(mono, fs=sample_rate, window="hann", nperseg=n_fft, noverlap=n_fft // 2)
    keep = freqs >= MIN_FREQUENCY_HZ
    freqs, power = freqs[keep], power[keep]
    total = power.sum()
    return freqs, power / total if total > 0 else power


def average_spectrum(
    signals: list[np.ndarray], sample_rate: int, *, n_fft: int = N_FFT
) -> tuple[np.ndarray, np.ndarray]:
    """The mean of several normalised LTAS (each piece weighs the same), renormalised."""
    spectra = [long_term_average_spectrum(s, sample_rate, n_fft=n_fft) for s in signals]
    freqs = spectra[0][0]
    power = np.mean([p for _, p in spectra], axis=0)
    return freqs, power / power.sum() if power.sum() > 0 else power


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits (scipy returns its square root, the JS distance)."""
    return float(jensenshannon(p, q, base=2) ** 2)


def unused_bins(power: np.ndarray, *, below_db: float = UNUSED_BELOW_DB) -> np.ndarray:
    """Boolean mask of bins more than `below_db` dB under the strongest bin."""
    return power < power.max() * 10 ** (-below_db / 10)


def compare_spectra(
    generated: np.ndarray, sample: np.ndarray, *, below_db: float = UNUSED_BELOW_DB
) -> SpectrumComparison:
    """Compare two normalised spectra on the same bins (e.g. from ``average_spectrum``)."""
    if generated.shape != sample.shape:
        raise ValueError(f"spectra on different bins: {generated.shape} vs {sample.shape}")
    return SpectrumComparison(
        js_divergence=js_divergence(generated, sample),
        foreign_energy_share=float(generated[unused_bins(sample, below_db=below_db)].sum() / generated.sum()),
        missing_energy_share=float(sample[unused_bins(generated, below_db=below_db)].sum() / sample.sum()),
    )


def spectrogram_db(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Magnitude spectrogram in dB (ref = its maximum).

    Returns:
        times (frames,) s, frequencies (bins,) Hz, and (bins, frames) dB.
    """
    mono = to_mono(samples).astype(np.float32)
    spec = np.abs(librosa.stft(mono, n_fft=SPECTROGRAM_N_FFT, hop_length=SPECTROGRAM_HOP))
    db = librosa.amplitude_to_db(spec, ref=np.max) if spec.max() > 0 else np.full(spec.shape, -80.0)
    times = librosa.frames_to_time(np.arange(spec.shape[1]), sr=sample_rate, hop_length=SPECTROGRAM_HOP)
    freqs = librosa.fft_frequencies(sr=sample_rate, n_fft=SPECTROGRAM_N_FFT)
    return times, freqs, db


def spectral_centroid_track(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(frames,) spectral centroid in Hz, NaN on frames quieter than SILENCE_DB."""
    mono = to_mono(samples).astype(np.float32)
    centroid = librosa.feature.spectral_centroid(
        y=mono, sr=sample_rate, n_fft=SPECTROGRAM_N_FFT, hop_length=SPECTROGRAM_HOP
    )[0].astype(np.float64)
    rms = librosa.feature.rms(y=mono, frame_length=SPECTROGRAM_N_FFT, hop_length=SPECTROGRAM_HOP)[0]
    quiet = 20 * np.log10(np.maximum(rms, 1e-10)) < SILENCE_DB
    centroid[quiet[: len(centroid)]] = np.nan
    times = librosa.frames_to_time(np.arange(len(centroid)), sr=sample_rate, hop_length=SPECTROGRAM_HOP)
    return times, centroid


def centroid_difference_hz(a: np.ndarray, b: np.ndarray, sample_rate: int) -> float:
    """Mean absolute difference of spectral centroids over the frames where both signals are audible.

    The signals are compared frame by frame up to the shorter one's length; NaN if they never are
    audible at the same time.
    """
    _, ca = spectral_centroid_track(a, sample_rate)
    _, cb = spectral_centroid_track(b, sample_rate)
    n = min(len(ca), len(cb))
    diff = np.abs(ca[:n] - cb[:n])
    diff = diff[~np.isnan(diff)]
    return float(diff.mean()) if len(diff) else float("nan")
