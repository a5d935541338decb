import io

import numpy as np
import pytest
import soundfile as sf

from studies.volunteer import headphones
from studies.volunteer.headphones import INTERVALS, TRIALS, HugginsConfig, huggins_trial

CONFIG = HugginsConfig()
N = int(CONFIG.noise_s * CONFIG.sample_rate)
GAP = int(CONFIG.gap_s * CONFIG.sample_rate)


def intervals(trial: np.ndarray) -> list[np.ndarray]:
    return [trial[i * (N + GAP) : i * (N + GAP) + N] for i in range(INTERVALS)]


def band_power(signal: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(signal)) ** 2
    freqs = np.fft.rfftfreq(signal.size, 1 / CONFIG.sample_rate)
    return float(spectrum[(freqs >= low) & (freqs <= high)].sum())


@pytest.mark.parametrize("target", range(INTERVALS))
def test_only_the_target_interval_is_dichotic(target):
    trial = huggins_trial(seed=7, pitch_interval=target)
    assert trial.shape == (INTERVALS * N + (INTERVALS - 1) * GAP, 2)
    assert trial.dtype == np.float32
    assert np.abs(trial).max() <= 1.0
    for i, noise in enumerate(intervals(trial)):
        if i == target:
            assert not np.allclose(noise[:, 0], noise[:, 1])
        else:
            np.testing.assert_array_equal(noise[:, 0], noise[:, 1])
    # The silences between noises are silent.
    assert np.abs(trial[N : N + GAP]).max() == 0


def test_the_phase_inverted_band_sits_at_600_hz():
    noise = intervals(huggins_trial(seed=3, pitch_interval=1))[1].astype(np.float64)
    left, right = noise[:, 0], noise[:, 1]
    difference = left - right  # only the inverted band survives
    centre, half = CONFIG.centre_hz, CONFIG.centre_hz * CONFIG.bandwidth
    inside = band_power(difference, centre - half, centre + half)
    outside = band_power(difference, 0, centre - 2 * half) + band_power(difference, centre + 2 * half, 11025)
    assert outside < 0.02 * inside
    # Mixed to mono (a loudspeaker), the band cancels: a notch, not a tone.
    mono = left + right
    assert band_power(mono, centre - half * 0.8, centre + half * 0.8) < 0.02 * band_power(
        mono, 1000, 1000 + 2 * half
    )
    # The band itself is a phase inversion: the channels are anti-correlated there.
    spec_l, spec_r = np.fft.rfft(left), np.fft.rfft(right)
    freqs = np.fft.rfftfreq(left.size, 1 / CONFIG.sample_rate)
    band = np.abs(freqs - centre) <= half * 0.8
    cross = np.real(np.sum(spec_l[band] * np.conj(spec_r[band])))
    assert cross < -0.9 * np.sum(np.abs(spec_l[band]) ** 2)


def test_same_seed_same_sound_other_seed_other_sound():
    a = huggins_trial(seed=11, pitch_interval=2)
    np.testing.assert_array_equal(a, huggins_trial(seed=11, pitch_interval=2))
    assert not np.allclose(a, huggins_trial(seed=12, pitch_interval=2))


def test_rejects_an_interval_that_does_not_exist():
    with pytest.raises(ValueError, match="pitch_interval"):
        huggins_trial(seed=1, pitch_interval=3)


def test_wav_bytes_round_trip_without_metadata():
    trial = huggins_trial(seed=5, pitch_interval=0)
    data = headphones.wav_bytes(trial, CONFIG.sample_rate)
    assert data[:4] == b"RIFF" and b"LIST" not in data
    samples, rate = sf.read(io.BytesIO(data), dtype="float32")
    assert rate == CONFIG.sample_rate and samples.shape == trial.shape
    assert np.abs(samples - trial).max() < 1e-4
    assert len(data) < 400_000


def test_volume_tone_is_a_steady_1_khz_tone():
    tone = headphones.volume_tone(sample_rate=22050, seconds=2.0)
    assert tone.shape == (44100, 2)
    spectrum = np.abs(np.fft.rfft(tone[:, 0]))
    assert np.fft.rfftfreq(tone.shape[0], 1 / 22050)[spectrum.argmax()] == pytest.approx(1000, abs=1)
    rms_db = 20 * np.log10(np.sqrt(np.mean(tone[2205:-2205, 0] ** 2)))
    assert rms_db == pytest.approx(-23.0, abs=0.2)  # -20 dB peak sine = -23 dB RMS


def test_plan_and_score():
    plan = headphones.new_plan(np.random.default_rng(0))
    assert len(plan["seeds"]) == len(plan["answers"]) == TRIALS
    assert set(plan["answers"]) <= set(range(INTERVALS))
    assert len(set(plan["seeds"])) == TRIALS
    plan["responses"] = list(plan["answers"])
    assert headphones.score(plan) == TRIALS
    plan["responses"] = [(a + 1) % INTERVALS for a in plan["answers"]]
    assert headphones.score(plan) == 0
    plan["responses"] = plan["answers"][:4] + [(a + 1) % INTERVALS for a in plan["answers"][4:]]
    assert headphones.score(plan) == 4
