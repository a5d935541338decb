"""MOS, intervals and the paper's headline figures against an independent computation."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from studies.analysis import AnalysisConfig, analyse
from studies.analysis.frame import validate_frame
from studies.analysis.summary import headline, listener_cells, summarise
from tests.studies.analysis.panels import FAST, panel


def _by_hand(frame: pd.DataFrame, scale: str, condition: str):
    cell = frame[(frame["scale"] == scale) & (frame["condition"] == condition)]
    per_listener = cell.groupby("participant")["rating"].mean().to_numpy()
    n = len(per_listener)
    half = stats.t.ppf(0.975, n - 1) * per_listener.std(ddof=1) / np.sqrt(n)
    return per_listener, cell["rating"].mean(), per_listener.mean() - half, per_listener.mean() + half


def test_summary_matches_independent_computation_with_missing_trials():
    frame = panel(missing_fraction=0.15, seed=3)
    table = summarise(frame, AnalysisConfig(fit_models=False, bootstrap_resamples=4000))
    assert len(table) == 3 * 5
    assert table["condition"].tolist()[:5] == ["bilstm", "proposed", "vded", "real", "anchor"]
    differs = 0
    for _, row in table.iterrows():
        per_listener, raw, low, high = _by_hand(frame, row["scale"], row["condition"])
        # One basis: the MOS is the mean of listener means, and both intervals sit around it.
        assert row["mos"] == pytest.approx(per_listener.mean())
        assert (row["ci_low"] + row["ci_high"]) / 2 == pytest.approx(row["mos"])
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
        assert row["raw_mean"] == pytest.approx(raw)
        differs += abs(raw - row["mos"]) > 1e-3
        assert row["listeners"] == len(per_listener)
        # The shared resampling matrix gives what scipy's own bootstrap gives, within Monte Carlo error.
        ref = stats.bootstrap(
            (per_listener,), np.mean, n_resamples=4000, method="percentile", rng=np.random.default_rng(1)
        ).confidence_interval
        assert row["boot_low"] == pytest.approx(ref.low, abs=0.03)
        assert row["boot_high"] == pytest.approx(ref.high, abs=0.03)
    assert differs > 0  # missing trials do make the two bases differ here


def test_study_order_puts_systems_first_in_their_order():
    frame = panel(seed=3)
    table = summarise(
        frame, FAST, cells=listener_cells(frame, FAST, study_order=["vded", "real", "proposed"])
    )
    assert table["condition"].tolist()[:5] == ["vded", "proposed", "bilstm", "real", "anchor"]


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


def test_headline_values_sit_on_the_listeners_who_rated_both():
    frame = panel(listeners=14, missing_fraction=0.3, seed=12)
    table = summarise(frame, FAST)
    head = headline(frame, table, FAST)
    for row in head.itertuples():
        cell = (
            frame[frame["scale"] == row.scale]
            .groupby(["participant", "condition"])["rating"]
            .mean()
            .unstack()
        )
        both = cell[[row.condition, row.versus]].dropna()
        assert row.listeners == len(both)
        if row.kind == "advantage_over_second_best":
            expected = 100 * (both[row.condition].mean() / both[row.versus].mean() - 1)
        else:
            expected = (both[row.condition] - both[row.versus]).mean()
        assert row.value == pytest.approx(expected)
        assert row.ci_low < row.value < row.ci_high


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
