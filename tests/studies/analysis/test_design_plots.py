"""The MUSHRA and pairwise figures show what an independent computation says they should."""

import numpy as np
import pytest
from scipy import stats

from studies.analysis.design_plots import bradley_terry_chart, mushra_chart, win_matrix_chart
from studies.analysis.mushra import MushraConfig, analyse_mushra
from studies.analysis.pairwise import PairwiseConfig, analyse_pairwise
from studies.analysis.synthetic import (
    MushraPanel,
    PairwisePanel,
    pairwise_roles,
    synthetic_mushra,
    synthetic_pairwise,
)


def test_mushra_bars_whiskers_and_n_match_the_listener_means():
    frame = synthetic_mushra(MushraPanel(listeners=10, missing_fraction=0.2, seed=6))
    result = analyse_mushra(frame, config=MushraConfig(bootstrap_resamples=200))
    ax = mushra_chart(result.primary, title="t").axes[0]
    bars = {p.get_gid(): p for p in ax.patches if p.get_gid()}
    whiskers = {
        c.get_gid()[3:]: [seg[:, 1] for seg in c.get_segments()]
        for c in ax.collections
        if (c.get_gid() or "").startswith("ci|")
    }
    labels = {t.get_gid(): t.get_text() for t in ax.texts if (t.get_gid() or "").startswith("n|")}
    assert len(bars) == 5
    for condition, cell in frame.groupby("condition"):
        means = cell.groupby("participant")["score"].mean()
        assert bars[f"quality|{condition}"].get_height() == pytest.approx(means.mean())
        half = stats.t.ppf(0.975, len(means) - 1) * means.std(ddof=1) / np.sqrt(len(means))
        assert sorted(whiskers[condition][0]) == pytest.approx([means.mean() - half, means.mean() + half])
        assert labels[f"n|quality|{condition}"] == f"n={len(means)}"


def test_bradley_terry_points_and_win_matrix_cells():
    panel = PairwisePanel(listeners=15, seed=8)
    frame = synthetic_pairwise(panel)
    result = analyse_pairwise(
        frame,
        roles=pairwise_roles(panel),
        study_order=list(panel.strengths),
        config=PairwiseConfig(bootstrap_resamples=100),
    )
    bt = result.bradley_terry[result.bradley_terry["variant"] == "screened"]
    ax = bradley_terry_chart(bt, "t").axes[0]
    points = {
        line.get_gid(): line.get_xdata()[0]
        for container in ax.containers
        for line in [container.lines[0]]
        if line.get_gid()
    }
    for row in bt.itertuples():
        assert points[f"bt|preference|{row.condition}"] == pytest.approx(row.log_strength)
    pairs = result.pairs[result.pairs["variant"] == "screened"]
    cells = {
        t.get_gid(): t.get_text() for t in win_matrix_chart(pairs, result.order, "preference").axes[0].texts
    }
    for a, b in (("proposed", "bilstm"), ("bilstm", "proposed")):
        mine = frame[frame["left"].isin([a, b]) & frame["right"].isin([a, b])]
        share = (mine["winner"] == a).mean()
        assert cells[f"win|{a}|{b}"] == f"{share:.2f}\nn={len(mine)}"
