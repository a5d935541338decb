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


# MPEG audio frame headers (ISO 11172-3 / 13818-3), Layer III only: what every stored clip is.
_MP3_BITRATES_KBPS = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG-1
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2 and 2.5
}
_MP3_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_MP3_CHANNEL_MODES = ("stereo", "joint stereo", "dual channel", "mono")


@dataclass(frozen=True)
class Mp3Format:
    """How an MP3 stream was encoded, read from its frame headers: what a browser could compare.

    `bitrate_kbps` is None when the frames do not all share one bitrate (variable bitrate); a
    variable-bitrate file's size follows its content, so two clips of one item could differ.
    """

    sample_rate: int
    channel_mode: str
    bitrate_kbps: int | None
    frames: int
    encoder: str  # the encoder's tag in the first frame ("LAME3.100"), "" when there is none


def mp3_format(path: str | Path, *, max_bytes: int = 64 << 20) -> Mp3Format:
    """Walk every MPEG-1/2/2.5 Layer III frame of an MP3 file (after any ID3v2 tag).

    Raises:
        AudioError: not an MP3 stream, frames of different sample rates or channel modes, or a
            file larger than `max_bytes`.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise AudioError(f"{path.name}: {size} bytes is larger than an MP3 clip may be ({max_bytes})")
    data = path.read_bytes()
    offset = 0
    while data[offset : offset + 3] == b"ID3" and len(data) >= offset + 10:
        syncsafe = data[offset + 6 : offset + 10]
        tag = (syncsafe[0] << 21) | (syncsafe[1] << 14) | (syncsafe[2] << 7) | syncsafe[3]
        offset += 10 + tag + (10 if data[offset + 5] & 0x10 else 0)
    end = len(data) - (128 if data[-128:-125] == b"TAG" else 0)
    layouts, bitrates, frames, encoder = set(), set(), 0, ""
    while offset + 4 <= end:
        header = int.from_bytes(data[offset : offset + 4], "big")
        version, layer = (header >> 19) & 3, (header >> 17) & 3
        bitrate_index, rate_index = (header >> 12) & 15, (header >> 10) & 3
        if header >> 21 != 0x7FF or version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
            raise AudioError(f"{path.name}: no MPEG Layer III frame at byte {offset}")
        mpeg1 = version == 3
        bitrate = _MP3_BITRATES_KBPS[1 if mpeg1 else 2][bitrate_index]
        rate = _MP3_SAMPLE_RATES[version][rate_index]
        length = (144 if mpeg1 else 72) * bitrate * 1000 // rate + ((header >> 9) & 1)
        if frames == 0:
            for marker in (b"LAME", b"Lavc", b"Lavf"):
                found = data.find(marker, offset, offset + length)
                if found >= 0:
                    encoder = data[found : found + 9].split(b"\0")[0].decode("ascii", "replace").strip()
                    break
        layouts.add((rate, _MP3_CHANNEL_MODES[(header >> 6) & 3]))
        bitrates.add(bitrate)
        frames += 1
        offset += length
    if not frames:
        raise AudioError(f"{path.name}: no MPEG audio frames")
    if len(layouts) > 1:
        raise AudioError(f"{path.name}: frames of several sample rates or channel modes: {sorted(layouts)}")
    ((rate, mode),) = layouts
    return Mp3Format(
        sample_rate=rate,
        channel_mode=mode,
        bitrate_kbps=bitrates.pop() if len(bitrates) == 1 else None,
        frames=frames,
        encoder=encoder,
    )
