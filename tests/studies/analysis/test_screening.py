"""Screening catches the planted listeners, only them, each for the right reason."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from studies.analysis import AnalysisConfig, analyse
from studies.analysis.screening import correlation_bar, screen, zscore_per_listener
from tests.studies.analysis.panels import CLEAR_WINNER, FAST, NO_DIFFERENCE, panel


def _reasons(table: pd.DataFrame) -> dict[str, set[str]]:
    flagged = table[table["excluded"]]
    return {row.participant: set(row.reasons.split(";")) for row in flagged.itertuples()}


def test_planted_listeners_and_only_them():
    frame = panel(
        CLEAR_WINNER, listeners=16, flat=(2,), reversed=(5,), unfinished=(8,), headphone_failed=(11,), seed=1
    )
    reasons = _reasons(screen(frame, FAST))
    assert set(reasons) == {"p00002", "p00005", "p00008", "p00011"}
    assert "flat_responder" in reasons["p00002"]
    assert {"reference_below_anchor", "poor_panel_correlation"} <= reasons["p00005"]
    assert reasons["p00008"] == {"clips_not_heard_to_end"}
    assert reasons["p00011"] == {"headphone_check_failed"}


def test_panel_correlation_matches_scipy_on_leave_one_out_means():
    frame = panel(CLEAR_WINNER, listeners=10, reversed=(3,), missing_fraction=0.1, seed=2)
    table = screen(frame, FAST).set_index("participant")
    for who in ("p00003", "p00006"):
        own = frame[frame["participant"] == who].groupby(["scale", "condition"])["rating"].mean()
        others = frame[frame["participant"] != who].groupby(["scale", "condition"])["rating"].mean()
        joined = pd.concat([own, others], axis=1, join="inner")
        expected = stats.pearsonr(joined.iloc[:, 0], joined.iloc[:, 1]).statistic
        assert table.loc[who, "panel_correlation"] == pytest.approx(expected)
    assert table.loc["p00003", "panel_correlation"] < -0.5
    assert table.loc["p00006", "panel_correlation"] > 0.7


def test_no_difference_panel_excludes_nobody():
    # Nothing to correlate with: the P.808 correlation criterion is skipped, not applied to noise.
    frame = panel(NO_DIFFERENCE, listeners=16, seed=3)
    table = screen(frame, FAST)
    assert not table["excluded"].any()
    assert table.attrs["correlation_bar"] == -1.0
    result = analyse(frame, config=FAST)
    assert any("criterion skipped: it excludes nobody" in n for n in result.notes)


def test_straight_lining_one_scale_is_caught_even_when_the_others_vary():
    frame = panel(CLEAR_WINNER, listeners=10, seed=7)
    liar = (frame["participant"] == "p00004") & (frame["scale"] == "creativity")
    frame.loc[liar, "rating"] = 4
    table = screen(frame, FAST).set_index("participant")
    pooled = frame[frame["participant"] == "p00004"]["rating"].var(ddof=0)
    assert pooled > FAST.min_rating_variance  # pooled over scales it would pass
    assert table.loc["p00004", "min_scale_variance"] == 0
    assert table.loc["p00004", "flat_scales"] == "creativity"
    assert "flat_responder" in table.loc["p00004", "reasons"].split(";")
    assert table.index[table["excluded"]].tolist() == ["p00004"]


def test_a_few_ratings_are_not_judged_flat():
    # Mid-study: one clip rated (4, 2, 5) has no variance on any scale, and says nothing yet.
    frame = panel(CLEAR_WINNER, listeners=1, seed=1)
    first = frame[(frame["group"] == 1) & (frame["position"] == frame["position"].min())]
    table = screen(first, FAST)
    assert table["min_scale_variance"].isna().all() and not table["excluded"].any()
    # From 5 ratings on a scale the criterion applies.
    five = frame[frame["group"] == 1].assign(rating=3)
    assert screen(five, FAST)["reasons"].tolist() == ["flat_responder"]


def test_correlation_bar_rises_smoothly_with_the_panel_spread():
    config = AnalysisConfig(min_panel_spread=0.25, full_panel_spread=0.5, min_panel_correlation=0.7)
    assert correlation_bar(0.0, config) == correlation_bar(0.25, config) == -1.0
    assert correlation_bar(0.252, config) == pytest.approx(-1 + 1.7 * 0.002 / 0.25)
    assert correlation_bar(0.375, config) == pytest.approx(-0.15)
    assert correlation_bar(0.5, config) == correlation_bar(2.0, config) == pytest.approx(0.7)
    grid = [correlation_bar(s, config) for s in np.linspace(0, 1, 401)]
    assert max(np.diff(grid)) < 0.02  # no step anywhere


def test_no_cliff_at_the_spread_guard():
    # A panel whose conditions barely differ: moving the guard just below its spread used to
    # switch the full 0.7 bar on and exclude a third of honest listeners.
    frame = panel({"a": ("system", 3.3), "b": ("system", 3.5), "c": ("system", 3.7), "r": ("reference", 3.9)},
                  listeners=24, seed=8)  # fmt: skip
    spread = screen(frame, FAST).attrs["panel_spread"]
    at = screen(frame, AnalysisConfig(fit_models=False, min_panel_spread=spread))
    above = screen(frame, AnalysisConfig(fit_models=False, min_panel_spread=spread - 0.002))
    assert at["excluded"].sum() == 0
    assert above["excluded"].sum() <= 1
    strict = screen(frame, AnalysisConfig(fit_models=False, min_panel_spread=0, full_panel_spread=0))
    assert strict["excluded"].sum() > above["excluded"].sum() + 3  # what the old cliff did


def test_thresholds_are_configurable():
    frame = panel(CLEAR_WINNER, listeners=12, flat=(1,), unfinished=(4,), headphone_failed=(7,), seed=4)
    lenient = AnalysisConfig(
        fit_models=False,
        min_rating_variance=0.0,
        max_unfinished_fraction=1.0,
        require_headphone_check=False,
    )
    assert not screen(frame, lenient)["excluded"].any()
    strict = AnalysisConfig(fit_models=False, min_panel_correlation=0.999)
    assert screen(frame, strict)["excluded"].sum() > 3


def test_missing_headphone_result_excludes_nobody():
    frame = panel(CLEAR_WINNER, listeners=8, seed=5).assign(headphone_passed=None)
    assert not screen(frame, FAST)["excluded"].any()


def test_results_with_and_without_exclusions_and_z_scored():
    frame = panel(CLEAR_WINNER, listeners=14, reversed=(0, 1), seed=6)
    result = analyse(frame, config=FAST)
    by_variant = result.summary.set_index(["variant", "scale", "condition"])
    assert by_variant.loc[("all", "naturalness", "proposed"), "listeners"] == 14
    assert by_variant.loc[("screened", "naturalness", "proposed"), "listeners"] == 12
    # Two reversed listeners pull the all-listener MOS of the winner down.
    assert (
        by_variant.loc[("screened", "naturalness", "proposed"), "mos"]
        > by_variant.loc[("all", "naturalness", "proposed"), "mos"] + 0.2
    )
    z = zscore_per_listener(frame)
    per_listener = z.groupby(["participant", "scale"])["z"]
    np.testing.assert_allclose(per_listener.mean(), 0, atol=1e-12)
    np.testing.assert_allclose(per_listener.std(), 1)
    zrow = by_variant.loc[("screened_z", "naturalness", "proposed")]
    assert zrow["mos"] > 0.5 and by_variant.loc[("screened_z", "naturalness", "anchor"), "mos"] < -1
