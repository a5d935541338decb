"""Listener screening: who is excluded, and why (ITU-T P.808 criteria, BS.1534 post-screening).

Every criterion is computed for every listener and kept in the listener table, so the export
shows the numbers behind each exclusion as well as the listeners who passed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import AnalysisConfig

REASONS = {
    "headphone_check_failed": "failed the headphone check",
    "clips_not_heard_to_end": "did not hear every clip to the end",
    "flat_responder": "rating variance below the threshold (flat responder)",
    "reference_below_anchor": "rated real music below the low anchor",
    "poor_panel_correlation": "ratings correlate poorly with the rest of the panel",
}

LISTENER_COLUMNS = [
    "participant",
    "trials",
    "ratings",
    "mean_rating",
    "rating_variance",
    "unfinished_fraction",
    "headphone_passed",
    "reference_minus_anchor",
    "panel_correlation",
    "excluded",
    "reasons",
]


def _panel_correlations(frame: pd.DataFrame) -> tuple[pd.Series, float]:
    """Pearson r of each listener's condition x scale means with the same cells' leave-one-out panel MOS.

    The cell means of everyone else are (sum - own sum) / (count - own count), so one pass over
    the data serves every listener. Returns the correlations and the median spread (SD) of the
    leave-one-out panel means, which says whether there is anything to correlate with.
    """
    own = frame.groupby(["participant", "scale", "condition"])["rating"].agg(["sum", "count"])
    total = frame.groupby(["scale", "condition"])["rating"].agg(["sum", "count"])
    joined = own.join(total, on=["scale", "condition"], rsuffix="_all")
    others = joined["count_all"] - joined["count"]
    joined["own_mean"] = joined["sum"] / joined["count"]
    joined["panel_mean"] = (joined["sum_all"] - joined["sum"]) / others.where(others > 0)
    joined = joined.dropna(subset=["panel_mean"]).reset_index()
    grouped = joined.groupby("participant")
    spread = grouped["panel_mean"].std(ddof=0)
    own_sd = grouped["own_mean"].std(ddof=0)
    # Pearson r via centred cross-products, vectorised over listeners (same as scipy.stats.pearsonr).
    dx = joined["own_mean"] - grouped["own_mean"].transform("mean")
    dy = joined["panel_mean"] - grouped["panel_mean"].transform("mean")
    cov = (dx * dy).groupby(joined["participant"]).mean()
    r = cov / (own_sd * spread)
    r[(own_sd == 0) | (spread == 0) | (grouped.size() < 3)] = np.nan
    return r, float(spread.median()) if len(spread) else 0.0


def screen(frame: pd.DataFrame, config: AnalysisConfig) -> pd.DataFrame:
    """One row per listener with every screening statistic, `excluded` and the `reasons` (";"-joined codes).

    A headphone result of None means the study ran no check, which excludes nobody. The panel
    correlation criterion is skipped (with a note in `reasons` of nobody) when the panel's
    condition means barely differ, since then a low r measures noise, not an inattentive listener.
    """
    if frame.empty:
        return pd.DataFrame(columns=LISTENER_COLUMNS)
    by_listener = frame.groupby("participant")
    trials = frame.drop_duplicates(["participant", "group", "position"])
    table = pd.DataFrame(
        {
            "trials": trials.groupby("participant").size(),
            "ratings": by_listener.size(),
            "mean_rating": by_listener["rating"].mean(),
            "rating_variance": by_listener["rating"].var(ddof=0),
            "unfinished_fraction": 1 - trials.groupby("participant")["fully_played"].mean(),
            "headphone_passed": by_listener["headphone_passed"].first(),
        }
    )
    role_means = frame.groupby(["participant", "role"])["rating"].mean().unstack()
    if {"reference", "low_anchor"} <= set(role_means.columns):
        table["reference_minus_anchor"] = role_means["reference"] - role_means["low_anchor"]
    else:
        table["reference_minus_anchor"] = np.nan
    correlations, spread = _panel_correlations(frame)
    table["panel_correlation"] = correlations
    correlation_applies = spread >= config.min_panel_spread

    flags = {
        "headphone_check_failed": config.require_headphone_check & table["headphone_passed"].eq(False),
        "clips_not_heard_to_end": table["unfinished_fraction"] > config.max_unfinished_fraction + 1e-12,
        "flat_responder": table["rating_variance"] < config.min_rating_variance,
        "reference_below_anchor": table["reference_minus_anchor"] < -config.reference_below_anchor_margin,
        "poor_panel_correlation": correlation_applies
        & (table["panel_correlation"] < config.min_panel_correlation),
    }
    reasons = pd.Series("", index=table.index)
    for code, flag in flags.items():
        reasons = reasons.where(~flag.fillna(False), reasons + ";" + code)
    table["reasons"] = reasons.str.lstrip(";")
    table["excluded"] = table["reasons"] != ""
    table.attrs["panel_spread"] = spread
    table.attrs["correlation_applied"] = bool(correlation_applies)
    return table.reset_index().loc[:, LISTENER_COLUMNS]


def zscore_per_listener(frame: pd.DataFrame) -> pd.DataFrame:
    """Ratings standardised within each listener and scale (column `z`); a listener with no spread gets NaN."""
    g = frame.groupby(["participant", "scale"])["rating"]
    sd = g.transform("std")
    out = frame.copy()
    out["z"] = (frame["rating"] - g.transform("mean")) / sd.where(sd > 0)
    return out.dropna(subset=["z"])
