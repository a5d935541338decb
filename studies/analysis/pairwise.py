"""Analysis of a pairwise-preference study: win rates, Bradley-Terry scores, binomial tests, position bias.

Pure: it takes the pairwise frame of `design_frames.PAIRWISE_COLUMNS` (one row per choice) and
needs no Django. Per question (each is its own analysis and its own Holm family):

- win rates per condition (wins / comparisons it took part in) and per unordered pair, each with
  a Wilson score interval;
- Bradley-Terry log-strengths (Bradley & Terry 1952) fitted by choix's I-LSR, the maximum-likelihood
  estimate, centred to mean 0, with Wald intervals from the Fisher information (its pseudo-inverse,
  as the strengths are identified only up to a constant);
- a two-sided exact binomial test per pair (H0: each clip wins half the time), Holm-corrected over
  the question's pairs;
- the share of choices for the left clip (slot 0), its Wilson interval and a binomial test
  against one half: with positions counterbalanced, a bias there is a property of the listeners,
  not of the conditions.

Wilson and Wald intervals treat every choice as independent; a listener's choices are not quite,
so they are a little narrow when listeners disagree with one another (the report says so).
Screening: a listener who chose the same side on every one of at least `side_min_choices`
choices answered by position, not by sound (ours; no standard defines it), and is excluded.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field

import choix
import numpy as np
import pandas as pd
from scipy import stats
from scipy.sparse.csgraph import connected_components

from .config import AnalysisConfig
from .design_frames import design_order, validate_pairwise_frame
from .flow import participant_flow
from .significance import holm
from .summary import Resampler

REASONS = {"one_side_only": "chose the same side (left or right) on every pair"}
CRITERIA = {
    "one_side_only": (
        "at least side_min_choices (10) choices, every one of them for the same side",
        "ours: with sides counterbalanced, a listener who always picks one side answers by position",
    )
}
WIN_COLUMNS = ["question", "condition", "role", "comparisons", "wins", "win_rate", "ci_low", "ci_high"]
PAIR_COLUMNS = [
    "question", "condition", "versus", "n", "wins", "losses", "win_rate", "ci_low", "ci_high",
    "p", "p_holm", "significant", "note",
]  # fmt: skip
BT_COLUMNS = [
    "question", "condition", "role", "log_strength", "se", "ci_low", "ci_high", "boot_low", "boot_high",
    "strength_share", "method", "note",
]  # fmt: skip
POSITION_COLUMNS = [
    "question",
    "choices",
    "left_chosen",
    "left_share",
    "ci_low",
    "ci_high",
    "p",
    "significant",
]
LISTENER_COLUMNS = ["participant", "choices", "left_share", "excluded", "reasons"]
CONDITION_FLOW_COLUMNS = ["condition", "role", "with_choices", "excluded", "analysed", "choices_analysed"]


@dataclass(frozen=True)
class PairwiseConfig:
    """Settings of the pairwise analysis; every default says where it comes from."""

    confidence: float = 0.95  # as every other interval in the analyses
    alpha: float = 0.05  # family-wise error rate of the Holm-corrected binomial tests
    side_min_choices: int = 10  # 10 same-side choices by chance: 2 x 0.5^10, about 0.2 %
    bt_max_iter: int = 1000  # I-LSR iterations; it converges in tens on connected data
    # The listener bootstrap of the Bradley-Terry scores: one choix fit per resample, ~2.6 ms of CPU each.
    bootstrap_resamples: int = 1000
    seed: int = 0  # fixed, so the same choices always give the same bootstrap intervals
    max_failed_resamples: float = 0.05  # above this share of resamples without an MLE: no interval

    @classmethod
    def from_options(cls, options: dict | None) -> PairwiseConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (options or {}).items() if k in names})

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class PairwiseResult:
    config: PairwiseConfig
    choices: pd.DataFrame  # the validated pairwise frame
    listeners: pd.DataFrame  # one row per listener: choices, share of left, excluded, reasons
    win_rates: pd.DataFrame  # variant x question x condition
    pairs: pd.DataFrame  # variant x question x unordered pair, with the binomial test
    bradley_terry: pd.DataFrame  # variant x question x condition
    position: pd.DataFrame  # variant x question: left/right bias
    flow: pd.DataFrame
    condition_flow: pd.DataFrame
    order: list[str]
    notes: list[str] = field(default_factory=list)
    test_type: str = "pairwise"


def wilson_interval(successes, trials, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (Wilson 1927) for successes out of trials (NaN where trials is 0)."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    z = stats.norm.ppf(0.5 + confidence / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def screen_listeners(choices: pd.DataFrame, config: PairwiseConfig) -> pd.DataFrame:
    """One row per listener: choices, share of them for the left clip, excluded, reasons."""
    if choices.empty:
        return pd.DataFrame(columns=LISTENER_COLUMNS)
    left = (choices["winner"] == choices["left"]).groupby(choices["participant"]).agg(["size", "mean"])
    table = pd.DataFrame(
        {"participant": left.index, "choices": left["size"].to_numpy(), "left_share": left["mean"].to_numpy()}
    )
    one_side = (table["choices"] >= config.side_min_choices) & table["left_share"].isin([0.0, 1.0])
    table["excluded"] = one_side
    table["reasons"] = np.where(one_side, "one_side_only", "")
    return table.loc[:, LISTENER_COLUMNS]


def _comparisons(part: pd.DataFrame, order: list[str]) -> np.ndarray:
    """wins[i, j] = how often condition i was chosen over condition j."""
    index = {c: i for i, c in enumerate(order)}
    loser = np.where(part["winner"] == part["left"], part["right"], part["left"])
    wins = np.zeros((len(order), len(order)))
    np.add.at(wins, (part["winner"].map(index).to_numpy(), pd.Series(loser).map(index).to_numpy()), 1)
    return wins


def bt_information(theta: np.ndarray, wins: np.ndarray) -> np.ndarray:
    """Fisher information of the Bradley-Terry log-strengths: sum over pairs of n_ij p_ij (1 - p_ij)
    (e_i - e_j)(e_i - e_j)^T, where n_ij counts the comparisons of i and j."""
    n = wins + wins.T
    p = 1 / (1 + np.exp(-(theta[:, None] - theta[None, :])))
    w = n * p * (1 - p)
    np.fill_diagonal(w, 0)
    return np.diag(w.sum(axis=1)) - w


def bradley_terry(
    wins: np.ndarray, config: PairwiseConfig, names: list[str] | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """Maximum-likelihood log-strengths (mean 0) and their standard errors.

    Returns:
        (theta, se, note); NaN arrays with the reason in `note` when the MLE does not exist: the
        graph of "i beat j" must be strongly connected (every condition won and lost somewhere
        along a chain to every other), else some strength runs off to infinity.
    """
    k = len(wins)
    nan = np.full(k, np.nan)
    compared = wins + wins.T
    played = compared.sum(axis=1) > 0
    if k < 2 or not played.all():
        names = names or [str(i) for i in range(k)]
        missing = ", ".join(names[i] for i in np.flatnonzero(~played))
        return (
            nan,
            nan,
            f"not estimable: condition(s) {missing} never compared" if k >= 2 else "not estimable",
        )
    strong, _ = connected_components(wins > 0, directed=True, connection="strong")
    if strong > 1:
        return (
            nan,
            nan,
            (
                "not estimable: some condition won (or lost) every comparison against a group of the "
                "others, so its maximum-likelihood strength is infinite"
            ),
        )
    try:
        theta = choix.ilsr_pairwise_dense(wins, alpha=0.0, max_iter=config.bt_max_iter, tol=1e-12)
    except RuntimeError as exc:  # did not converge
        return nan, nan, f"not estimable: {exc}"
    theta = theta - theta.mean()
    cov = np.linalg.pinv(bt_information(theta, wins))
    return theta, np.sqrt(np.clip(np.diag(cov), 0, None)), ""


def bt_bootstrap(
    part: pd.DataFrame, present: list[str], config: PairwiseConfig, start: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """Percentile interval of each log-strength over listeners resampled with replacement.

    The Wald interval counts every choice as independent; this one resamples whole listeners
    (with all their choices), so it widens when listeners disagree with each other. A resample
    whose "beat" graph is not strongly connected has no MLE and is skipped; above
    `max_failed_resamples` of them, there is no interval (NaN) and the note says why. `start`
    (the full-data estimate) warm-starts every fit.
    """
    k = len(present)
    nan = np.full(k, np.nan)
    listeners = sorted(part["participant"].unique())
    who = part["participant"].map({p: i for i, p in enumerate(listeners)}).to_numpy()
    index = {c: i for i, c in enumerate(present)}
    loser = np.where(part["winner"] == part["left"], part["right"], part["left"])
    per_listener = np.zeros((len(listeners), k, k))
    np.add.at(
        per_listener, (who, part["winner"].map(index).to_numpy(), pd.Series(loser).map(index).to_numpy()), 1
    )
    shared = AnalysisConfig(
        confidence=config.confidence, bootstrap_resamples=config.bootstrap_resamples, seed=config.seed
    )
    weights = Resampler(len(listeners), shared).weights
    draws = (weights @ per_listener.reshape(len(listeners), -1)).reshape(-1, k, k)  # (resamples, k, k)
    thetas, failed = [], 0
    for wins in draws:
        if connected_components(wins > 0, directed=True, connection="strong")[0] > 1:
            failed += 1
            continue
        try:
            theta = choix.ilsr_pairwise_dense(
                wins, alpha=0.0, initial_params=start, max_iter=config.bt_max_iter, tol=1e-10
            )
        except RuntimeError:
            failed += 1
            continue
        thetas.append(theta - theta.mean())
    note = f"{failed} of {len(draws)} listener resamples had no maximum-likelihood fit" if failed else ""
    if not thetas or failed > config.max_failed_resamples * len(draws):
        return nan, nan, note + "; no bootstrap interval" if note else "no bootstrap interval"
    tail = 50 * (1 - config.confidence)
    low, high = np.percentile(np.array(thetas), [tail, 100 - tail], axis=0)
    return low, high, note


def _question_tables(
    part: pd.DataFrame, question: str, order: list[str], roles: dict, config: PairwiseConfig, bootstrap: bool
):
    present = [c for c in order if ((part["left"] == c) | (part["right"] == c)).any()]
    wins = _comparisons(part, present)
    comparisons = (wins + wins.T).sum(axis=1)
    won = wins.sum(axis=1)
    low, high = wilson_interval(won, comparisons, config.confidence)
    win_rates = pd.DataFrame(
        {
            "question": question,
            "condition": present,
            "role": [roles[c] for c in present],
            "comparisons": comparisons.astype(int),
            "wins": won.astype(int),
            "win_rate": won / comparisons,
            "ci_low": low,
            "ci_high": high,
        },
        columns=WIN_COLUMNS,
    )
    rows = []
    for i, j in itertools.combinations(range(len(present)), 2):
        n = int(wins[i, j] + wins[j, i])
        row = {"question": question, "condition": present[i], "versus": present[j], "n": n}
        if n == 0:
            rows.append(row | {"wins": 0, "losses": 0, "note": "skipped: never compared"})
            continue
        lo, hi = wilson_interval(wins[i, j], n, config.confidence)
        rows.append(
            row
            | {
                "wins": int(wins[i, j]),
                "losses": int(wins[j, i]),
                "win_rate": wins[i, j] / n,
                "ci_low": float(lo),
                "ci_high": float(hi),
                "p": float(stats.binomtest(int(wins[i, j]), n, 0.5).pvalue),
                "note": "",
            }
        )
    tested = [r for r in rows if "p" in r]
    for r, adjusted in zip(tested, holm([r["p"] for r in tested]) if tested else [], strict=True):
        r["p_holm"] = float(adjusted)
        r["significant"] = bool(adjusted <= config.alpha)
        r["note"] = f"Holm family: {len(tested)} pairs of {question}"
    pairs = pd.DataFrame(rows, columns=PAIR_COLUMNS)
    theta, se, note = bradley_terry(wins, config, present)
    boot_low, boot_high = np.full(len(present), np.nan), np.full(len(present), np.nan)
    method = "maximum likelihood (choix I-LSR); Wald CI from the Fisher information"
    if not note and bootstrap and config.bootstrap_resamples:
        boot_low, boot_high, note = bt_bootstrap(part, present, config, start=theta)
        method += "; percentile bootstrap CI over listeners"
    z = stats.norm.ppf(0.5 + config.confidence / 2)
    strength = np.exp(theta) / np.exp(theta).sum()
    bt = pd.DataFrame(
        {
            "question": question,
            "condition": present,
            "role": [roles[c] for c in present],
            "log_strength": theta,
            "se": se,
            "ci_low": theta - z * se,
            "ci_high": theta + z * se,
            "boot_low": boot_low,
            "boot_high": boot_high,
            "strength_share": strength,
            "method": method,
            "note": note,
        },
        columns=BT_COLUMNS,
    )
    left = int((part["winner"] == part["left"]).sum())
    lo, hi = wilson_interval(left, len(part), config.confidence)
    p_left = float(stats.binomtest(left, len(part), 0.5).pvalue) if len(part) else np.nan
    position = {
        "question": question,
        "choices": len(part),
        "left_chosen": left,
        "left_share": left / len(part) if len(part) else np.nan,
        "ci_low": float(lo),
        "ci_high": float(hi),
        "p": p_left,
        "significant": bool(p_left < config.alpha) if len(part) else None,
    }
    return win_rates, pairs, bt, position


def _variant_tables(
    choices: pd.DataFrame, order: list[str], roles: dict, config: PairwiseConfig, bootstrap: bool
) -> dict:
    tables = {"win_rates": [], "pairs": [], "bradley_terry": [], "position": []}
    for question, part in choices.groupby("question", sort=False):
        win_rates, pairs, bt, position = _question_tables(part, question, order, roles, config, bootstrap)
        tables["win_rates"].append(win_rates)
        tables["pairs"].append(pairs)
        tables["bradley_terry"].append(bt)
        tables["position"].append(pd.DataFrame([position], columns=POSITION_COLUMNS))
    return tables


def _condition_flow(
    choices: pd.DataFrame, listeners: pd.DataFrame, order: list[str], roles: dict
) -> pd.DataFrame:
    excluded = set(listeners.loc[listeners["excluded"], "participant"]) if len(listeners) else set()
    long = pd.concat(
        [choices[["participant", "left"]].rename(columns={"left": "condition"}),
         choices[["participant", "right"]].rename(columns={"right": "condition"})]
    )  # fmt: skip
    rows = []
    for condition in order:
        who = set(long.loc[long["condition"] == condition, "participant"])
        mine = (choices["left"] == condition) | (choices["right"] == condition)
        rows.append(
            {
                "condition": condition,
                "role": roles[condition],
                "with_choices": len(who),
                "excluded": len(who & excluded),
                "analysed": len(who - excluded),
                "choices_analysed": int((mine & ~choices["participant"].isin(excluded)).sum()),
            }
        )
    return pd.DataFrame(rows, columns=CONDITION_FLOW_COLUMNS)


def analyse_pairwise(
    frame: pd.DataFrame,
    *,
    roles: dict[str, str] | None = None,
    config: PairwiseConfig | None = None,
    participants: pd.DataFrame | None = None,
    study_order: list[str] | None = None,
) -> PairwiseResult:
    """Win rates, Bradley-Terry scores, binomial tests and position bias, after and before screening.

    Args:
        frame: one row per choice (design_frames.PAIRWISE_COLUMNS); practice pairs removed.
        roles: condition -> Condition.role, for the tables and the order; missing = "system".
        participants: one row per participant who joined (flow.PARTICIPANT_COLUMNS), or None.
        study_order: the study's conditions in its own order.

    Raises:
        ValueError: a malformed frame.
    """
    config = config or PairwiseConfig()
    choices = validate_pairwise_frame(frame)
    names = list(dict.fromkeys([*choices["left"], *choices["right"]]))
    roles = {c: (roles or {}).get(c, "system") for c in names}
    order = design_order(roles, study_order)
    listeners = screen_listeners(choices, config)
    kept = set(listeners.loc[~listeners["excluded"], "participant"]) if len(listeners) else set()
    screened = choices[choices["participant"].isin(kept)]
    notes = []
    if len(listeners):
        notes.append(
            f"{int(listeners['excluded'].sum())} of {len(listeners)} listeners excluded by screening."
        )
    variants = {"screened": screened, "all": choices}
    columns = {
        "win_rates": WIN_COLUMNS, "pairs": PAIR_COLUMNS, "bradley_terry": BT_COLUMNS, "position": POSITION_COLUMNS,
    }  # fmt: skip
    tagged = {}
    # The listener bootstrap (a choix fit per resample) runs on the primary analysis only.
    per_variant = {v: _variant_tables(f, order, roles, config, v == "screened") for v, f in variants.items()}
    for name, cols in columns.items():
        parts = [df.assign(variant=v) for v, t in per_variant.items() for df in t[name] if len(df)]
        tagged[name] = (
            pd.concat(parts, ignore_index=True)[["variant", *cols]]
            if parts
            else pd.DataFrame(columns=["variant", *cols])
        )
    for row in tagged["bradley_terry"].drop_duplicates(["variant", "question"]).itertuples():
        if row.note:
            notes.append(f"Bradley-Terry ({row.variant}, {row.question}): {row.note}")
    return PairwiseResult(
        config=config,
        choices=choices,
        listeners=listeners,
        win_rates=tagged["win_rates"],
        pairs=tagged["pairs"],
        bradley_terry=tagged["bradley_terry"],
        position=tagged["position"],
        flow=participant_flow(
            participants, choices, listeners, reasons=REASONS, answered="answered at least one pair"
        ),
        condition_flow=_condition_flow(choices, listeners, order, roles),
        order=order,
        notes=notes,
    )
