"""Stems at the input's sample rate (generation/separation/inference.py, `separate`, ingest)."""

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch
from django.core.management import call_command
from django.core.management.base import CommandError

from generation.checkpoints import load_model, save_checkpoint
from generation.nets.base import build_model
from generation.nets.separation import SOURCES
from generation.separation.inference import input_stft_size, interpolation_matrix, separate_at_rate
from generation.separation.ingest import transcribe

CD_RATE = 44100


def tone_mixture(seconds: float, rate: int) -> np.ndarray:
    """A bass sine, a chord, and a 12 kHz tone that only a rate above 24 kHz can hold, (samples,)."""
    t = np.arange(int(seconds * rate)) / rate
    bass = 0.3 * np.sin(2 * np.pi * 55 * t)
    chord = 0.1 * sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0))
    air = 0.05 * np.sin(2 * np.pi * 12000 * t)
    return (bass + chord + air).astype(np.float32)


def test_interpolation_matrix_rows_sum_to_one_and_follow_lines():
    source = np.array([0.0, 1.0, 2.0, 4.0])
    target = np.array([-1.0, 0.0, 0.5, 3.0, 4.0, 9.0])
    weights = interpolation_matrix(source, target)
    assert weights.shape == (6, 4) and (weights >= 0).all()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    # a linear function comes back exactly inside, its end values outside
    np.testing.assert_allclose(weights @ (3 * source + 1), [1.0, 1.0, 2.5, 10.0, 13.0, 13.0])
    assert input_stft_size(1024, 16000, 44100) == 2822
    assert input_stft_size(1024, 16000, 16000) == 1024


def test_at_the_models_rate_it_is_the_models_own_separation():
    torch.manual_seed(0)
    model = build_model("separation", "tiny")  # 8 kHz
    audio = tone_mixture(1.5, 8000)[None]
    expected = model.separate(torch.from_numpy(audio)).numpy()
    np.testing.assert_array_equal(separate_at_rate(model, audio, 8000), expected)


def test_a_44k_input_gets_44k_stems_that_rebuild_it():
    torch.manual_seed(0)
    model = build_model("separation", "tiny")  # 8 kHz: 12 kHz is far above its Nyquist frequency
    mixture = tone_mixture(2.0, CD_RATE)
    stereo = np.stack([mixture, 0.5 * mixture])
    stems = separate_at_rate(model, stereo, CD_RATE)
    assert stems.shape == (2, len(SOURCES), len(mixture)) and stems.dtype == np.float32
    assert np.abs(stems.sum(axis=1) - stereo).max() < 1e-4
    # the 12 kHz tone is in the stems: estimates made at 8 kHz and resampled back could not hold it
    spectrum = np.abs(np.fft.rfft(stems[0].sum(axis=0)))
    original = np.abs(np.fft.rfft(stereo[0]))
    peak = int(round(12000 * len(mixture) / CD_RATE))
    assert spectrum[peak] > 0.99 * original[peak] > 0


def test_44k_stems_carry_the_models_separation():
    """Downsampled, the 44.1 kHz stems match what the model gives at its own rate."""
    model = load_model("separation")
    rate = model.config.sample_rate
    mixture = tone_mixture(3.0, CD_RATE)
    own = separate_at_rate(model, mixture[None], CD_RATE)[0]
    at_model_rate = separate_at_rate(
        model, librosa.resample(mixture, orig_sr=CD_RATE, target_sr=rate)[None], rate
    )[0]
    down = librosa.resample(own, orig_sr=CD_RATE, target_sr=rate)[:, : at_model_rate.shape[1]]
    for source in range(len(SOURCES)):
        error = np.sum((down[source] - at_model_rate[source]) ** 2)
        assert error <= 0.05 * np.sum(at_model_rate[source] ** 2) + 1e-6, SOURCES[source]
    # and the sources differ: the masks were not flattened on the way
    energy = np.sum(own**2, axis=1)
    assert energy.max() > 4 * energy.min()


def test_separate_command_writes_stems_at_the_inputs_rate(tmp_path):
    torch.manual_seed(0)
    checkpoint = save_checkpoint(build_model("separation", "tiny"), tmp_path / "tiny", extra={})
    mixture = tone_mixture(1.0, CD_RATE)
    stereo = np.stack([mixture, -0.5 * mixture], axis=1)
    sf.write(tmp_path / "song.wav", stereo, CD_RATE, subtype="FLOAT")
    call_command(
        "separate", str(tmp_path / "song.wav"), out=str(tmp_path / "stems"), checkpoint=str(checkpoint)
    )
    total = 0
    for source in SOURCES:
        audio, rate = sf.read(tmp_path / "stems" / f"{source}.wav", always_2d=True)
        assert rate == CD_RATE and audio.shape == stereo.shape
        total = total + audio
    assert np.abs(total - stereo).max() < 1e-4


def test_separate_command_refuses_an_empty_recording(tmp_path):
    sf.write(tmp_path / "empty.wav", np.zeros((0, 1), dtype=np.float32), CD_RATE)
    with pytest.raises(CommandError, match="no samples"):
        call_command("separate", str(tmp_path / "empty.wav"), out=str(tmp_path / "stems"))
    assert not (tmp_path / "stems").exists()


def test_ingest_returns_stems_at_the_recordings_rate():
    model = load_model("separation")
    t = np.arange(int(4.0 * CD_RATE)) / CD_RATE
    tune = np.concatenate([np.sin(2 * np.pi * f * t[: len(t) // 4]) for f in (523.3, 587.3, 659.3, 523.3)])
    recording = (0.2 * tune + tone_mixture(4.0, CD_RATE)[: len(tune)]).astype(np.float32)
    result = transcribe(recording, CD_RATE, model, key="tones")
    assert result.sample_rate == CD_RATE
    assert result.stems.shape == (len(SOURCES), len(recording))
    assert np.abs(result.stems.sum(axis=0) - recording).max() < 1e-4
