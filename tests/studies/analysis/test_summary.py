"""MOS, intervals and the paper's headline figures against an independent computation."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from studies.analysis import AnalysisConfig, analyse
from studies.analysis.frame import validate_frame
from studies.analysis.summary import headline, summarise
from tests.studies.analysis.panels import FAST, panel


def _by_hand(frame: pd.DataFrame, scale: str, condition: str):
    cell = frame[(frame["scale"] == scale) & (frame["condition"] == condition)]
    per_listener = cell.groupby("participant")["rating"].mean().to_numpy()
    n = len(per_listener)
    half = stats.t.ppf(0.975, n - 1) * per_listener.std(ddof=1) / np.sqrt(n)
    return (
        cell["rating"].mean(),
        cell["rating"].std(ddof=1),
        per_listener.mean() - half,
        per_listener.mean() + half,
        n,
    )


def test_summary_matches_independent_computation_with_missing_trials():
    frame = panel(missing_fraction=0.15, seed=3)
    table = summarise(frame, FAST)
    assert len(table) == 3 * 5
    assert table["condition"].tolist()[:5] == ["bilstm", "proposed", "vded", "real", "anchor"]
    for _, row in table.iterrows():
        mos, sd, low, high, n = _by_hand(frame, row["scale"], row["condition"])
        assert row["mos"] == pytest.approx(mos)
        assert row["sd"] == pytest.approx(sd)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
        assert row["listeners"] == n
        assert row["boot_low"] < row["listener_mean"] < row["boot_high"]
        # The bootstrap and t intervals agree to within a fraction of their width.
        assert abs((row["boot_high"] - row["boot_low"]) - (high - low)) < 0.35 * (high - low)


def test_bootstrap_is_seeded():
    frame = panel(seed=5)
    a = summarise(frame, FAST)
    b = summarise(frame, FAST)
    c = summarise(frame, AnalysisConfig(fit_models=False, bootstrap_resamples=400, seed=9))
    assert a["boot_low"].tolist() == b["boot_low"].tolist()
    assert a["boot_low"].tolist() != c["boot_low"].tolist()


def _exact_frame(means: dict[str, float], listeners: int = 10) -> pd.DataFrame:
    """Every listener gives each condition ratings whose mean is exactly `means[c]` (x 4 clips)."""
    rows = []
    for p in range(listeners):
        for c, m in means.items():
            total = round(m * 4)
            clip_ratings = [total // 4 + (1 if k < total % 4 else 0) for k in range(4)]
            for k, r in enumerate(clip_ratings):
                role = "reference" if c == "real" else "system"
                rows.append(
                    dict(
                        participant=f"p{p}",
                        condition=c,
                        role=role,
                        item=f"i{k}",
                        stimulus_sha256="x",
                        group=1,
                        position=k,
                        scale="naturalness",
                        rating=r,
                        listen_time_s=20.0,
                        plays=1,
                        fully_played=True,
                        headphone_passed=True,
                        rated_at=pd.Timestamp("2026-01-01", tz="UTC"),
                    )
                )
    return validate_frame(pd.DataFrame(rows))


def test_headline_advantage_and_gap_follow_the_papers_definitions():
    # MOS 4.25 vs 3.25: the best is 30.77 % above the second best; gaps to real music 4.5.
    frame = _exact_frame({"proposed": 4.25, "vded": 3.25, "bilstm": 2.5, "real": 4.5})
    table = summarise(frame, FAST)
    head = headline(frame, table, FAST).set_index(["kind", "condition"])
    adv = head.loc[("advantage_over_second_best", "proposed")]
    assert adv["versus"] == "vded"
    assert adv["value"] == pytest.approx(100 * (4.25 / 3.25 - 1))
    # Identical listeners: no uncertainty left.
    assert adv["ci_low"] == pytest.approx(adv["value"]) and adv["ci_high"] == pytest.approx(adv["value"])
    assert head.loc[("gap_to_real_music", "proposed"), "value"] == pytest.approx(-0.25)
    assert head.loc[("gap_to_real_music", "bilstm"), "value"] == pytest.approx(-2.0)


def test_headline_interval_covers_the_planted_advantage():
    frame = panel(listeners=40, seed=11)
    result = analyse(frame, config=FAST)
    head = result.headline[(result.headline["variant"] == "screened")]
    adv = head[head["kind"] == "advantage_over_second_best"]
    assert set(adv["condition"]) == {"proposed"}
    # planted 4.4 over 3.2 (before rounding and clipping): 37.5 %
    for _, row in adv.iterrows():
        assert row["ci_low"] < row["value"] < row["ci_high"]
        assert row["ci_low"] > 15


def test_analysis_without_ratings_returns_empty_tables():
    result = analyse(panel().iloc[0:0], config=FAST)
    assert result.summary.empty and result.tests.empty and result.listeners.empty


def test_validation_names_what_is_wrong():
    frame = panel()
    with pytest.raises(ValueError, match="1 to 5"):
        validate_frame(frame.assign(rating=frame["rating"] + 1))
    with pytest.raises(ValueError, match="lacks columns: item"):
        validate_frame(frame.drop(columns="item"))
    with pytest.raises(ValueError, match="unknown scales"):
        validate_frame(frame.assign(scale="loudness"))
