"""Intra-/inter-set distances, KDE overlap area and KL divergence on sets with known distances."""

import numpy as np
import pytest

from generation.evaluation import sets
from generation.evaluation.symbolic import piece_metrics
from generation.music.encoding import HOLD


def melody_of_range(semitones: int, low: int = 60) -> np.ndarray:
    return np.array([low, HOLD, HOLD, HOLD, low + semitones, HOLD, HOLD, HOLD])


def test_distances_are_euclidean_over_pieces():
    gen = [piece_metrics(melody_of_range(r)) for r in (0, 2)]
    ref = [piece_metrics(melody_of_range(r)) for r in (10, 12)]
    gen_x = sets.feature_matrix(gen, "pitch_range")
    ref_x = sets.feature_matrix(ref, "pitch_range")
    assert sets.intra_set_distances(gen_x).tolist() == [2.0]
    assert sorted(sets.inter_set_distances(gen_x, ref_x).tolist()) == [8.0, 10.0, 10.0, 12.0]
    # Histograms are compared as vectors: C-C vs C-D differ in two classes by 0.5 each.
    hist = sets.feature_matrix(
        [piece_metrics(melody_of_range(0)), piece_metrics(melody_of_range(2))], "pitch_class_histogram"
    )
    assert sets.intra_set_distances(hist)[0] == pytest.approx(np.sqrt(0.5**2 + 0.5**2))


def test_overlap_and_kl_separate_alike_from_different_distributions():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, 300)
    same = rng.normal(0, 1, 300)
    far = rng.normal(8, 1, 300)
    assert sets.overlap_area(a, a) == pytest.approx(1.0, abs=1e-3)
    assert sets.kl_divergence(a, a) == pytest.approx(0.0, abs=1e-9)
    assert sets.overlap_area(a, same) > 0.85
    assert sets.kl_divergence(a, same) < 0.1
    assert sets.overlap_area(a, far) < 0.01
    assert sets.kl_divergence(a, far) > 10


def test_constant_distances_still_have_a_density():
    zeros = np.zeros(6)
    assert sets.overlap_area(zeros, zeros) == pytest.approx(1.0, abs=5e-3)
    assert sets.overlap_area(zeros, zeros + 5) < 1e-6


def test_sets_table_ranks_a_copy_of_real_music_above_a_distorted_set():
    rng = np.random.default_rng(1)
    real = [piece_metrics(melody_of_range(int(r))) for r in rng.integers(2, 8, 12)]
    copy = [piece_metrics(melody_of_range(int(r))) for r in rng.integers(2, 8, 12)]
    wide = [piece_metrics(melody_of_range(int(r))) for r in rng.integers(20, 40, 12)]
    table = sets.sets_table(
        {"real": real, "copy": copy, "wide": wide}, reference="real", features=["pitch_range"]
    )
    assert table.loc["wide", "pitch_range"] > 20
    assert table.loc["copy", "mean_overlap_area"] > table.loc["wide", "mean_overlap_area"] + 0.5
    assert table.loc["copy", "mean_kl_divergence"] < table.loc["wide", "mean_kl_divergence"]
    with pytest.raises(KeyError):
        sets.sets_table({"copy": copy}, reference="real")
