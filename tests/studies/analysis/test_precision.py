"""Power, CI width planning and Krippendorff's alpha."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from studies.analysis import AnalysisConfig
from studies.analysis.precision import listeners_for_width, precision
from studies.analysis.reliability import agreement
from tests.studies.analysis.panels import CLEAR_WINNER, FAST, panel


def test_detectable_effect_matches_the_anchor_figure():
    # ANCHORS.md: 20 listeners, 80 % power, alpha 0.05 -> smallest paired dz ~ 0.67 (0.66 exactly).
    table = precision(panel(CLEAR_WINNER, listeners=20, seed=1), FAST)
    assert table["listeners"].tolist() == [20, 20, 20]
    assert table["detectable_dz"].tolist() == pytest.approx([0.6604] * 3, abs=1e-3)
    assert (table["detectable_difference"] == table["detectable_dz"] * table["sd_paired_difference"]).all()


def test_listeners_for_width_is_the_smallest_sufficient_panel():
    for sd, width in [(0.5, 0.5), (0.8, 0.3), (0.3, 1.0)]:
        n = listeners_for_width(sd, width, 0.95)

        def ci_width(k, sd=sd):
            return 2 * stats.t.ppf(0.975, k - 1) * sd / np.sqrt(k)

        assert ci_width(n) <= width
        assert n == 2 or ci_width(n - 1) > width


def test_more_listeners_reach_the_target_width():
    frame = panel(CLEAR_WINNER, listeners=10, seed=2)
    row = precision(frame, AnalysisConfig(target_ci_width=0.4)).iloc[0]
    assert row["widest_ci"] > 0.4
    assert row["more_listeners"] == row["listeners_needed"] - 10 > 0


def _frame_from_matrix(values: np.ndarray) -> pd.DataFrame:
    listeners, units = values.shape
    rows = [
        dict(
            participant=f"p{i}",
            condition="a",
            role="system",
            item=f"i{u}",
            stimulus_sha256="",
            group=1,
            position=u,
            scale="naturalness",
            rating=int(values[i, u]),
            listen_time_s=1.0,
            plays=1,
            fully_played=True,
            headphone_passed=True,
            rated_at=pd.Timestamp("2026-01-01", tz="UTC"),
        )
        for i in range(listeners)
        for u in range(units)
    ]
    return pd.DataFrame(rows)


def test_krippendorff_alpha_perfect_and_chance_agreement():
    truth = np.array([1, 2, 3, 4, 5, 2, 4, 3])
    perfect = agreement(_frame_from_matrix(np.tile(truth, (5, 1)))).iloc[0]
    assert perfect["alpha_ordinal"] == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noise = agreement(_frame_from_matrix(rng.integers(1, 6, size=(30, 40)))).iloc[0]
    assert abs(noise["alpha_ordinal"]) < 0.05
    assert noise["pairable_units"] == 40
