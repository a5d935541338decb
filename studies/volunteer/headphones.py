"""Headphone screening stimuli: the Huggins-pitch test (Milne et al. 2021) and a volume-check tone.

The Huggins pitch is heard only when each ear gets its own signal: both ears receive the same
white noise, except that in a narrow band (600 Hz +- 6 %) one ear's copy is phase-inverted. Over
headphones a faint tone pops out of the noise; over loudspeakers the two channels mix in the air
and the tone is not there. Each trial plays three one-second noises; the listener says which one
held the tone. Milne et al. found 6 trials with a pass mark of 4 separates headphones from
loudspeakers better than the older antiphase test (Woods et al. 2017).

The answer key never leaves the server: a trial is served as one WAV holding all three noises,
and which interval holds the pitch is drawn per participant and kept in the Django session.
Pure numpy; no Django here.
"""

import io
from dataclasses import dataclass

import numpy as np
import soundfile as sf

TRIALS = 6  # Milne et al. 2021: six trials ...
PASS_MARK = 4  # ... passed with at least four correct.
INTERVALS = 3  # three noises per trial, one holds the pitch


@dataclass(frozen=True)
class HugginsConfig:
    sample_rate: int = 22050  # plenty for a 600 Hz pitch and keeps each trial's WAV small (~300 kB)
    noise_s: float = 1.0  # each noise lasts one second, as in Milne et al.
    gap_s: float = 0.5  # silence between the noises
    centre_hz: float = 600.0  # the Huggins pitch
    bandwidth: float = 0.06  # the phase-inverted band is centre +- 6 %
    ramp_s: float = 0.02  # raised-cosine on/off ramps, so the noises do not click
    level: float = 0.15  # RMS of the noise; peaks stay below full scale (1.0)


def _ramp(n: int, ramp: int) -> np.ndarray:
    """An envelope (n,) rising and falling over `ramp` samples with a raised cosine."""
    env = np.ones(n)
    rise = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, ramp))
    env[:ramp] = rise
    env[n - ramp :] = rise[::-1]
    return env


def huggins_noise(rng: np.random.Generator, *, with_pitch: bool, config: HugginsConfig) -> np.ndarray:
    """One noise interval.

    Returns:
        (samples, 2) float64: identical channels (diotic), or, with `with_pitch`, the right
        channel is the left with the band around `centre_hz` phase-inverted (dichotic).
    """
    n = int(round(config.noise_s * config.sample_rate))
    spectrum = np.fft.rfft(rng.standard_normal(n))
    left = np.fft.irfft(spectrum, n)
    if with_pitch:
        freqs = np.fft.rfftfreq(n, 1 / config.sample_rate)
        band = np.abs(freqs - config.centre_hz) <= config.centre_hz * config.bandwidth
        right = np.fft.irfft(np.where(band, -spectrum, spectrum), n)
    else:
        right = left.copy()
    stereo = np.stack([left, right], axis=1)
    stereo *= config.level / np.sqrt(np.mean(left**2))
    return stereo * _ramp(n, int(config.ramp_s * config.sample_rate))[:, None]


def huggins_trial(*, seed: int, pitch_interval: int, config: HugginsConfig = HugginsConfig()) -> np.ndarray:
    """The three noises of one trial, separated by silence.

    Args:
        seed: fixes the noise, so that a reloaded page hears the same sound.
        pitch_interval: 0, 1 or 2, the noise that holds the pitch.

    Returns:
        (samples, 2) float32 in [-1, 1].
    """
    if pitch_interval not in range(INTERVALS):
        raise ValueError(f"pitch_interval must be 0..{INTERVALS - 1}, got {pitch_interval}")
    rng = np.random.default_rng(seed)
    gap = np.zeros((int(round(config.gap_s * config.sample_rate)), 2))
    parts = []
    for i in range(INTERVALS):
        if i:
            parts.append(gap)
        parts.append(huggins_noise(rng, with_pitch=i == pitch_interval, config=config))
    return np.clip(np.concatenate(parts), -1, 1).astype(np.float32)


def volume_tone(
    *, sample_rate: int = 22050, seconds: float = 2.0, hz: float = 1000.0, level_db: float = -20.0
):
    """A steady calibration tone (samples, 2) float32, set to a comfortable level before the test."""
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    tone = 10 ** (level_db / 20) * np.sin(2 * np.pi * hz * t) * _ramp(t.size, int(0.05 * sample_rate))
    return np.stack([tone, tone], axis=1).astype(np.float32)


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM WAV with no metadata chunks."""
    buffer = io.BytesIO()
    sf.write(buffer, samples, sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def new_plan(rng: np.random.Generator) -> dict:
    """A participant's test: a noise seed per trial and the interval that holds the pitch."""
    return {
        "seeds": [int(s) for s in rng.integers(0, 2**31 - 1, size=TRIALS)],
        "answers": [int(a) for a in rng.integers(0, INTERVALS, size=TRIALS)],
        "responses": [],
    }


def score(plan: dict) -> int:
    """How many of the given responses were right."""
    return sum(int(r == a) for r, a in zip(plan["responses"], plan["answers"]))
