"""Reading and measuring audio files. Pure Python (no Django): soundfile first, librosa as a fallback.

Every part of docbgm that looks at audio (stimuli, evaluation, separation, uploads) reads it here, so
that one file always gives the same samples and the same loudness figure.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# BS.1770 gating needs at least one 400 ms block; anything shorter has no integrated loudness.
MIN_LOUDNESS_SECONDS = 0.4


class AudioError(Exception):
    """An audio file that cannot be read or measured; the message names the file."""


@dataclass
class AudioInfo:
    """What a stimulus or an upload records about its audio."""

    duration_s: float
    loudness_lufs: float  # integrated loudness, ITU-R BS.1770 (-inf for digital silence)
    sample_rate: int
    channels: int
    sha256: str  # of the file's bytes, so a changed file (even re-tagged) is noticed


def sha256_file(path: str | Path, *, chunk_size: int = 1 << 20) -> str:
    """The hex sha256 of a file's bytes, read in chunks so large files need little memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read wav/flac/ogg/mp3 (and whatever librosa can decode) as float32 samples.

    Args:
        path: the audio file.

    Returns:
        (samples, sample_rate) with samples of shape (n, channels), float32 in [-1, 1].

    Raises:
        AudioError: the file is missing or no decoder can read it.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such audio file")
    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return np.ascontiguousarray(samples), int(rate)
    except (sf.LibsndfileError, RuntimeError, TypeError) as soundfile_error:
        first_error = soundfile_error
    try:
        import librosa

        with warnings.catch_warnings():
            # librosa warns when it falls back to audioread; the fallback is the point here.
            warnings.simplefilter("ignore")
            samples, rate = librosa.load(str(path), sr=None, mono=False)
    except Exception as librosa_error:  # noqa: BLE001 - any decoder failure means "unreadable"
        raise AudioError(
            f"{path.name}: not a readable audio file (soundfile: {first_error}; librosa: {librosa_error})"
        ) from librosa_error
    samples = np.asarray(samples, dtype=np.float32)
    samples = samples[:, None] if samples.ndim == 1 else samples.T
    return np.ascontiguousarray(samples), int(rate)


def integrated_loudness(samples: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770-4, K-weighting and gating, via pyloudnorm).

    Args:
        samples: (n,) mono or (n, channels) audio.
        sample_rate: in Hz.

    Returns:
        The loudness in LUFS; -inf for digital silence.

    Raises:
        AudioError: the audio is shorter than one 400 ms gating block.
    """
    import pyloudnorm

    samples = np.asarray(samples, dtype=np.float64)
    if samples.shape[0] < int(MIN_LOUDNESS_SECONDS * sample_rate):
        raise AudioError(
            f"{samples.shape[0] / sample_rate:.3f} s of audio is too short for BS.1770 loudness "
            f"(at least {MIN_LOUDNESS_SECONDS} s)"
        )
    if not np.any(samples):
        return float("-inf")
    with warnings.catch_warnings():
        # pyloudnorm warns about clipping of float input above 1.0; the number is still correct.
        warnings.simplefilter("ignore")
        return float(pyloudnorm.Meter(sample_rate).integrated_loudness(samples))


def probe_audio(path: str | Path) -> AudioInfo:
    """Read a file and describe it: duration, loudness, rate, channels and sha256.

    Raises:
        AudioError: with the file name, for a missing, unreadable or too short file.
    """
    path = Path(path)
    samples, rate = read_audio(path)
    try:
        loudness = integrated_loudness(samples, rate)
    except AudioError as error:
        raise AudioError(f"{path.name}: {error}") from error
    return AudioInfo(
        duration_s=samples.shape[0] / rate,
        loudness_lufs=loudness,
        sample_rate=rate,
        channels=samples.shape[1],
        sha256=sha256_file(path),
    )
