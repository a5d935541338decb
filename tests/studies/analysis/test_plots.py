"""The figures show what an independent computation says they should."""

import numpy as np
import pytest
from scipy import stats

from studies.analysis import analyse
from studies.analysis.plots import flow_chart, listener_distribution_chart, mos_bar_chart, render
from tests.studies.analysis.panels import CLEAR_WINNER, FAST, panel


def test_bar_heights_and_error_bars_match_an_independent_computation():
    frame = panel(CLEAR_WINNER, listeners=12, missing_fraction=0.1, seed=1)
    summary = analyse(frame, config=FAST).primary
    fig = mos_bar_chart(summary)
    ax = fig.axes[0]
    bars = {p.get_gid(): p for p in ax.patches if p.get_gid()}
    assert len(bars) == 15
    segments = {}
    for collection in ax.collections:
        gid = collection.get_gid() or ""
        if gid.startswith("ci|"):
            segments[gid[3:]] = [seg[:, 1] for seg in collection.get_segments()]
    labels = {t.get_gid(): t.get_text() for t in ax.texts if (t.get_gid() or "").startswith("n|")}
    for (scale, condition), cell in frame.groupby(["scale", "condition"]):
        means = cell.groupby("participant")["rating"].mean()
        # The bar is the mean of listener means, and its whisker is centred on it.
        assert bars[f"{scale}|{condition}"].get_height() == pytest.approx(means.mean())
        half = stats.t.ppf(0.975, len(means) - 1) * means.std(ddof=1) / np.sqrt(len(means))
        scale_index = ["naturalness", "creativity", "musicality"].index(scale)
        low, high = sorted(segments[condition][scale_index])
        assert (low, high) == pytest.approx((means.mean() - half, means.mean() + half))
        assert labels[f"n|{scale}|{condition}"] == f"n={len(means)}"
    assert render(fig, "png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in render(fig, "svg")[:500]


def test_listener_chart_shows_each_listeners_rating_shares():
    frame = panel(CLEAR_WINNER, listeners=6, flat=(2,), seed=2)
    result = analyse(frame, config=FAST)
    fig = listener_distribution_chart(frame, result.listeners)
    ax = fig.axes[0]
    widths = {p.get_gid(): p.get_width() for p in ax.patches if p.get_gid()}
    for who, ratings in frame.groupby("participant")["rating"]:
        for value in range(1, 6):
            assert widths[f"{who}|{value}"] == pytest.approx(np.mean(ratings == value))
    assert widths["p00002|3"] == 1.0
    red = [t.get_text() for t in ax.get_yticklabels() if t.get_color() == "#d7191c"]
    assert red == ["p00002"]
    assert fig.get_suptitle().endswith("n = 6 listeners, 1 excluded")


def test_flow_chart_shows_every_stage_with_its_count():
    frame = panel(CLEAR_WINNER, listeners=6, flat=(2,), seed=2)
    result = analyse(frame, config=FAST)
    fig = flow_chart(result.flow, result.condition_flow)
    texts = {t.get_gid(): t.get_text() for t in fig.axes[0].texts if t.get_gid()}
    assert texts["flow|rated at least one clip"].endswith("n = 6")
    assert texts["flow|excluded by screening"].startswith("excluded by screening: 1")
    assert texts["flow|analysed"].endswith("n = 5")


def test_large_panels_get_distributions_instead_of_one_bar_per_listener():
    frame = panel(CLEAR_WINNER, listeners=70, seed=3)
    result = analyse(frame, config=FAST)
    fig = listener_distribution_chart(frame, result.listeners)
    assert len(fig.axes) == 2
    kept_counts = sum(p.get_height() for p in fig.axes[0].patches[:32])
    assert kept_counts == (~result.listeners["excluded"]).sum()
