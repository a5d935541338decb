"""The tests find planted effects and nothing else; p-values agree with hand-worked null
distributions (ties included), scipy, a by-hand Holm, and statsmodels' own model fits."""

import itertools
from fractions import Fraction

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.miscmodels.ordinal_model import OrderedModel

from studies.analysis import AnalysisConfig
from studies.analysis.regression import crossed_mixed_model, ordinal_model
from studies.analysis.significance import rank_biserial, signed_rank, significance
from tests.studies.analysis.panels import CLEAR_WINNER, FAST, NO_DIFFERENCE, panel


def _holm(p):
    """Holm's step-down adjustment written out, independent of the code under test."""
    p = np.asarray(p)
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def _exact_by_enumeration(diffs: list[Fraction]) -> tuple[int, Fraction, Fraction]:
    """Zeros dropped, midranks of |d| by hand, V = rank sum of the positive differences, and the
    two-sided p from every one of the 2^n equally likely sign flips: P(|T - E| >= |V - E|).
    Exact rational arithmetic: no floating point anywhere. Returns (zeros, V, p)."""
    nonzero = [d for d in diffs if d != 0]
    ordered = sorted(abs(d) for d in nonzero)
    midrank = {}
    for value in set(ordered):
        positions = [i + 1 for i, v in enumerate(ordered) if v == value]
        midrank[value] = Fraction(sum(positions), len(positions))
    ranks = [midrank[abs(d)] for d in nonzero]
    v = sum(r for r, d in zip(ranks, nonzero, strict=True) if d > 0)
    expected = sum(ranks) / 2
    extreme = sum(
        1
        for signs in itertools.product((0, 1), repeat=len(ranks))
        if abs(sum(r for r, s in zip(ranks, signs, strict=True) if s) - expected) >= abs(v - expected)
    )
    return len(diffs) - len(nonzero), v, Fraction(extreme, 2 ** len(ranks))


def test_tied_differences_of_thirds_give_the_hand_worked_exact_p():
    # Listener means are k/3; the same difference 1/3 comes out as different floats.
    thirds = [5 / 3 - 4 / 3, 4 / 3 - 1, -(2 - 5 / 3), 5 / 3 - 1, 2 / 3 - 2 / 3, 2 - 1.0]
    assert len({abs(d) for d in thirds[:3]}) > 1  # the float noise the code must see through
    # By hand: |d| = 1/3, 1/3, 1/3, 2/3, 1 (zero dropped) -> midranks 2, 2, 2, 4, 5; V = 2+2+4+5 = 13
    # of 15. Of the 32 sign patterns, rank sums >= 13 are {2,2,4,5} (3 ways) and {2,2,2,4,5}: 4/32,
    # and by symmetry as many <= 2: p = 8/32 = 0.25.
    result = signed_rank(np.array(thirds))
    assert (result["zeros"], result["n_used"], result["statistic"]) == (1, 5, 13.0)
    assert result["p"] == pytest.approx(0.25, abs=1e-15)
    assert result["rank_biserial"] == pytest.approx((13 - 2) / 15)
    assert result["method"].startswith("exact")
    assert _exact_by_enumeration([Fraction(5, 3) - Fraction(4, 3), Fraction(1, 3), Fraction(-1, 3),
                                  Fraction(2, 3), Fraction(0), Fraction(1)]) == (1, 13, Fraction(1, 4))  # fmt: skip


def _exact_listener_means(frame: pd.DataFrame, scale: str) -> pd.DataFrame:
    cell = (
        frame[frame["scale"] == scale].groupby(["participant", "condition"])["rating"].agg(["sum", "count"])
    )
    return cell.apply(lambda r: Fraction(int(r["sum"]), int(r["count"])), axis=1).unstack()


def test_planted_panel_with_tied_means_gives_the_enumerated_p_values():
    frame = panel(CLEAR_WINNER, listeners=12, missing_fraction=0.05, seed=2)
    tests = significance(frame, FAST, models=False)
    pairs = tests[tests["test"] == "wilcoxon"].set_index(["scale", "condition", "versus"])
    split_ties = 0
    for scale in ("naturalness", "creativity", "musicality"):
        means = _exact_listener_means(frame, scale)
        for (s, a, b), row in pairs.loc[[scale]].iterrows():
            both = means[[a, b]].dropna()
            diffs = list(both[a] - both[b])
            zeros, v, p = _exact_by_enumeration(diffs)
            floats = both[a].astype(float) - both[b].astype(float)
            split_ties += floats.abs().nunique() > len({abs(d) for d in diffs})
            assert row["zeros"] == zeros, (s, a, b)
            if zeros == len(diffs):
                assert pd.isna(row["p"]) and row["note"].startswith("skipped"), (s, a, b)
                continue
            assert row["statistic"] == pytest.approx(float(v), abs=1e-12), (s, a, b)
            assert row["p"] == pytest.approx(float(p), rel=1e-12, abs=1e-15), (s, a, b)
        tested = pairs.loc[[scale]].dropna(subset=["p"])
        np.testing.assert_allclose(tested["p_holm"], _holm(tested["p"].to_numpy()))
        assert (tested["significant"] == (tested["p_holm"] <= 0.05)).all()
    assert split_ties > 0  # the panel really has tie groups that naive floats would split


def test_above_fifty_pairs_the_tie_corrected_normal_approximation_by_hand():
    rng = np.random.default_rng(3)
    diffs = rng.integers(-3, 4, 70) / 3
    result = signed_rank(diffs)
    exact = [Fraction(int(k), 3) for k in np.rint(diffs * 3)]
    nonzero = [d for d in exact if d != 0]
    n = len(nonzero)
    counts = pd.Series([abs(d) for d in nonzero]).value_counts()
    ordered = sorted(abs(d) for d in nonzero)
    v = sum(float(np.mean([i + 1 for i, x in enumerate(ordered) if x == abs(d)])) for d in nonzero if d > 0)
    mean = n * (n + 1) / 4
    var = n * (n + 1) * (2 * n + 1) / 24 - float(((counts**3 - counts) / 48).sum())
    z = (v - mean - 0.5 * np.sign(v - mean)) / np.sqrt(var)
    assert (result["n_used"], result["zeros"]) == (n, 70 - n)
    assert result["statistic"] == pytest.approx(v)
    assert result["p"] == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-12)
    assert result["method"].startswith("normal approximation")


def test_clear_winner_is_found():
    frame = panel(CLEAR_WINNER, listeners=16, seed=1)
    tests = significance(frame, FAST, models=False)
    for scale in ("naturalness", "creativity", "musicality"):
        per_scale = tests[tests["scale"] == scale]
        fr = per_scale[per_scale["test"] == "friedman"].iloc[0]
        assert fr["p"] < 1e-6 and fr["effect_size"] > 0.6  # Kendall's W
        pairs = per_scale[per_scale["test"] == "wilcoxon"].set_index(["condition", "versus"])
        assert len(pairs) == 10
        # systems by name without the study's order: bilstm, proposed, vded; then real, anchor
        for a, b in [
            ("bilstm", "proposed"),
            ("proposed", "vded"),
            ("proposed", "anchor"),
            ("real", "anchor"),
        ]:
            assert pairs.loc[(a, b), "significant"], (scale, a, b)
        assert pairs.loc[("proposed", "vded"), "effect_size"] > 0.8  # rank-biserial, proposed higher
        assert pairs.loc[("bilstm", "proposed"), "effect_size"] < -0.8
        assert not pairs.loc[("bilstm", "vded"), "significant"]  # 3.1 vs 3.2
        assert pairs["note"].str.contains(f"Holm family: 10 pairs of {scale}").all()


def test_friedman_matches_scipy_and_pingouin_and_states_complete_cases():
    frame = panel(CLEAR_WINNER, listeners=12, missing_fraction=0.4, seed=2)
    tests = significance(frame, FAST, models=False)
    fr = tests[(tests["test"] == "friedman") & (tests["scale"] == "creativity")].iloc[0]
    cell = (
        frame[frame["scale"] == "creativity"].groupby(["participant", "condition"])["rating"].mean().unstack()
    )
    complete = cell.dropna()
    assert fr["n"] == len(complete) < 12
    assert f"complete cases: {len(complete)} of 12 listeners" in fr["note"]
    expected = stats.friedmanchisquare(*[complete[c] for c in complete.columns])
    assert fr["statistic"] == pytest.approx(expected.statistic)
    assert fr["p"] == pytest.approx(expected.pvalue)
    long = complete.reset_index().melt(id_vars="participant", var_name="condition", value_name="mean")
    w = pg.friedman(data=long, dv="mean", within="condition", subject="participant")["W"].iloc[0]
    assert fr["effect_size"] == pytest.approx(w)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_difference_finds_nothing(seed):
    frame = panel(NO_DIFFERENCE, listeners=16, seed=seed)
    tests = significance(frame, FAST, models=False)
    assert (tests.loc[tests["test"] == "friedman", "p"] > 0.05).all()
    assert not tests.loc[tests["test"] == "wilcoxon", "significant"].any()


def test_untestable_pairs_say_why_and_leave_the_holm_family():
    frame = panel(CLEAR_WINNER, listeners=1, seed=7)
    tests = significance(frame, FAST, models=False)
    pairs = tests[tests["test"] == "wilcoxon"]
    assert pairs["note"].str.startswith("skipped: 1 listener(s) rated both").all()
    assert pairs["p"].isna().all() and pairs["p_holm"].isna().all()
    assert tests[tests["test"] == "friedman"]["note"].str.contains("needs 2 complete listeners").all()


def test_mixed_model_matches_statsmodels_crossed_fit():
    frame = panel(CLEAR_WINNER, listeners=16, missing_fraction=0.1, seed=4, item_sd=0.4)
    data = frame[frame["scale"] == "naturalness"].reset_index(drop=True)
    others = ["proposed", "vded", "bilstm", "anchor"]
    fit = crossed_mixed_model(data, "real", others)
    reference = smf.mixedlm(
        "rating ~ C(condition, Treatment(reference='real'))",
        data,
        groups=np.ones(len(data)),
        re_formula="0",
        vc_formula={"listener": "0 + C(participant)", "item": "0 + C(item)"},
    ).fit(reml=True)
    names = {c: f"C(condition, Treatment(reference='real'))[T.{c}]" for c in others}
    np.testing.assert_allclose(fit.estimate, [reference.params[names[c]] for c in others], atol=1e-5)
    # statsmodels takes its SEs from the joint Hessian at its own (looser) optimum: within 0.5 %.
    np.testing.assert_allclose(fit.se, [reference.bse[names[c]] for c in others], rtol=5e-3)
    assert fit.variances["residual"] == pytest.approx(reference.scale, rel=1e-4)
    assert fit.estimate[others.index("vded")] == pytest.approx(-1.4, abs=0.3)  # planted 3.2 - 4.6


# The reference runs to gtol 1e-9, which BFGS reports as "failed to converge" (precision loss).
@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.ConvergenceWarning")
def test_ordinal_model_matches_statsmodels_with_listener_clustered_errors():
    frame = panel(CLEAR_WINNER, listeners=16, seed=4)
    data = frame[frame["scale"] == "musicality"].reset_index(drop=True)
    others = ["proposed", "vded", "bilstm", "anchor"]
    fit = ordinal_model(data, "real", others)
    exog = pd.DataFrame({c: (data["condition"] == c).astype(float) for c in others})
    endog = data["rating"].astype(pd.CategoricalDtype(sorted(data["rating"].unique()), ordered=True))
    reference = OrderedModel(endog, exog, distr="logit").fit(
        method="bfgs",
        disp=False,
        maxiter=2000,
        gtol=1e-9,
        cov_type="cluster",
        cov_kwds={"groups": pd.factorize(data["participant"])[0]},
    )
    np.testing.assert_allclose(fit.estimate, reference.params[others], atol=1e-4)
    np.testing.assert_allclose(fit.se, reference.bse[others], rtol=1e-3)
    assert fit.converged


def test_models_recover_the_planted_contrast_and_say_what_they_are():
    frame = panel(CLEAR_WINNER, listeners=16, seed=4)
    tests = significance(frame[frame["scale"] == "naturalness"], AnalysisConfig(bootstrap_resamples=400))
    mixed = tests[tests["test"] == "mixedlm"].set_index("condition")
    assert set(mixed["versus"]) == {"real"}
    assert mixed.loc["proposed", "effect_size"] == pytest.approx(-0.2, abs=0.3)  # planted 4.4 - 4.6
    assert mixed.loc["vded", "p"] < 1e-6
    assert mixed["note"].str.contains("crossed random intercepts").all()
    assert mixed["note"].str.contains("fitted on all 16 listeners").all()
    ordinal = tests[tests["test"] == "ordinal_logit"].set_index("condition")
    assert ordinal["note"].str.contains("clustered by listener").all()
    assert ordinal.loc["anchor", "effect_size"] < ordinal.loc["vded", "effect_size"] < -1


def test_large_panels_are_subsampled_and_say_so():
    frame = panel(CLEAR_WINNER, listeners=30, seed=6)
    tests = significance(frame[frame["scale"] == "musicality"], AnalysisConfig(model_max_listeners=20))
    models = tests[tests["test"].isin(["mixedlm", "ordinal_logit"])]
    assert models["note"].str.contains("random 20 of 30 listeners").all()
    assert (models["n"] == 20 * 5 * 3).all()
    mixed = tests[tests["test"] == "mixedlm"].set_index("condition")
    assert mixed.loc["vded", "effect_size"] == pytest.approx(-1.4, abs=0.35)


def test_model_failure_is_reported_not_raised():
    frame = panel(CLEAR_WINNER, listeners=1, seed=7)
    tests = significance(frame[frame["scale"] == "naturalness"], AnalysisConfig(bootstrap_resamples=100))
    mixed = tests[tests["test"] == "mixedlm"]
    assert mixed["note"].str.startswith("skipped: needs at least 2 listeners").all()


def test_rank_biserial_matches_pingouin():
    rng = np.random.default_rng(8)
    for _ in range(3):
        x = rng.integers(1, 6, 15).astype(float)
        y = np.clip(x + rng.integers(-2, 3, 15), 1, 5)
        if (x == y).all():
            continue
        assert rank_biserial(x - y) == pytest.approx(pg.wilcoxon(x, y)["RBC"].iloc[0])
