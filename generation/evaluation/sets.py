"""Set-level comparison of symbolic metrics (Yang & Lerch 2018, "On the evaluation of generative models
in music", as implemented in mgeval).

For each feature (a scalar metric or a histogram from ``symbolic``), the distance between two pieces
is the Euclidean distance of their feature values. The *intra-set* distances are all pairwise
distances inside one set; the *inter-set* distances are all distances between a piece of the
generated set and a piece of the reference (held-out real music) set. Each distribution is smoothed
with a Gaussian kernel density estimate (KDE), and the generated set is judged by how well the
inter-set distances look like the reference's own intra-set distances:

* overlap area (OA) of the two densities, in [0, 1], higher = more alike;
* Kullback-Leibler divergence KL(intra_reference || inter), in nats, lower = more alike.

These are mgeval's two numbers (``utils.overlap_area`` and ``utils.kl_dist`` between the reference's
intra-set distances and the inter-set distances). We evaluate both densities on one grid of 1,000
points that spans both samples plus three bandwidths on each side and integrate with the trapezoid
rule; the bandwidth is Scott's rule (as scipy's ``gaussian_kde``) with a floor, so that a set whose
distances are all equal (e.g. identical pieces) still has a density instead of raising.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist, pdist

from generation.evaluation.symbolic import HISTOGRAM_METRICS, SCALAR_METRICS, PieceMetrics

FEATURES = SCALAR_METRICS + HISTOGRAM_METRICS
GRID_POINTS = 1000
MIN_BANDWIDTH = 1e-3  # in the feature's own unit; only matters for (nearly) constant distances
KL_FLOOR = 1e-12  # keeps KL finite where the inter-set density underflows


def feature_matrix(pieces: Sequence[PieceMetrics], feature: str) -> np.ndarray:
    """(n, d) values of one feature over the pieces; pieces where it is undefined (NaN) are left out."""
    rows = []
    for piece in pieces:
        value = getattr(piece, feature)
        row = np.atleast_1d(np.asarray(value, dtype=float))
        if row.size and not np.isnan(row).any():
            rows.append(row)
    if not rows:
        return np.zeros((0, 1))
    return np.vstack(rows)


def intra_set_distances(values: np.ndarray) -> np.ndarray:
    """All pairwise Euclidean distances inside one set: (n * (n - 1) / 2,)."""
    return pdist(values) if len(values) >= 2 else np.zeros(0)


def inter_set_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All Euclidean distances between a piece of `a` and a piece of `b`: (len(a) * len(b),)."""
    return cdist(a, b).ravel() if len(a) and len(b) else np.zeros(0)


def bandwidth(samples: np.ndarray) -> float:
    """Scott's rule, std * n^(-1/5), floored at MIN_BANDWIDTH."""
    return max(
        float(np.std(samples, ddof=1)) * len(samples) ** (-1 / 5) if len(samples) > 1 else 0.0, MIN_BANDWIDTH
    )


def kde(samples: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian KDE of 1-D `samples` evaluated on `grid` (integrates to ~1)."""
    h = bandwidth(samples)
    z = (grid[:, None] - samples[None, :]) / h
    return np.exp(-0.5 * z**2).sum(axis=1) / (len(samples) * h * math.sqrt(2 * math.pi))


def _grid(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    margin = 3 * max(bandwidth(a), bandwidth(b))
    both = np.concatenate([a, b])
    return np.linspace(both.min() - margin, both.max() + margin, GRID_POINTS)


def overlap_area(a: np.ndarray, b: np.ndarray) -> float:
    """Area under min(KDE(a), KDE(b)); 1 for identical samples, near 0 for far-apart ones."""
    if not len(a) or not len(b):
        return math.nan
    grid = _grid(a, b)
    return float(np.trapezoid(np.minimum(kde(a, grid), kde(b, grid)), grid))


def kl_divergence(a: np.ndarray, b: np.ndarray) -> float:
    """KL(KDE(a) || KDE(b)) in nats, both densities normalised on the common grid."""
    if not len(a) or not len(b):
        return math.nan
    grid = _grid(a, b)
    p = kde(a, grid) + KL_FLOOR
    q = kde(b, grid) + KL_FLOOR
    p /= np.trapezoid(p, grid)
    q /= np.trapezoid(q, grid)
    return float(np.trapezoid(p * np.log(p / q), grid))


def compare_sets(
    generated: Sequence[PieceMetrics],
    reference: Sequence[PieceMetrics],
    *,
    features: Sequence[str] = FEATURES,
) -> pd.DataFrame:
    """One row per feature: the three distance distributions (mean, std) and OA / KLD.

    Returns:
        DataFrame indexed by feature with columns intra_generated_mean/std, intra_reference_mean/std,
        inter_mean/std, overlap_area, kl_divergence.
    """
    rows = []
    for feature in features:
        gen = feature_matrix(generated, feature)
        ref = feature_matrix(reference, feature)
        intra_gen = intra_set_distances(gen)
        intra_ref = intra_set_distances(ref)
        inter = inter_set_distances(gen, ref)
        rows.append(
            {
                "feature": feature,
                "intra_generated_mean": _mean(intra_gen),
                "intra_generated_std": _std(intra_gen),
                "intra_reference_mean": _mean(intra_ref),
                "intra_reference_std": _std(intra_ref),
                "inter_mean": _mean(inter),
                "inter_std": _std(inter),
                "overlap_area": overlap_area(intra_ref, inter),
                "kl_divergence": kl_divergence(intra_ref, inter),
            }
        )
    return pd.DataFrame(rows).set_index("feature")


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if len(x) else math.nan


def _std(x: np.ndarray) -> float:
    return float(np.std(x)) if len(x) else math.nan


def metrics_frame(pieces: Sequence[PieceMetrics]) -> pd.DataFrame:
    """One row per piece, the scalar metrics as columns."""
    return pd.DataFrame([{name: getattr(piece, name) for name in SCALAR_METRICS} for piece in pieces])


def sets_table(
    sets: Mapping[str, Sequence[PieceMetrics]], *, reference: str, features: Sequence[str] = FEATURES
) -> pd.DataFrame:
    """The table across sets: the mean of each scalar metric, and the mean OA / KLD against `reference`.

    Args:
        sets: set name -> its pieces' metrics (e.g. {"proposed": [...], "real": [...], "low_anchor": [...]}).
        reference: the name of the real-music set in `sets`.

    Returns:
        DataFrame indexed by set name: n_pieces, every scalar metric's mean, mean_overlap_area and
        mean_kl_divergence over `features` (the reference compared with itself gives its own baseline:
        OA 1 and KLD 0 are only reached when inter equals intra, which a set never quite does with itself,
        because its inter-set distances include the zero self-distances).
    """
    if reference not in sets:
        raise KeyError(f"the reference set {reference!r} is not among {sorted(sets)}")
    rows = []
    for name, pieces in sets.items():
        row: dict = {"set": name, "n_pieces": len(pieces)}
        row.update(metrics_frame(pieces).mean(numeric_only=True).to_dict() if pieces else {})
        comparison = compare_sets(pieces, sets[reference], features=features)
        row["mean_overlap_area"] = float(comparison["overlap_area"].mean())
        row["mean_kl_divergence"] = float(comparison["kl_divergence"].mean())
        rows.append(row)
    return pd.DataFrame(rows).set_index("set")
