"""Significance: Friedman + Kendall's W, Holm-corrected pairwise Wilcoxon, mixed and ordinal models.

Tests run on per-listener means (one number per listener, condition and scale), because the
ratings of one listener are not independent. Listener means are fractions (k/3 with three clips),
and their differences are not bit-equal in floating point (1/3 comes out as 0.33333333333333304
or 0.3333333333333335), so differences are rounded to 1e-9 before ties and zeros are detected
and ranked: otherwise tie groups split, the tie correction shrinks and tied data is tested as
if it had none. The mixed and ordinal models (regression.py) use every rating and are robustness
checks: their failures are reported, never raised.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats

from .config import AnalysisConfig
from .regression import crossed_mixed_model, ordinal_model
from .summary import Cells, listener_cells

TEST_COLUMNS = [
    "scale",
    "test",
    "condition",
    "versus",
    "n",
    "zeros",
    "statistic",
    "p",
    "p_holm",
    "method",
    "effect",
    "effect_size",
    "significant",
    "note",
]

DECIMALS = 9  # listener means differ by at least 1/(ratings^2) ~ 1e-3: rounding merges only float noise
EXACT_MAX_PAIRS = 50  # exact null distribution up to here (scipy's "auto" limit), normal approximation above


def friedman(cells: Cells, scale: str, config: AnalysisConfig) -> dict:
    """Friedman chi-square over conditions on listeners who rated every condition, with Kendall's W.

    scipy's friedmanchisquare (tie-corrected); W = chi2 / (n (k - 1)), as pingouin computes it.
    """
    wide = cells.wide[scale].dropna(axis=1, how="all")
    complete = wide.dropna().round(DECIMALS)
    listeners = int(wide.notna().any(axis=1).sum())
    row = {
        "scale": scale,
        "test": "friedman",
        "condition": "all",
        "versus": "",
        "n": len(complete),
        "method": "chi-square approximation, tie-corrected",
        "note": f"complete cases: {len(complete)} of {listeners} listeners rated all {wide.shape[1]} conditions",
    }
    if wide.shape[1] < 3:
        return row | {"method": "", "note": f"skipped: needs 3 conditions, {wide.shape[1]} rated"}
    if len(complete) < 2:
        return row | {"method": "", "note": f"skipped: needs 2 complete listeners, {len(complete)} rated all"}
    if (np.ptp(complete.to_numpy(), axis=1) == 0).all():
        return row | {"method": "", "note": "skipped: every complete listener rated all conditions the same"}
    res = stats.friedmanchisquare(*complete.to_numpy().T)
    k = complete.shape[1]
    p = float(res.pvalue)
    return row | {
        "statistic": float(res.statistic),
        "p": p,
        "effect": "kendall_w",
        "effect_size": float(res.statistic) / (len(complete) * (k - 1)),
        "significant": bool(p < config.alpha),
    }


def signed_rank(diff: np.ndarray) -> dict:
    """Wilcoxon signed-rank test of paired differences, zeros dropped before ranking (Wilcoxon's method).

    Returns:
        {"zeros", "n_used", "statistic" (V = sum of the ranks of positive differences, as R
        reports it), "p" (two-sided), "method", "rank_biserial"}. Up to EXACT_MAX_PAIRS non-zero
        differences the p-value comes from the exact null distribution given the (mid)ranks,
        ties included: every sign flip equally likely, counted by dynamic programming over the
        doubled midranks (integers). Above, scipy's normal approximation with its tie correction
        and a continuity correction.
    """
    d = np.round(np.asarray(diff, dtype=float), DECIMALS)
    nonzero = d[d != 0]
    out = {"zeros": int(np.sum(d == 0)), "n_used": len(nonzero)}
    if len(nonzero) == 0:
        return out | {"statistic": np.nan, "p": np.nan, "method": "", "rank_biserial": np.nan}
    ranks = stats.rankdata(np.abs(nonzero))
    v = float(ranks[nonzero > 0].sum())
    total = float(ranks.sum())
    out |= {"statistic": v, "rank_biserial": (2 * v - total) / total}
    ties = len(np.unique(np.abs(nonzero))) < len(nonzero)
    if len(nonzero) <= EXACT_MAX_PAIRS:
        doubled = np.rint(2 * ranks).astype(np.int64)
        null = np.zeros(int(doubled.sum()) + 1)
        null[0] = 1.0
        for r in doubled:
            shifted = np.zeros_like(null)
            shifted[r:] = null[:-r]
            null = null + shifted
        null /= null.sum()
        observed = int(np.rint(2 * v))
        p = min(1.0, 2 * min(null[: observed + 1].sum(), null[observed:].sum()))
        method = "exact (conditional on tied ranks)" if ties else "exact"
    else:
        p = float(stats.wilcoxon(nonzero, correction=True, method="approx").pvalue)
        method = "normal approximation, tie- and continuity-corrected"
    return out | {"p": float(p), "method": method}


def rank_biserial(diff: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation (Kerby 2014) of paired differences, zeros dropped:
    (sum of ranks of positive differences - sum for negative) / total rank sum, in [-1, 1]."""
    r = signed_rank(diff)["rank_biserial"]
    return 0.0 if np.isnan(r) else float(r)


def pairwise_wilcoxon(cells: Cells, scale: str, config: AnalysisConfig) -> list[dict]:
    """Wilcoxon signed-rank test for every pair of conditions, Holm-corrected within the scale.

    The family is the tested pairs of one scale; the three scales are separate families (they
    answer separate questions), as in the paper. Each pair uses the listeners who rated both
    (pairwise complete), so a missing trial costs one pair, not the listener. The effect size is
    the matched-pairs rank-biserial correlation, positive when `condition` is rated higher than
    `versus`. A pair that cannot be tested says why and stays out of the Holm family.
    """
    wide = cells.wide[scale]
    present = [c for c in cells.order if wide[c].notna().any()]
    rows = []
    for a, b in itertools.combinations(present, 2):
        pair = wide[[a, b]].dropna()
        row = {"scale": scale, "test": "wilcoxon", "condition": a, "versus": b, "n": len(pair)}
        result = signed_rank((pair[a] - pair[b]).to_numpy())
        row |= {"zeros": result["zeros"], "effect": "rank_biserial"}
        if len(pair) < 2:
            rows.append(row | {"note": f"skipped: {len(pair)} listener(s) rated both"})
            continue
        if result["n_used"] == 0:
            rows.append(
                row | {"effect_size": 0.0, "note": f"skipped: all {len(pair)} listeners rated both the same"}
            )
            continue
        rows.append(
            row
            | {
                "statistic": result["statistic"],
                "p": result["p"],
                "method": result["method"],
                "effect_size": result["rank_biserial"],
                "note": f"{result['zeros']} zero difference(s) dropped" if result["zeros"] else "",
            }
        )
    tested = [r for r in rows if "p" in r]
    if tested:
        for r, ph in zip(tested, holm([r["p"] for r in tested]), strict=True):
            r["p_holm"] = float(ph)
            r["significant"] = bool(ph <= config.alpha)
            r["note"] = "; ".join(filter(None, [r["note"], f"Holm family: {len(tested)} pairs of {scale}"]))
    return rows


def holm(p: list[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (what statsmodels' multipletests(method="holm") returns,
    without its gc.collect() per call: 70 ms each)."""
    p = np.asarray(p, dtype=float)
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, (len(p) - np.arange(len(p))) * p[order])
    adjusted = np.empty_like(p)
    adjusted[order] = np.maximum.accumulate(stepped)
    return adjusted


def _baseline(cells: Cells) -> str:
    """Coefficients are contrasts against real music when the study has it, else the first condition."""
    refs = [c for c in cells.order if cells.roles[c] == "reference"]
    return refs[0] if refs else cells.order[0]


def _model_sample(frame: pd.DataFrame, config: AnalysisConfig) -> tuple[pd.DataFrame, str]:
    listeners = frame["participant"].unique()
    if len(listeners) <= config.model_max_listeners:
        return frame, f"fitted on all {len(listeners)} listeners"
    rng = np.random.default_rng(config.seed)
    chosen = rng.choice(listeners, size=config.model_max_listeners, replace=False)
    note = f"fitted on a seeded random {config.model_max_listeners} of {len(listeners)} listeners"
    return frame[frame["participant"].isin(chosen)], note


def _model_rows(fit_model, data: pd.DataFrame, scale: str, test: str, cells: Cells, sample_note: str):
    base = _baseline(cells)
    others = [c for c in cells.order if c != base and (data["condition"] == c).any()]
    effect = "log_odds" if test == "ordinal_logit" else "difference_points"
    row = {"scale": scale, "test": test, "versus": base, "n": len(data), "effect": effect}
    try:
        fit = fit_model(data, base, others)
    except (ValueError, np.linalg.LinAlgError) as exc:  # a robustness check never breaks the export
        return [row | {"condition": "", "note": f"skipped: {exc}; {sample_note}"}]
    note = "; ".join(filter(None, [fit.note, sample_note, "" if fit.converged else "did not converge"]))
    return [
        row
        | {
            "condition": condition,
            "statistic": float(estimate),
            "p": float(p),
            "method": "Wald z",
            "effect_size": float(estimate),
            "note": note,
        }
        for condition, estimate, p in zip(fit.conditions, fit.estimate, fit.p, strict=True)
    ]


def significance(
    frame: pd.DataFrame, config: AnalysisConfig, *, models: bool = True, cells: Cells | None = None
) -> pd.DataFrame:
    """Every test for every scale, as one long table (see TEST_COLUMNS)."""
    if frame.empty:
        return pd.DataFrame(columns=TEST_COLUMNS)
    cells = cells or listener_cells(frame, config)
    rows: list[dict] = []
    sample, sample_note = _model_sample(frame, config) if models else (frame, "")
    by_scale = dict(tuple(sample.groupby("scale", sort=False))) if models else {}
    for scale in cells.scales:
        rows.append(friedman(cells, scale, config))
        rows.extend(pairwise_wilcoxon(cells, scale, config))
        if models and len(cells.order) >= 2:
            data = by_scale.get(scale, sample.iloc[0:0])
            rows.extend(_model_rows(crossed_mixed_model, data, scale, "mixedlm", cells, sample_note))
            rows.extend(_model_rows(ordinal_model, data, scale, "ordinal_logit", cells, sample_note))
    out = pd.DataFrame(rows, columns=TEST_COLUMNS)
    out["significant"] = out["significant"].astype(object)
    model_rows = out["test"].isin(["mixedlm", "ordinal_logit"]) & out["p"].notna()
    out.loc[model_rows, "significant"] = out.loc[model_rows, "p"] < config.alpha
    out["note"] = out["note"].fillna("")
    out["method"] = out["method"].fillna("")
    return out
