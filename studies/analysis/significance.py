"""Significance: Friedman + Kendall's W, Holm-corrected pairwise Wilcoxon, mixed and ordinal models.

Tests run on per-listener means (one number per listener, condition and scale), because the
ratings of one listener are not independent. The mixed and ordinal models use every rating and
are robustness checks: their failures to converge are reported, never raised.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pingouin as pg
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.stats.multitest import multipletests

from .config import AnalysisConfig
from .frame import condition_order, scales_present
from .summary import listener_means

TEST_COLUMNS = [
    "scale",
    "test",
    "condition",
    "versus",
    "n",
    "statistic",
    "p",
    "p_holm",
    "effect",
    "effect_size",
    "significant",
    "note",
]


def friedman(frame: pd.DataFrame, scale: str, config: AnalysisConfig) -> dict:
    """Friedman chi-square over conditions on listeners who rated every condition, with Kendall's W."""
    means = listener_means(frame[frame["scale"] == scale])
    wide = means.pivot(index="participant", columns="condition", values="mean").dropna()
    row = {"scale": scale, "test": "friedman", "condition": "all", "versus": "", "n": len(wide)}
    if len(wide) < 2 or wide.shape[1] < 3:
        return row | {"note": "needs at least 2 complete listeners and 3 conditions"}
    long = wide.reset_index().melt(id_vars="participant", var_name="condition", value_name="mean")
    res = pg.friedman(data=long, dv="mean", within="condition", subject="participant").iloc[0]
    p = float(res["p_unc"])
    return row | {
        "statistic": float(res["Q"]),
        "p": p,
        "effect": "kendall_w",
        "effect_size": float(res["W"]),
        "significant": bool(p < config.alpha),
    }


def rank_biserial(diff: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation (Kerby 2014) of paired differences, zeros dropped:
    (sum of ranks of positive differences - sum for negative) / total rank sum, in [-1, 1]."""
    nonzero = diff[diff != 0]
    if nonzero.size == 0:
        return 0.0
    ranks = stats.rankdata(np.abs(nonzero))
    return float((ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum()) / ranks.sum())


def pairwise_wilcoxon(frame: pd.DataFrame, scale: str, config: AnalysisConfig) -> list[dict]:
    """Wilcoxon signed-rank test for every pair of conditions, Holm-corrected within the scale.

    Each pair uses the listeners who rated both (pairwise complete), so a missing trial costs
    one pair, not the listener. The effect size is the matched-pairs rank-biserial correlation,
    positive when `condition` is rated higher than `versus`.
    """
    means = listener_means(frame[frame["scale"] == scale])
    wide = means.pivot(index="participant", columns="condition", values="mean")
    rows = []
    for a, b in itertools.combinations([c for c in condition_order(frame) if c in wide.columns], 2):
        pair = wide[[a, b]].dropna()
        row = {"scale": scale, "test": "wilcoxon", "condition": a, "versus": b, "n": len(pair)}
        diff = pair[a] - pair[b]
        if len(pair) < 2 or (diff == 0).all():
            rows.append(
                row | {"p": 1.0, "effect": "rank_biserial", "effect_size": 0.0, "note": "no differences"}
            )
            continue
        # With ties or zero differences scipy would enumerate a permutation distribution (seconds
        # per pair for small panels); the tie-corrected normal approximation is R's choice there.
        # (pingouin.wilcoxon adds CLES, quadratic in listeners: 100 M comparisons at 10 000.)
        ties = (diff == 0).any() or diff.abs().duplicated().any()
        res = stats.wilcoxon(pair[a], pair[b], correction=True, method="asymptotic" if ties else "auto")
        rows.append(
            row
            | {
                "statistic": float(res.statistic),
                "p": float(res.pvalue),
                "effect": "rank_biserial",
                "effect_size": rank_biserial(diff.to_numpy()),
            }
        )
    if rows:
        reject, p_holm, _, _ = multipletests([r["p"] for r in rows], alpha=config.alpha, method="holm")
        for r, ph, rej in zip(rows, p_holm, reject, strict=True):
            r["p_holm"] = float(ph)
            r["significant"] = bool(rej)
    return rows


def _baseline(frame: pd.DataFrame) -> str:
    """Coefficients are contrasts against real music when the study has it, else the first condition."""
    order = condition_order(frame)
    refs = frame.loc[frame["role"] == "reference", "condition"]
    return sorted(set(refs))[0] if len(refs) else order[0]


def _model_sample(frame: pd.DataFrame, config: AnalysisConfig) -> tuple[pd.DataFrame, str]:
    listeners = frame["participant"].unique()
    if len(listeners) <= config.model_max_listeners:
        return frame, ""
    rng = np.random.default_rng(config.seed)
    chosen = rng.choice(listeners, size=config.model_max_listeners, replace=False)
    note = f"fitted on a seeded random {config.model_max_listeners} of {len(listeners)} listeners"
    return frame[frame["participant"].isin(chosen)], note


def _fit_quietly(fit):
    """Run `fit()`, returning (result, warnings as text, error text)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fit()
        except Exception as exc:  # noqa: BLE001 - a robustness check must never break the export
            return None, "", f"{type(exc).__name__}: {exc}"
    texts = sorted({str(w.message).splitlines()[0] for w in caught})
    return result, "; ".join(texts), ""


def mixed_model(frame: pd.DataFrame, scale: str, config: AnalysisConfig) -> list[dict]:
    """Linear mixed model: rating ~ condition with random intercepts for listener and item.

    Up to `config.crossed_max_listeners` listeners the random effects are crossed (statsmodels'
    recipe: one group holding everything, a variance component per factor). Above, the dense
    design gets too slow, so the model keeps a random intercept per listener and takes items as
    fixed effects; the note says which model ran.
    """
    data = frame[frame["scale"] == scale]
    data, sample_note = _model_sample(data, config)
    base = _baseline(data)
    formula = f"rating ~ C(condition, Treatment(reference={base!r}))"
    if data["participant"].nunique() <= config.crossed_max_listeners:
        kind = "crossed random intercepts: listener, item"
        vc = {"listener": "0 + C(participant)", "item": "0 + C(item)"}

        def build():
            return smf.mixedlm(formula, data, groups=np.ones(len(data)), re_formula="0", vc_formula=vc)
    else:
        kind = "random intercept: listener; items as fixed effects"

        def build():
            return smf.mixedlm(formula + " + C(item)", data, groups=data["participant"])

    def fit():
        # statsmodels' own method list can fail inside the first optimiser; try them one by one.
        try:
            result = build().fit(reml=True, method="lbfgs")
            if result.converged:
                return result
        except (np.linalg.LinAlgError, ValueError):
            pass
        return build().fit(reml=True, method="powell")

    result, warned, error = _fit_quietly(fit)
    note = "; ".join(filter(None, [kind, sample_note]))
    return _coefficient_rows(result, scale, "mixedlm", base, len(data), warned, error, note)


def ordinal_model(frame: pd.DataFrame, scale: str, config: AnalysisConfig) -> list[dict]:
    """Cumulative-link (proportional-odds logit) model of the rating on condition; no random effects.

    statsmodels' OrderedModel has no random effects, so this checks the scale assumption of the
    means (ratings are ordinal), not the listener dependence the mixed model handles.
    """
    data = frame[frame["scale"] == scale]
    data, sample_note = _model_sample(data, config)
    base = _baseline(data)
    order = [c for c in condition_order(data) if c != base]
    exog = pd.DataFrame({c: (data["condition"] == c).astype(float) for c in order}, index=data.index)
    endog = pd.Series(
        pd.Categorical(data["rating"], categories=sorted(data["rating"].unique()), ordered=True)
    )
    endog.index = data.index
    result, warned, error = _fit_quietly(
        lambda: OrderedModel(endog, exog, distr="logit").fit(method="bfgs", disp=False, maxiter=500)
    )
    if result is not None and not result.mle_retvals.get("converged", True):
        warned = "; ".join(filter(None, [warned, "optimizer did not converge"]))
    return _coefficient_rows(
        result, scale, "ordinal_logit", base, len(data), warned, error, sample_note, order
    )


def _coefficient_rows(result, scale, test, base, n, warned, error, sample_note, names=None) -> list[dict]:
    note = "; ".join(filter(None, [sample_note, warned, error]))
    if result is None:
        return [{"scale": scale, "test": test, "condition": "", "versus": base, "n": n, "note": note}]
    if hasattr(result, "converged"):
        converged = bool(result.converged)
    else:
        converged = bool(result.mle_retvals.get("converged", True))
    if not converged:
        note = "; ".join(filter(None, [note, "did not converge"]))
    rows = []
    for name, estimate in result.params.items():
        if names is not None:
            if name not in names:
                continue
            condition = name
        elif name.startswith("C(condition"):
            condition = name.split("[T.", 1)[1].rstrip("]")
        else:
            continue
        rows.append(
            {
                "scale": scale,
                "test": test,
                "condition": condition,
                "versus": base,
                "n": n,
                "statistic": float(estimate),
                "p": float(result.pvalues[name]),
                "effect": "log_odds" if test == "ordinal_logit" else "difference_points",
                "effect_size": float(estimate),
                "note": note,
            }
        )
    return rows


def significance(frame: pd.DataFrame, config: AnalysisConfig, *, models: bool = True) -> pd.DataFrame:
    """Every test for every scale, as one long table (see TEST_COLUMNS)."""
    rows: list[dict] = []
    if frame.empty:
        return pd.DataFrame(columns=TEST_COLUMNS)
    for scale in scales_present(frame):
        rows.append(friedman(frame, scale, config))
        rows.extend(pairwise_wilcoxon(frame, scale, config))
        if models and frame["condition"].nunique() >= 2:
            rows.extend(mixed_model(frame, scale, config))
            rows.extend(ordinal_model(frame, scale, config))
    out = pd.DataFrame(rows, columns=TEST_COLUMNS)
    model_rows = out["test"].isin(["mixedlm", "ordinal_logit"])
    out.loc[model_rows, "significant"] = out.loc[model_rows, "p"] < config.alpha
    out["note"] = out["note"].fillna("")
    return out
