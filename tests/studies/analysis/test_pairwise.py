"""Pairwise analysis (studies/analysis/pairwise.py) on planted panels, against independent computations:
a Bradley-Terry maximum-likelihood fit written here with scipy.optimize, its numerical Hessian,
Wilson's formula, exact binomial tail sums and a hand-written Holm step-down."""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from studies.analysis.pairwise import PairwiseConfig, analyse_pairwise
from studies.analysis.synthetic import PairwisePanel, pairwise_roles, synthetic_pairwise

FAST = PairwiseConfig(bootstrap_resamples=200)  # the listener bootstrap is one choix fit per resample


def analysed(**kwargs):
    panel = PairwisePanel(**kwargs)
    frame = synthetic_pairwise(panel)
    return frame, analyse_pairwise(
        frame, roles=pairwise_roles(panel), study_order=list(panel.strengths), config=FAST
    )


def negative_log_likelihood(free, names, frame):
    """-log L of Bradley-Terry with the first condition's log-strength fixed at 0."""
    theta = dict(zip(names, np.concatenate([[0.0], free]), strict=True))
    loser = np.where(frame["winner"] == frame["left"], frame["right"], frame["left"])
    diff = frame["winner"].map(theta).to_numpy() - pd.Series(loser).map(theta).to_numpy()
    return float(np.sum(np.logaddexp(0.0, -diff)))


def direct_fit(frame, names):
    """Maximum likelihood by BFGS, then the covariance from a central-difference Hessian; both
    moved to the mean-zero parametrisation theta - mean(theta)."""
    fit = optimize.minimize(
        negative_log_likelihood, np.zeros(len(names) - 1), args=(names, frame), method="BFGS",
        options={"gtol": 1e-9},
    )  # fmt: skip
    k, h = len(names), 1e-4
    hessian = np.empty((k - 1, k - 1))

    def shifted(i, j, di, dj):
        x = fit.x.copy()
        x[i] += di
        x[j] += dj
        return negative_log_likelihood(x, names, frame)

    for i, j in itertools.product(range(k - 1), repeat=2):
        hessian[i, j] = (
            shifted(i, j, h, h) - shifted(i, j, h, -h) - shifted(i, j, -h, h) + shifted(i, j, -h, -h)
        ) / (4 * h * h)
    embed = np.vstack([np.zeros(k - 1), np.eye(k - 1)])  # free -> theta (first fixed at 0)
    centre = np.eye(k) - 1.0 / k
    theta = centre @ embed @ fit.x
    cov = centre @ embed @ np.linalg.inv(hessian) @ embed.T @ centre.T
    return theta, np.sqrt(np.diag(cov))


def test_bradley_terry_matches_a_direct_maximum_likelihood_fit():
    frame, result = analysed(listeners=40, rounds=2, seed=4)
    bt = result.bradley_terry[result.bradley_terry["variant"] == "screened"].set_index("condition")
    names = list(bt.index)
    assert names == ["proposed", "vded", "ec2vae", "bilstm", "real"]
    theta, se = direct_fit(frame, names)
    assert bt["log_strength"].to_numpy() == pytest.approx(theta, abs=1e-5)
    assert bt["se"].to_numpy() == pytest.approx(se, rel=1e-3)
    assert bt["log_strength"].sum() == pytest.approx(0.0, abs=1e-12)
    assert bt["ci_high"].to_numpy() - bt["log_strength"].to_numpy() == pytest.approx(1.959964 * se, rel=1e-3)
    share = np.exp(theta) / np.exp(theta).sum()
    assert bt["strength_share"].to_numpy() == pytest.approx(share, abs=1e-5)


def test_recovers_the_planted_strengths():
    panel = PairwisePanel(listeners=200, seed=7)
    _, result = analysed(listeners=200, seed=7)
    bt = result.bradley_terry[result.bradley_terry["variant"] == "screened"].set_index("condition")
    true = pd.Series(panel.strengths)
    true -= true.mean()
    for condition, value in true.items():
        assert bt.loc[condition, "ci_low"] < value < bt.loc[condition, "ci_high"], condition
    assert list(bt["log_strength"].sort_values(ascending=False).index) == [
        "real",
        "proposed",
        "vded",
        "ec2vae",
        "bilstm",
    ]


def wilson_by_hand(k, n, z=1.959963984540054):
    p = k / n
    centre = (k + z * z / 2) / (n + z * z)
    half = z * np.sqrt(n) / (n + z * z) * np.sqrt(p * (1 - p) + z * z / (4 * n))
    return centre - half, centre + half


def binomial_two_sided_by_hand(k, n):
    pmf = np.array([stats.binom.pmf(i, n, 0.5) for i in range(n + 1)])
    return min(1.0, float(pmf[pmf <= pmf[k] * (1 + 1e-7)].sum()))


def holm_by_hand(p):
    order = sorted(range(len(p)), key=lambda i: p[i])
    adjusted, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def test_win_rates_pairs_and_binomial_tests_match_a_direct_count():
    frame, result = analysed(listeners=25, seed=2)
    wins = result.win_rates[result.win_rates["variant"] == "screened"].set_index("condition")
    for condition, row in wins.iterrows():
        mine = frame[(frame["left"] == condition) | (frame["right"] == condition)]
        won = int((mine["winner"] == condition).sum())
        assert (row["comparisons"], row["wins"]) == (len(mine), won)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(wilson_by_hand(won, len(mine)))
    pairs = result.pairs[result.pairs["variant"] == "screened"]
    assert len(pairs) == 10
    p = []
    for row in pairs.itertuples():
        both = frame[
            frame["left"].isin([row.condition, row.versus]) & frame["right"].isin([row.condition, row.versus])
        ]
        k = int((both["winner"] == row.condition).sum())
        assert (row.n, row.wins, row.losses) == (len(both), k, len(both) - k)
        assert (row.ci_low, row.ci_high) == pytest.approx(wilson_by_hand(k, len(both)))
        assert row.p == pytest.approx(binomial_two_sided_by_hand(k, len(both)))
        p.append(row.p)
    assert pairs["p_holm"].to_numpy() == pytest.approx(holm_by_hand(p))
    decided = pairs.set_index(["condition", "versus"])["significant"]
    assert decided[("bilstm", "real")] and not decided[("proposed", "real")]  # 1.7 vs 0.3 log-odds apart


def test_position_bias_is_reported_when_planted_and_not_otherwise():
    _, biased = analysed(listeners=40, left_bias=0.8, seed=1)
    position = biased.position[biased.position["variant"] == "screened"].iloc[0]
    assert position["left_share"] > 0.6 and position["significant"]
    assert position["ci_low"] > 0.5
    for seed in (0, 1, 2):
        _, fair = analysed(listeners=40, seed=seed)
        assert not fair.position[fair.position["variant"] == "screened"].iloc[0]["significant"]


def test_listeners_who_always_pick_one_side_are_excluded():
    frame, result = analysed(listeners=20, rounds=1, left_only=(4, 9), seed=3)
    listeners = result.listeners.set_index("participant")
    assert listeners.index[listeners["excluded"]].tolist() == ["p00004", "p00009"]
    assert set(listeners.loc[listeners["excluded"], "reasons"]) == {"one_side_only"}
    assert listeners.loc["p00004", "left_share"] == 1.0
    everyone = result.position[result.position["variant"] == "all"].iloc[0]
    screened = result.position[result.position["variant"] == "screened"].iloc[0]
    assert everyone["choices"] == len(frame) and screened["choices"] == len(frame) - 2 * 10
    flow = result.flow.set_index("stage")
    assert flow.loc["answered at least one pair", "listeners"] == 20
    assert flow.loc["- excluded by screening", "listeners"] == 2
    assert flow.loc["analysed", "listeners"] == 18
    by_condition = result.condition_flow.set_index("condition")
    assert (
        by_condition.loc["real", "excluded"] == 2 and by_condition.loc["real", "choices_analysed"] == 18 * 4
    )


def test_a_condition_that_never_wins_has_no_finite_strength_and_says_why():
    rows = [
        {"participant": f"p{i}", "item": "i", "question": "preference", "left": a, "right": b, "winner": w}
        for i in range(6)
        for a, b, w in (("x", "y", "x" if i % 2 else "y"), ("x", "z", "x"), ("y", "z", "y"))
    ]
    result = analyse_pairwise(pd.DataFrame(rows))
    bt = result.bradley_terry[result.bradley_terry["variant"] == "screened"]
    assert bt["log_strength"].isna().all()
    assert bt["note"].str.contains("not estimable").all()
    assert any("Bradley-Terry" in n for n in result.notes)
    pairs = result.pairs[result.pairs["variant"] == "screened"].set_index(["condition", "versus"])
    assert pairs.loc[("x", "z"), "wins"] == 6 and pairs.loc[("x", "z"), "p"] == pytest.approx(2 / 64)


def test_bad_input_is_refused_with_a_clear_message():
    row = {"participant": "p", "item": "i", "question": "q", "left": "a", "right": "b", "winner": "c"}
    with pytest.raises(ValueError, match="winner 'c' is neither"):
        analyse_pairwise(pd.DataFrame([row]))
    with pytest.raises(ValueError, match="with itself"):
        analyse_pairwise(pd.DataFrame([row | {"right": "a", "winner": "a"}]))
    with pytest.raises(ValueError, match="lacks columns: winner"):
        analyse_pairwise(pd.DataFrame([row]).drop(columns="winner"))


def test_the_listener_bootstrap_widens_when_listeners_disagree():
    """Half the listeners always prefer x to y, half y to x: 100 x-y choices split near 50/50
    look precise to the Wald interval (choices as independent), not to the listener bootstrap."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(20):
        for _ in range(5):
            rows.append(("x", "y", "x" if i < 10 else "y"))
            rows += [(a, "z", a if rng.random() < 0.5 else "z") for a in ("x", "y")]
    frame = pd.DataFrame(
        [
            {"participant": f"p{i:02d}", "item": "i", "question": "q", "left": a, "right": b, "winner": w}
            for i in range(20)
            for a, b, w in rows[i * 15 : (i + 1) * 15]
        ]
    )
    bt = analyse_pairwise(frame).bradley_terry.query("variant == 'screened'").set_index("condition")
    for condition in ("x", "y"):
        row = bt.loc[condition]
        assert row["boot_low"] < row["log_strength"] < row["boot_high"]
        assert row["boot_high"] - row["boot_low"] > 1.5 * (row["ci_high"] - row["ci_low"])
    assert bt["note"].eq("").all()
