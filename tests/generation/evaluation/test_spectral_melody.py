"""Spectral comparison (Figures 3-5) and melody contour / key (Figure 6) on signals with known answers."""

import math

import numpy as np
import pytest

from generation.evaluation import melody, spectral
from generation.music.encoding import HOLD, REST

SR = 22050


def tone(*freqs, seconds=2.0):
    t = np.arange(int(SR * seconds)) / SR
    return sum(0.3 * np.sin(2 * np.pi * f * t) for f in freqs)


def test_a_signal_against_itself_shows_no_divergence():
    music = np.stack([tone(220, 440, 660), tone(220, 440, 660)], axis=1)  # stereo
    freqs, p = spectral.long_term_average_spectrum(music, SR)
    assert freqs[0] >= spectral.MIN_FREQUENCY_HZ and p.sum() == pytest.approx(1.0)
    same = spectral.compare_spectra(p, p)
    assert same.js_divergence == 0.0
    assert same.foreign_energy_share < 1e-3
    assert spectral.centroid_difference_hz(music, music, SR) == 0.0


def test_noise_against_music_diverges_clearly():
    _, music = spectral.long_term_average_spectrum(tone(220, 440, 660), SR)
    _, noise = spectral.long_term_average_spectrum(np.random.default_rng(0).normal(0, 0.3, 2 * SR), SR)
    result = spectral.compare_spectra(noise, music)
    assert result.js_divergence > 0.8
    assert result.foreign_energy_share > 0.9  # white noise is almost all where the tones are not
    assert result.missing_energy_share == 0.0  # noise covers every frequency the tones use


def test_centroid_difference_is_in_hz():
    assert spectral.centroid_difference_hz(tone(440), tone(520), SR) == pytest.approx(80, abs=5)
    silence = np.zeros(2 * SR)
    assert math.isnan(spectral.centroid_difference_hz(silence, tone(440), SR))


def test_average_spectrum_weighs_pieces_equally():
    freqs, p = spectral.average_spectrum([tone(440), 0.01 * tone(880)], SR)
    near_440 = p[np.abs(freqs - 440) < 30].sum()
    near_880 = p[np.abs(freqs - 880) < 30].sum()
    assert near_440 == pytest.approx(0.5, abs=0.01) and near_880 == pytest.approx(0.5, abs=0.01)


def test_key_of_d_minor_and_c_major_melodies():
    def quarters(pitches):
        return np.array([t for p in pitches for t in (p, HOLD, HOLD, HOLD)])

    d_minor = melody.estimate_key(quarters([62, 64, 65, 67, 69, 70, 73, 74, 69, 65, 62]))
    assert d_minor.name == "D minor" and d_minor.mode == "minor"
    assert 0.8 < d_minor.correlation <= 1.0
    assert d_minor.runner_up_correlation < d_minor.correlation
    assert melody.estimate_key(quarters([60, 62, 64, 65, 67, 69, 71, 72])).name == "C major"
    assert melody.estimate_key(np.array([REST] * 8)).name == ""


def test_pitch_contour_puts_rests_as_gaps_and_continuations_after_the_segment():
    times, pitches = melody.pitch_contour(np.array([60, HOLD, REST, 62]), start_step=8)
    assert times.tolist() == [2.0, 2.25, 2.5, 2.75]
    assert pitches[:2].tolist() == [60, 60] and math.isnan(pitches[2]) and pitches[3] == 62
