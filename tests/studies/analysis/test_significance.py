"""The tests find planted effects and nothing else; p-values agree with scipy and a by-hand Holm."""

import numpy as np
import pingouin as pg
import pytest
from scipy import stats

from studies.analysis import AnalysisConfig
from studies.analysis.significance import rank_biserial, significance
from tests.studies.analysis.panels import CLEAR_WINNER, FAST, NO_DIFFERENCE, panel


def _holm(p):
    """Holm's step-down adjustment written out, independent of statsmodels."""
    p = np.asarray(p)
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def test_clear_winner_is_found():
    frame = panel(CLEAR_WINNER, listeners=16, seed=1)
    tests = significance(frame, FAST, models=False)
    for scale in ("naturalness", "creativity", "musicality"):
        per_scale = tests[tests["scale"] == scale]
        fr = per_scale[per_scale["test"] == "friedman"].iloc[0]
        assert fr["p"] < 1e-6 and fr["effect_size"] > 0.6  # Kendall's W
        pairs = per_scale[per_scale["test"] == "wilcoxon"].set_index(["condition", "versus"])
        assert len(pairs) == 10
        # proposed beats both other systems and the anchor; real music beats the anchor
        for a, b in [
            ("bilstm", "proposed"),
            ("proposed", "vded"),
            ("proposed", "anchor"),
            ("real", "anchor"),
        ]:
            assert pairs.loc[(a, b), "significant"], (scale, a, b)
        assert pairs.loc[("proposed", "vded"), "effect_size"] > 0.8  # rank-biserial, proposed higher
        assert pairs.loc[("bilstm", "proposed"), "effect_size"] < -0.8
        # bilstm (3.1) and vded (3.2) hardly differ: not significant after Holm
        assert not pairs.loc[("bilstm", "vded"), "significant"]
        np.testing.assert_allclose(pairs["p_holm"], _holm(pairs["p"].to_numpy()))


def test_wilcoxon_p_values_match_scipy_on_listener_means():
    frame = panel(CLEAR_WINNER, listeners=12, seed=2)
    tests = significance(frame, FAST, models=False)
    row = tests[
        (tests["test"] == "wilcoxon") & (tests["condition"] == "proposed") & (tests["versus"] == "vded")
    ]
    row = row[row["scale"] == "creativity"].iloc[0]
    cell = (
        frame[frame["scale"] == "creativity"].groupby(["participant", "condition"])["rating"].mean().unstack()
    )
    # listener means of 3 ratings tie: the tie-corrected normal approximation with continuity correction
    expected = stats.wilcoxon(cell["proposed"], cell["vded"], method="asymptotic", correction=True)
    assert row["p"] == pytest.approx(expected.pvalue)
    fr = tests[(tests["test"] == "friedman") & (tests["scale"] == "creativity")].iloc[0]
    expected = stats.friedmanchisquare(*[cell[c] for c in cell.columns])
    assert fr["statistic"] == pytest.approx(expected.statistic)
    assert fr["p"] == pytest.approx(expected.pvalue)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_difference_finds_nothing(seed):
    frame = panel(NO_DIFFERENCE, listeners=16, seed=seed)
    tests = significance(frame, FAST, models=False)
    assert (tests.loc[tests["test"] == "friedman", "p"] > 0.05).all()
    assert not tests.loc[tests["test"] == "wilcoxon", "significant"].any()


def test_models_recover_the_planted_contrast_and_agree_with_the_tests():
    frame = panel(CLEAR_WINNER, listeners=16, seed=4)
    tests = significance(frame[frame["scale"] == "naturalness"], AnalysisConfig(bootstrap_resamples=400))
    mixed = tests[tests["test"] == "mixedlm"].set_index("condition")
    assert set(mixed["versus"]) == {"real"}
    assert mixed.loc["proposed", "effect_size"] == pytest.approx(-0.2, abs=0.3)  # planted 4.4 - 4.6
    assert mixed.loc["vded", "effect_size"] == pytest.approx(-1.4, abs=0.3)
    assert mixed.loc["vded", "p"] < 1e-6
    assert "crossed" in mixed.loc["vded", "note"] and "converge" not in mixed.loc["vded", "note"]
    ordinal = tests[tests["test"] == "ordinal_logit"].set_index("condition")
    assert ordinal.loc["vded", "effect_size"] < -1 and ordinal.loc["vded", "p"] < 1e-6
    assert ordinal.loc["anchor", "effect_size"] < ordinal.loc["vded", "effect_size"]


def test_large_panels_switch_model_and_subsample_and_say_so():
    frame = panel(CLEAR_WINNER, listeners=30, seed=6)
    config = AnalysisConfig(crossed_max_listeners=10, model_max_listeners=20)
    tests = significance(frame[frame["scale"] == "musicality"], config)
    mixed = tests[tests["test"] == "mixedlm"]
    assert mixed["note"].str.contains("items as fixed effects").all()
    assert mixed["note"].str.contains("random 20 of 30 listeners").all()
    assert mixed.set_index("condition").loc["vded", "effect_size"] == pytest.approx(-1.4, abs=0.35)


def test_model_failure_is_reported_not_raised():
    # One listener and one condition per item: the mixed model cannot be estimated.
    frame = panel(CLEAR_WINNER, listeners=1, seed=7)
    tests = significance(frame[frame["scale"] == "naturalness"], AnalysisConfig(bootstrap_resamples=100))
    mixed = tests[tests["test"] == "mixedlm"]
    assert len(mixed) >= 1
    assert mixed["note"].str.len().gt(0).all()
    fr = tests[tests["test"] == "friedman"]
    assert fr["note"].str.contains("at least 2").all()


def test_rank_biserial_matches_pingouin():
    rng = np.random.default_rng(8)
    for _ in range(3):
        x = rng.integers(1, 6, 15).astype(float)
        y = np.clip(x + rng.integers(-2, 3, 15), 1, 5)
        if (x == y).all():
            continue
        assert rank_biserial(x - y) == pytest.approx(pg.wilcoxon(x, y)["RBC"].iloc[0])
