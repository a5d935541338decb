"""MUSHRA analysis (studies/analysis/mushra.py) on planted panels, against independent computations."""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from studies.analysis.mushra import MushraConfig, analyse_mushra
from studies.analysis.synthetic import MushraPanel, synthetic_mushra

FAST = MushraConfig(bootstrap_resamples=400)


def page(participant, item, scores, scale="quality"):
    """One page of a hand-made frame: scores = {condition: score}; roles from the names."""
    roles = {"ref": "reference", "anchor": "low_anchor"}
    return [
        {"participant": participant, "item": item, "condition": c, "role": roles.get(c, "system"),
         "scale": scale, "score": s}
        for c, s in scores.items()
    ]  # fmt: skip


def test_means_and_intervals_match_an_independent_computation():
    frame = synthetic_mushra(MushraPanel(listeners=24, missing_fraction=0.15, seed=3))
    result = analyse_mushra(frame, config=FAST, study_order=["proposed", "vded", "bilstm"])
    kept = set(result.listeners.loc[~result.listeners["excluded"], "participant"])
    data = frame[frame["participant"].isin(kept)]
    listener_means = data.groupby(["condition", "participant"])["score"].mean()
    summary = result.primary.set_index("condition")
    assert list(summary.index) == ["proposed", "vded", "bilstm", "real", "anchor"]
    for condition, means in listener_means.groupby(level="condition"):
        values = means.to_numpy()
        low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
        row = summary.loc[condition]
        assert row["listeners"] == len(values)
        assert row["scores"] == (data["condition"] == condition).sum()
        assert row["mean"] == pytest.approx(values.mean())
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
        assert row["boot_low"] < row["mean"] < row["boot_high"]
        raw = data.loc[data["condition"] == condition, "score"]
        assert row["raw_median"] == raw.median()
        assert row["raw_iqr"] == pytest.approx(raw.quantile(0.75) - raw.quantile(0.25))
    # Missing pages: the mean of listener means differs from the plain mean, and is what is reported.
    assert not np.allclose(summary["mean"], summary["raw_mean"])
    item = result.by_item[
        (result.by_item["item"] == "item02") & (result.by_item["condition"] == "vded")
    ].iloc[0]
    scores = data[(data["item"] == "item02") & (data["condition"] == "vded")]["score"].to_numpy(dtype=float)
    assert item["mean"] == pytest.approx(scores.mean())
    assert item["ci_high"] - item["mean"] == pytest.approx(
        stats.t.ppf(0.975, len(scores) - 1) * scores.std(ddof=1) / np.sqrt(len(scores))
    )


def test_recovers_the_planted_means_and_their_order():
    """Intervals are over listeners for these items (items are not resampled), so the panel has
    no item offsets here: the planted means are then what the intervals estimate."""
    true = {"proposed": 72.0, "vded": 58.0, "bilstm": 45.0}
    result = analyse_mushra(synthetic_mushra(MushraPanel(listeners=60, item_sd=0.0, seed=1)), config=FAST)
    summary = result.primary.set_index("condition")
    for condition, mean in true.items():
        assert summary.loc[condition, "ci_low"] < mean < summary.loc[condition, "ci_high"]
    assert summary.loc["proposed", "mean"] > summary.loc["vded", "mean"] > summary.loc["bilstm", "mean"]
    assert summary.loc["real", "mean"] > 95 and summary.loc["anchor", "mean"] < 25


def test_post_screening_excludes_exactly_the_planted_listeners_for_their_reason():
    frame = synthetic_mushra(MushraPanel(listeners=20, reference_low=(3,), anchor_high=(7,), seed=2))
    result = analyse_mushra(frame, config=FAST)
    listeners = result.listeners.set_index("participant")
    assert listeners.index[listeners["excluded"]].tolist() == ["p00003", "p00007"]
    assert listeners.loc["p00003", "reasons"] == "reference_scored_low"
    assert listeners.loc["p00007", "reasons"] == "anchor_scored_high"
    ref = frame[(frame["condition"] == "real") & (frame["participant"] == "p00003")]
    assert listeners.loc["p00003", "reference_low_fraction"] == pytest.approx((ref["score"] < 90).mean())
    assert listeners.loc["p00003", "reference_low_fraction"] > 0.15
    assert (listeners.drop(["p00003", "p00007"])["reference_low_fraction"] <= 0.15).all()
    flow = result.flow.set_index("stage")
    assert flow.loc["scored at least one page", "listeners"] == 20
    assert flow.loc["- excluded by screening", "listeners"] == 2
    assert "hidden reference below 90" in flow.loc["- excluded by screening", "detail"]
    assert flow.loc["analysed", "listeners"] == 18
    assert result.condition_flow.set_index("condition").loc["real", "analysed"] == 18
    screened = result.primary.set_index("condition")
    everyone = result.summary[result.summary["variant"] == "all"].set_index("condition")
    assert screened.loc["real", "mean"] > everyone.loc["real", "mean"]
    assert screened.loc["anchor", "mean"] < everyone.loc["anchor", "mean"]


def test_the_fifteen_percent_line_and_the_anchor_guard():
    """1 of 7 pages below 90 (14 %) keeps a listener; 1 of 6 (17 %) excludes one. An anchor that
    more than a quarter of the listeners score above 90 on a page judges nobody on that page."""
    rows = []
    for k in range(7):
        rows += page("keep", f"i{k}", {"ref": 80 if k == 0 else 100, "sys": 50, "anchor": 10})
    for k in range(6):
        rows += page("drop", f"i{k}", {"ref": 80 if k == 0 else 100, "sys": 50, "anchor": 10})
    for who in ("a", "b", "c"):
        for k in range(7):
            rows += page(who, f"i{k}", {"ref": 100, "sys": 50, "anchor": 95 if k == 1 else 10})
    result = analyse_mushra(pd.DataFrame(rows), reference="ref", anchor="anchor", config=FAST)
    listeners = result.listeners.set_index("participant")
    assert listeners.loc["keep", "reference_low_fraction"] == pytest.approx(1 / 7)
    assert listeners.index[listeners["excluded"]].tolist() == ["drop"]
    # Page i1: 3 of 5 listeners scored its anchor 95 (60 % > 25 %): it does not count.
    assert listeners.loc["a", "anchor_pages"] == 6 and listeners.loc["a", "anchor_high"] == 0
    assert any("did not count for the anchor rule" in n for n in result.notes)
    # Without the guard page, 1 high anchor in 7 is still under 15 %; 2 in 7 would not be.
    rows2 = [r for r in rows if r["participant"] != "a"]
    for k in range(7):
        rows2 += page("a", f"i{k}", {"ref": 100, "sys": 50, "anchor": 95 if k in (2, 3) else 10})
    second = analyse_mushra(pd.DataFrame(rows2), reference="ref", anchor="anchor", config=FAST)
    assert second.listeners.set_index("participant").loc["a", "reasons"] == "anchor_scored_high"
    off = analyse_mushra(
        pd.DataFrame(rows2), reference="ref", anchor="anchor", config=MushraConfig(anchor_rule=False)
    )
    assert off.listeners.loc[off.listeners["excluded"], "participant"].tolist() == ["drop"]


def holm_by_hand(p):
    order = sorted(range(len(p)), key=lambda i: p[i])
    adjusted, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def test_friedman_and_wilcoxon_holm_match_scipy_on_listener_means():
    frame = synthetic_mushra(MushraPanel(listeners=60, items=4, seed=5))
    result = analyse_mushra(frame, config=FAST)
    tests = result.tests[result.tests["variant"] == "screened"]
    kept = set(result.listeners.loc[~result.listeners["excluded"], "participant"])
    wide = frame[frame["participant"].isin(kept)].pivot_table(
        index="participant", columns="condition", values="score", aggfunc="mean"
    )[result.order]
    friedman = tests[tests["test"] == "friedman"].iloc[0]
    expected = stats.friedmanchisquare(*wide.to_numpy().T)
    assert friedman["statistic"] == pytest.approx(expected.statistic)
    assert friedman["p"] == pytest.approx(expected.pvalue)
    wilcoxon = tests[tests["test"] == "wilcoxon"].set_index(["condition", "versus"])
    pairs = list(itertools.combinations(result.order, 2))
    assert list(wilcoxon.index) == pairs
    p = [
        stats.wilcoxon(np.round(wide[a] - wide[b], 9), correction=True, method="approx").pvalue
        for a, b in pairs
    ]
    assert wilcoxon["p"].to_numpy() == pytest.approx(p)
    assert wilcoxon["p_holm"].to_numpy() == pytest.approx(holm_by_hand(p))
    assert wilcoxon.loc[("proposed", "vded"), "significant"]


def test_finds_no_difference_where_none_was_planted():
    same = {"a": ("system", 60.0), "b": ("system", 60.0), "c": ("system", 60.0), "ref": ("reference", 97.0)}
    for seed in (0, 1, 2):
        result = analyse_mushra(
            synthetic_mushra(MushraPanel(listeners=20, conditions=same, seed=seed)), config=FAST
        )
        tests = result.tests[(result.tests["variant"] == "screened") & (result.tests["test"] == "wilcoxon")]
        systems = tests[tests["condition"].isin(["a", "b", "c"]) & tests["versus"].isin(["a", "b", "c"])]
        assert not systems["significant"].any()
        assert tests[tests["versus"] == "ref"]["significant"].all()


def test_bad_input_is_refused_with_a_clear_message():
    good = pd.DataFrame(page("x", "i0", {"ref": 100, "sys": 50}))
    with pytest.raises(ValueError, match="whole numbers from 0 to 100"):
        analyse_mushra(good.assign(score=[100, 101]))
    with pytest.raises(ValueError, match="more than once"):
        analyse_mushra(pd.concat([good, good]))
    with pytest.raises(ValueError, match="lacks columns: score"):
        analyse_mushra(good.drop(columns="score"))
    with pytest.raises(ValueError, match="hidden reference 'nope' is not among"):
        analyse_mushra(good, reference="nope")


def test_participant_flow_from_sessions():
    frame = synthetic_mushra(MushraPanel(listeners=4, seed=0))
    participants = pd.DataFrame(
        {
            "participant": ["p00000", "p00001", "p00002", "p00003", "gone", "deaf"],
            "status": ["completed", "completed", "completed", "abandoned", "abandoned", "screened_out"],
            "volume_checked": [True] * 6,
            "headphone_passed": [True, True, True, True, True, False],
        }
    )
    flow = analyse_mushra(frame, config=FAST, participants=participants).flow.set_index("stage")
    assert flow.loc["joined (consented)", "listeners"] == 6
    assert flow.loc["- screened out at the headphone check", "listeners"] == 1
    assert flow.loc["- abandoned before a first answer", "listeners"] == 1
    assert flow.loc["scored at least one page", "listeners"] == 4
    assert flow.loc["scored at least one page", "detail"].startswith("3 completed, 1 abandoned")


def test_each_scale_is_its_own_page_and_holm_family():
    frame = synthetic_mushra(
        MushraPanel(listeners=12, scales=("quality", "timbre"), reference_low=(1,), seed=4)
    )
    result = analyse_mushra(frame, config=FAST)
    listeners = result.listeners.set_index("participant")
    assert (listeners["reference_pages"] == 2 * 6).all()  # 6 items x 2 scales
    assert listeners.index[listeners["excluded"]].tolist() == ["p00001"]
    tests = result.tests[(result.tests["variant"] == "screened") & (result.tests["test"] == "wilcoxon")]
    assert tests.groupby("scale").size().to_dict() == {"quality": 10, "timbre": 10}
    assert tests["note"].str.contains("Holm family: 10 pairs of timbre").sum() == 10
    assert set(result.primary["scale"]) == {"quality", "timbre"}
