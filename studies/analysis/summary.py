"""Per condition x scale descriptives with honest intervals, and the paper's headline figures.

One basis throughout: the listener is the unit, so every estimate is a mean of per-listener
means and every interval is built around that estimate. The plain mean of all ratings is shown
too, labelled `raw_mean`; the two agree when every listener rated every condition equally often.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .config import AnalysisConfig
from .frame import condition_order, scales_present

SUMMARY_COLUMNS = [
    "scale",
    "condition",
    "role",
    "listeners",
    "ratings",
    "mos",
    "listener_sd",
    "ci_low",
    "ci_high",
    "boot_low",
    "boot_high",
    "raw_mean",
    "raw_sd",
    "raw_median",
]


class Resampler:
    """One bootstrap over listeners for every cell of a panel.

    Row b of `weights` (resamples x listeners) counts how often each listener is drawn in
    resample b, so the resampled mean of any column of per-listener values is a weighted mean,
    and all cells (and paired statistics) of a panel share the same resamples: one matrix product
    instead of a `scipy.stats.bootstrap` call per cell. Listeners are drawn with replacement,
    seeded by `config.seed`.
    """

    def __init__(self, listeners: int, config: AnalysisConfig):
        self.confidence = config.confidence
        rng = np.random.default_rng(config.seed)
        resamples = config.bootstrap_resamples
        self.weights = np.empty((resamples, listeners))
        # Blocks of resamples: one draw and one bincount per block (fastest near 128 rows; at
        # most ~2 M indices, 16 MB, at a time).
        block = max(1, min(128, 2_000_000 // max(listeners, 1)))
        offsets = listeners * np.arange(block, dtype=np.int64)[:, None]
        for start in range(0, resamples, block):
            rows = min(block, resamples - start)
            drawn = rng.integers(0, listeners, size=(rows, listeners)) + offsets[:rows]
            counts = np.bincount(drawn.ravel(), minlength=rows * listeners)
            self.weights[start : start + rows] = counts.reshape(rows, listeners)

    def sums(self, values: np.ndarray) -> np.ndarray:
        """Resampled sums of each column of `values` (listeners x k, no NaN): (resamples, k)."""
        return self.weights @ values

    def means(self, values: np.ndarray) -> np.ndarray:
        """Resampled means of each column of `values` (listeners x k), NaN = listener absent."""
        present = ~np.isnan(values)
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sums(np.where(present, values, 0.0)) / self.sums(present.astype(float))

    def interval(self, resampled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Percentile interval of each column of `resampled` (resamples x k)."""
        tail = 50 * (1 - self.confidence)
        with np.errstate(invalid="ignore"):
            low, high = np.nanpercentile(resampled, [tail, 100 - tail], axis=0)
        return low, high


@dataclass
class Cells:
    """Per-listener means of one ratings frame, built once and shared by every table.

    `wide[scale]` is listeners x conditions (every listener of the frame, in `order`), NaN where
    the listener rated no clip of that condition; `raw` holds the all-ratings descriptives per
    (scale, condition). The bootstrap matrix is drawn on first use, for all cells at once.
    """

    order: list[str]
    roles: dict[str, str]
    scales: list[str]
    listeners: pd.Index
    wide: dict[str, pd.DataFrame]
    raw: pd.DataFrame
    config: AnalysisConfig
    _resampler: Resampler | None = field(default=None, repr=False)

    @property
    def resampler(self) -> Resampler:
        if self._resampler is None:
            self._resampler = Resampler(len(self.listeners), self.config)
        return self._resampler


def listener_cells(
    frame: pd.DataFrame, config: AnalysisConfig, value: str = "rating", study_order: list[str] | None = None
) -> Cells:
    """Build the per-listener means of `frame` (one groupby for every scale and condition).

    `study_order` lists the study's conditions in its own order (systems keep it; real music and
    the low anchor go last either way); without it, systems are sorted by name.
    """
    order = condition_order(frame, study_order) if len(frame) else []
    roles = frame.drop_duplicates("condition").set_index("condition")["role"].to_dict()
    scales = scales_present(frame) if len(frame) else []
    means = frame.groupby(["scale", "participant", "condition"], sort=False)[value].mean()
    listeners = pd.Index(sorted(frame["participant"].unique()), name="participant")
    table = means.unstack("condition")
    wide = {}
    for scale in scales:
        part = table.xs(scale, level="scale") if scale in table.index.get_level_values(0) else None
        wide[scale] = (
            pd.DataFrame(index=listeners, columns=order, dtype=float)
            if part is None
            else part.reindex(index=listeners, columns=order)
        )
    grouped = frame.groupby(["scale", "condition"])[value]
    raw = pd.DataFrame(
        {
            "ratings": grouped.size(),
            "raw_mean": grouped.mean(),
            "raw_sd": grouped.std(ddof=1),
            "raw_median": grouped.median(),
        }
    )
    return Cells(order, roles, scales, listeners, wide, raw, config)


def listener_means(frame: pd.DataFrame, value: str = "rating") -> pd.DataFrame:
    """Mean of each listener's ratings per scale and condition: the unit of every inference here.

    Returns:
        Columns scale, condition, participant, mean.
    """
    return (
        frame.groupby(["scale", "condition", "participant"], sort=False)[value]
        .mean()
        .rename("mean")
        .reset_index()
    )


def t_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """Student-t interval for the mean of `values` (NaN with fewer than two values)."""
    n = len(values)
    if n < 2:
        return (np.nan, np.nan)
    m = float(np.mean(values))
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * float(np.std(values, ddof=1)) / np.sqrt(n)
    return (m - half, m + half)


def summarise(
    frame: pd.DataFrame, config: AnalysisConfig, value: str = "rating", cells: Cells | None = None
) -> pd.DataFrame:
    """MOS table: one row per scale x condition, in the study's order (systems, real music, anchor).

    `mos` is the mean of listener means, with a t interval and a percentile bootstrap interval
    (over listeners) around it; `raw_mean`, `raw_sd` and `raw_median` describe all ratings.
    """
    if frame.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    cells = cells or listener_cells(frame, config, value)
    columns = [(s, c) for s in cells.scales for c in cells.order if cells.wide[s][c].notna().any()]
    if not columns:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    values = np.column_stack([cells.wide[s][c].to_numpy(dtype=float) for s, c in columns])
    counts = np.sum(~np.isnan(values), axis=0)
    boot_low, boot_high = cells.resampler.interval(cells.resampler.means(values))
    rows = []
    for k, (scale, condition) in enumerate(columns):
        lm = values[~np.isnan(values[:, k]), k]
        ci = t_interval(lm, config.confidence)
        raw = cells.raw.loc[(scale, condition)]
        enough = counts[k] >= 2
        rows.append(
            {
                "scale": scale,
                "condition": condition,
                "role": cells.roles[condition],
                "listeners": int(counts[k]),
                "ratings": int(raw["ratings"]),
                "mos": float(np.mean(lm)),
                "listener_sd": float(np.std(lm, ddof=1)) if enough else np.nan,
                "ci_low": ci[0],
                "ci_high": ci[1],
                "boot_low": float(boot_low[k]) if enough else np.nan,
                "boot_high": float(boot_high[k]) if enough else np.nan,
                "raw_mean": raw["raw_mean"],
                "raw_sd": raw["raw_sd"],
                "raw_median": raw["raw_median"],
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


HEADLINE_COLUMNS = [
    "scale",
    "kind",
    "condition",
    "versus",
    "value",
    "ci_low",
    "ci_high",
    "unit",
    "listeners",
]


def headline(
    frame: pd.DataFrame, summary: pd.DataFrame, config: AnalysisConfig, cells: Cells | None = None
) -> pd.DataFrame:
    """The paper's section 3.3.2 figures, with intervals the paper does not give.

    Per scale: the best system's relative advantage over the second best (ranked by `mos`), in
    per cent of the second best's MOS (the paper: 26.45 %, 24.86 %, 26.27 % over VD-ED); and each
    system's gap to real music in points (the paper: within 0.5). Each figure is computed on the
    listeners who rated both conditions, and its interval around that same value: a paired
    bootstrap over listeners for the ratio, a paired t interval for the gap.
    """
    if frame.empty:
        return pd.DataFrame(columns=HEADLINE_COLUMNS)
    cells = cells or listener_cells(frame, config)
    rows, pairs = [], []
    for scale in cells.scales:
        table = summary[summary["scale"] == scale].set_index("condition")
        systems = table[table["role"] == "system"].sort_values("mos", ascending=False, kind="stable")
        wide = cells.wide[scale]
        if len(systems) >= 2:
            best, second = systems.index[0], systems.index[1]
            both = (wide[best].notna() & wide[second].notna()).to_numpy()
            a, b = wide[best].to_numpy()[both], wide[second].to_numpy()[both]
            value = 100 * (a.mean() / b.mean() - 1) if both.any() else np.nan
            pairs.append((len(rows), best, second, both))
            rows.append(
                {
                    "scale": scale,
                    "kind": "advantage_over_second_best",
                    "condition": best,
                    "versus": second,
                    "value": value,
                    "ci_low": np.nan,
                    "ci_high": np.nan,
                    "unit": "%",
                    "listeners": int(both.sum()),
                }
            )
        for reference in table.index[table["role"] == "reference"]:
            for system in systems.index:
                diff = (wide[system] - wide[reference]).dropna().to_numpy()
                low, high = t_interval(diff, config.confidence)
                rows.append(
                    {
                        "scale": scale,
                        "kind": "gap_to_real_music",
                        "condition": system,
                        "versus": reference,
                        "value": float(diff.mean()) if len(diff) else np.nan,
                        "ci_low": low,
                        "ci_high": high,
                        "unit": "points",
                        "listeners": len(diff),
                    }
                )
    if pairs:
        # Each ratio's numerator and denominator resampled together, by the panel's one matrix.
        columns = []
        for index, best, second, both in pairs:
            wide = cells.wide[rows[index]["scale"]]
            columns += [np.where(both, wide[best].fillna(0), 0), np.where(both, wide[second].fillna(0), 0)]
        sums = cells.resampler.sums(np.column_stack(columns))
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = 100 * (sums[:, 0::2] / sums[:, 1::2] - 1)
        low, high = cells.resampler.interval(ratio)
        for k, (index, *_) in enumerate(pairs):
            if rows[index]["listeners"] >= 2:
                rows[index]["ci_low"], rows[index]["ci_high"] = float(low[k]), float(high[k])
    return pd.DataFrame(rows, columns=HEADLINE_COLUMNS)
