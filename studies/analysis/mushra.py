"""Analysis of a MUSHRA study (ITU-R BS.1534-3): post-screening, means with CIs, Friedman, Wilcoxon-Holm.

Pure: it takes the MUSHRA frame of `design_frames.MUSHRA_COLUMNS` (one row per score, 0-100) and
needs no Django. As in the ratings analysis, the listener is the unit: a listener's scores of one
condition on one scale are averaged over the items (pages) they scored, every mean is a mean of
listener means and every interval is built around it; the tests reuse significance.py's Friedman
and exact-or-approximate Wilcoxon with Holm's correction on those listener means.

Post-screening follows BS.1534-3 section 4.1.2: an assessor is excluded who scores the hidden
reference below 90 on more than 15 % of the items, or the anchor above 90 on more than 15 % of
the items, where an item whose anchor more than 25 % of the assessors score above 90 does not
count for the anchor rule (the anchor did not degrade it enough to judge anyone by it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .config import AnalysisConfig
from .design_frames import design_order, validate_mushra_frame
from .flow import condition_flow, participant_flow
from .significance import TEST_COLUMNS, friedman, pairwise_wilcoxon
from .summary import Cells, summarise

REASONS = {
    "reference_scored_low": "scored the hidden reference below 90 on more than 15 % of the items",
    "anchor_scored_high": "scored the anchor above 90 on more than 15 % of the items",
}
CRITERIA = {
    "reference_scored_low": (
        "hidden reference scored below reference_threshold (90) on more than max_item_fraction "
        "(15 %) of the listener's (item, scale) pages",
        "ITU-R BS.1534-3, section 4.1.2 (post-screening), first rule",
    ),
    "anchor_scored_high": (
        "anchor scored above anchor_threshold (90) on more than max_item_fraction (15 %) of the "
        "counted pages; a page whose anchor more than anchor_item_guard (25 %) of the listeners "
        "scored above 90 is not counted",
        "ITU-R BS.1534-3, section 4.1.2, second rule and its caveat (written there for the "
        "mid-range anchor; applied here to the study's anchor)",
    ),
}
SUMMARY_COLUMNS = [
    "scale", "condition", "role", "listeners", "scores", "mean", "listener_sd", "ci_low", "ci_high",
    "boot_low", "boot_high", "raw_mean", "raw_sd", "raw_median", "raw_iqr",
]  # fmt: skip
BY_ITEM_COLUMNS = ["scale", "item", "condition", "role", "listeners", "mean", "sd", "ci_low", "ci_high"]
LISTENER_COLUMNS = [
    "participant", "items", "scores", "reference_pages", "reference_low", "reference_low_fraction",
    "anchor_pages", "anchor_high", "anchor_high_fraction", "excluded", "reasons",
]  # fmt: skip


@dataclass(frozen=True)
class MushraConfig:
    """Thresholds of BS.1534-3's post-screening and the settings shared with the ratings analysis."""

    confidence: float = 0.95  # BS.1534-3 section 9: means with 95 % confidence intervals
    alpha: float = 0.05  # BS.1534-3: significance "at a significance level of 95 %"
    bootstrap_resamples: int = 2000  # as the ratings analysis: percentile intervals settle by 2000
    seed: int = 0
    reference_threshold: int = 90  # BS.1534-3 4.1.2: the hidden reference "lower than a score of 90"
    anchor_threshold: int = 90  # BS.1534-3 4.1.2: the anchor "higher than a score of 90"
    max_item_fraction: float = 0.15  # BS.1534-3 4.1.2: "for more than 15 % of the test items"
    anchor_item_guard: float = 0.25  # BS.1534-3 4.1.2: an item > 25 % of assessors score high is not used
    anchor_rule: bool = True  # the second rule; off = the reference rule alone

    @classmethod
    def from_options(cls, options: dict | None) -> MushraConfig:
        """From a study's analysis options, ignoring keys that are not settings of this design."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (options or {}).items() if k in names})

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def shared(self) -> AnalysisConfig:
        """The ratings analysis' config for the parts reused from it (intervals, tests)."""
        return AnalysisConfig(
            confidence=self.confidence,
            alpha=self.alpha,
            bootstrap_resamples=self.bootstrap_resamples,
            seed=self.seed,
            fit_models=False,
        )


@dataclass
class MushraResult:
    config: MushraConfig
    scores: pd.DataFrame  # the validated MUSHRA frame
    listeners: pd.DataFrame  # one row per listener: post-screening numbers, excluded, reasons
    summary: pd.DataFrame  # variant x scale x condition: mean of listener means with CIs
    by_item: pd.DataFrame  # scale x item x condition, after screening (BS.1534 reports per item)
    tests: pd.DataFrame  # Friedman + Holm-corrected Wilcoxon, per variant and scale
    flow: pd.DataFrame
    condition_flow: pd.DataFrame
    order: list[str]
    reference: str | None
    anchor: str | None
    notes: list[str] = field(default_factory=list)
    test_type: str = "mushra"

    @property
    def primary(self) -> pd.DataFrame:
        return self.summary[self.summary["variant"] == "screened"]


def _pick(roles: dict[str, str], given: str | None, wanted: tuple[str, ...], what: str) -> str | None:
    """The condition named in the design, else the one condition whose role says so."""
    if given:
        if roles and given not in roles:  # nobody scored anything yet: nothing to check it against
            raise ValueError(f"the {what} {given!r} is not among the scored conditions {sorted(roles)}")
        return given
    found = [c for c, r in roles.items() if r in wanted]
    return found[0] if len(found) == 1 else None


def post_screening(
    scores: pd.DataFrame, config: MushraConfig, *, reference: str | None, anchor: str | None
) -> pd.DataFrame:
    """BS.1534-3 section 4.1.2, per listener (see LISTENER_COLUMNS).

    A "page" is one item on one scale: BS.1534 grades one attribute per trial, so each scale of a
    page counts as a trial of its own. Fractions are over the pages on which the listener scored
    the reference (or a counted anchor page); a listener without such pages is not judged by it.
    """
    listeners = sorted(scores["participant"].unique())
    table = pd.DataFrame({"participant": listeners}).set_index("participant")
    table["items"] = scores.groupby("participant")["item"].nunique()
    table["scores"] = scores.groupby("participant").size()
    reasons = {p: [] for p in listeners}
    ref = scores[scores["condition"] == reference] if reference else scores.iloc[0:0]
    low = (ref["score"] < config.reference_threshold).groupby(ref["participant"]).agg(["size", "sum"])
    table["reference_pages"] = low["size"].reindex(table.index).fillna(0).astype(int)
    table["reference_low"] = low["sum"].reindex(table.index).fillna(0).astype(int)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["reference_low_fraction"] = table["reference_low"] / table["reference_pages"].replace(0, np.nan)
    for p in table.index[table["reference_low_fraction"] > config.max_item_fraction]:
        reasons[p].append("reference_scored_low")
    anc = scores[scores["condition"] == anchor] if (anchor and config.anchor_rule) else scores.iloc[0:0]
    high = anc.assign(high=anc["score"] > config.anchor_threshold)
    share = high.groupby(["item", "scale"])["high"].mean()
    counted = share[share <= config.anchor_item_guard].index
    high = high.set_index(["item", "scale"]).loc[lambda d: d.index.isin(counted)]
    tally = high.groupby("participant")["high"].agg(["size", "sum"])
    table["anchor_pages"] = tally["size"].reindex(table.index).fillna(0).astype(int)
    table["anchor_high"] = tally["sum"].reindex(table.index).fillna(0).astype(int)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["anchor_high_fraction"] = table["anchor_high"] / table["anchor_pages"].replace(0, np.nan)
    for p in table.index[table["anchor_high_fraction"] > config.max_item_fraction]:
        reasons[p].append("anchor_scored_high")
    table["reasons"] = [";".join(reasons[p]) for p in table.index]
    table["excluded"] = table["reasons"] != ""
    out = table.reset_index().loc[:, LISTENER_COLUMNS]
    out.attrs["anchor_pages_dropped"] = int((share > config.anchor_item_guard).sum())
    return out


def mushra_cells(scores: pd.DataFrame, config: AnalysisConfig, order: list[str], roles: dict) -> Cells:
    """Listener means (listeners x conditions per scale) in the shape significance.py and summary.py use."""
    scales = list(dict.fromkeys(scores["scale"]))
    listeners = pd.Index(sorted(scores["participant"].unique()), name="participant")
    means = scores.groupby(["scale", "participant", "condition"])["score"].mean().unstack("condition")
    wide = {
        s: means.xs(s, level="scale").reindex(index=listeners, columns=order).astype(float) for s in scales
    }
    grouped = scores.groupby(["scale", "condition"])["score"]
    raw = pd.DataFrame(
        {
            "ratings": grouped.size(),
            "raw_mean": grouped.mean(),
            "raw_sd": grouped.std(ddof=1),
            "raw_median": grouped.median(),
        }
    )
    return Cells(order, dict(roles), scales, listeners, wide, raw, config)


def _summary(scores: pd.DataFrame, cells: Cells, config: AnalysisConfig) -> pd.DataFrame:
    if scores.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    out = summarise(scores.rename(columns={"score": "rating"}), config, cells=cells)
    out = out.rename(columns={"mos": "mean", "ratings": "scores"})
    q = scores.groupby(["scale", "condition"])["score"].quantile([0.25, 0.75]).unstack()
    out["raw_iqr"] = [
        q.loc[(s, c), 0.75] - q.loc[(s, c), 0.25] for s, c in zip(out["scale"], out["condition"])
    ]
    return out.loc[:, SUMMARY_COLUMNS]


def _by_item(scores: pd.DataFrame, order: list[str], roles: dict, config: MushraConfig) -> pd.DataFrame:
    from scipy import stats

    rows = []
    for (scale, item, condition), values in scores.groupby(["scale", "item", "condition"])["score"]:
        v = values.to_numpy(dtype=float)
        n = len(v)
        sd = float(np.std(v, ddof=1)) if n >= 2 else np.nan
        half = stats.t.ppf(0.5 + config.confidence / 2, n - 1) * sd / np.sqrt(n) if n >= 2 else np.nan
        rows.append(
            {
                "scale": scale,
                "item": item,
                "condition": condition,
                "role": roles[condition],
                "listeners": n,
                "mean": float(v.mean()),
                "sd": sd,
                "ci_low": float(v.mean() - half),
                "ci_high": float(v.mean() + half),
            }
        )
    out = pd.DataFrame(rows, columns=BY_ITEM_COLUMNS)
    rank = {c: i for i, c in enumerate(order)}
    return out.sort_values(
        ["scale", "item", "condition"], key=lambda s: s.map(rank) if s.name == "condition" else s
    )


def _tests(cells: Cells, config: AnalysisConfig) -> pd.DataFrame:
    rows = []
    for scale in cells.scales:
        rows.append(friedman(cells, scale, config))
        rows.extend(pairwise_wilcoxon(cells, scale, config))
    out = pd.DataFrame(rows, columns=TEST_COLUMNS)
    out["note"] = out["note"].fillna("")
    out["method"] = out["method"].fillna("")
    return out


def _tagged(frames: dict[str, pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    parts = [df.assign(variant=v) for v, df in frames.items() if not df.empty]
    if not parts:
        return pd.DataFrame(columns=["variant", *columns])
    out = pd.concat(parts, ignore_index=True)
    return out[["variant", *columns]]


def analyse_mushra(
    frame: pd.DataFrame,
    *,
    reference: str | None = None,
    anchor: str | None = None,
    config: MushraConfig | None = None,
    participants: pd.DataFrame | None = None,
    study_order: list[str] | None = None,
) -> MushraResult:
    """Post-screening, means with CIs (per condition and scale, and per item), Friedman and
    Holm-corrected Wilcoxon tests, and the participant flow of a MUSHRA study.

    Args:
        frame: one row per score (design_frames.MUSHRA_COLUMNS); practice pages already removed.
        reference, anchor: the design's hidden reference and anchor condition names
            (Study.design_options); None takes the one condition of role "reference" (resp.
            "low_anchor"/"anchor"), if there is exactly one. No reference: its rule is skipped.
        participants: one row per participant who joined (flow.PARTICIPANT_COLUMNS), or None.
        study_order: the study's conditions in its own order.

    Raises:
        ValueError: a malformed frame, or a named reference/anchor that nobody scored.
    """
    config = config or MushraConfig()
    shared = config.shared()
    scores = validate_mushra_frame(frame)
    roles = scores.drop_duplicates("condition").set_index("condition")["role"].to_dict()
    reference = _pick(roles, reference, ("reference",), "hidden reference")
    anchor = _pick(roles, anchor, ("low_anchor", "anchor"), "anchor")
    order = design_order(roles, study_order)
    if reference in order:  # the hidden reference after the systems, the anchor last
        order = (
            [c for c in order if c not in (reference, anchor)] + [reference] + ([anchor] if anchor else [])
        )
    notes = []
    if reference is None and len(scores):
        notes.append("No hidden reference identified: BS.1534-3's reference rule was not applied.")
    listeners = (
        post_screening(scores, config, reference=reference, anchor=anchor)
        if len(scores)
        else pd.DataFrame(columns=LISTENER_COLUMNS)
    )
    dropped = listeners.attrs.get("anchor_pages_dropped", 0)
    if dropped:
        notes.append(
            f"{dropped} page(s) (item x scale) did not count for the anchor rule: more than "
            f"{config.anchor_item_guard:.0%} of the listeners scored their anchor above {config.anchor_threshold}."
        )
    kept = set(listeners.loc[~listeners["excluded"], "participant"]) if len(listeners) else set()
    screened = scores[scores["participant"].isin(kept)]
    if len(listeners):
        notes.insert(
            0, f"{int(listeners['excluded'].sum())} of {len(listeners)} listeners excluded by post-screening."
        )
    variants = {"screened": screened, "all": scores}
    cells = {v: mushra_cells(f, shared, order, roles) for v, f in variants.items()}
    summary = _tagged({v: _summary(f, cells[v], shared) for v, f in variants.items()}, SUMMARY_COLUMNS)
    tests = _tagged({v: _tests(cells[v], shared) for v, f in variants.items() if len(f)}, TEST_COLUMNS)
    flow = participant_flow(
        participants, scores, listeners, reasons=REASONS, answered="scored at least one page"
    )
    by_condition = condition_flow(scores, listeners, order).rename(
        columns={"with_ratings": "with_scores", "ratings_analysed": "scores_analysed"}
    )
    return MushraResult(
        config=config,
        scores=scores,
        listeners=listeners,
        summary=summary,
        by_item=_by_item(screened, order, roles, config),
        tests=tests,
        flow=flow,
        condition_flow=by_condition,
        order=order,
        reference=reference,
        anchor=anchor,
        notes=notes,
    )
