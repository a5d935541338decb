"""generation/audio.py: reading, probing and measuring audio files."""

import hashlib
import math

import numpy as np
import pytest
import soundfile as sf

from generation.audio import AudioError, integrated_loudness, probe_audio, read_audio, sha256_file

RATE = 44100


def sine(seconds: float, amplitude: float, *, channels: int = 2, freq: float = 1000.0) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    wave = (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(wave[:, None], channels, axis=1)


def test_read_audio_returns_frames_by_channels_for_wav_and_flac(tmp_path):
    samples = sine(1.0, 0.5)
    for name in ("a.wav", "a.flac"):
        sf.write(tmp_path / name, samples, RATE, subtype="PCM_24")
        read, rate = read_audio(tmp_path / name)
        assert rate == RATE
        assert read.shape == (RATE, 2)
        assert read.dtype == np.float32
        assert np.max(np.abs(read - samples)) < 1e-4


def test_read_audio_mono_is_two_dimensional(tmp_path):
    sf.write(tmp_path / "m.wav", sine(0.5, 0.3, channels=1)[:, 0], RATE)
    read, _ = read_audio(tmp_path / "m.wav")
    assert read.shape == (RATE // 2, 1)


def test_integrated_loudness_of_full_scale_sine_matches_bs1770():
    # BS.1770: a 0 dBFS 1 kHz sine in one channel reads -3.01 LUFS; in two channels +3 dB more.
    assert integrated_loudness(sine(3.0, 1.0, channels=1), RATE) == pytest.approx(-3.01, abs=0.05)
    assert integrated_loudness(sine(3.0, 1.0, channels=2), RATE) == pytest.approx(0.0, abs=0.05)
    # 20 dB quieter reads 20 LU lower.
    assert integrated_loudness(sine(3.0, 0.1, channels=2), RATE) == pytest.approx(-20.0, abs=0.05)


def test_integrated_loudness_of_silence_and_too_short_audio():
    assert integrated_loudness(np.zeros((RATE, 2), dtype=np.float32), RATE) == -math.inf
    with pytest.raises(AudioError, match="too short"):
        integrated_loudness(sine(0.1, 0.5), RATE)


def test_probe_audio_describes_the_file(tmp_path):
    path = tmp_path / "clip.flac"
    sf.write(path, sine(2.0, 0.1), RATE)
    info = probe_audio(path)
    assert info.duration_s == pytest.approx(2.0)
    assert info.sample_rate == RATE
    assert info.channels == 2
    assert info.loudness_lufs == pytest.approx(-20.0, abs=0.1)
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() == sha256_file(path)


def test_probe_audio_names_an_unreadable_file(tmp_path):
    bad = tmp_path / "not-audio.mp3"
    bad.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(AudioError, match="not-audio.mp3"):
        probe_audio(bad)
    with pytest.raises(AudioError, match="missing.wav"):
        probe_audio(tmp_path / "missing.wav")
