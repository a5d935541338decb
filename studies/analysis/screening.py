"""Listener screening: who is excluded, and why.

Every criterion is computed for every listener and kept in the listener table, so the export
shows the numbers behind each exclusion as well as the listeners who passed. `CRITERIA` says
where each one comes from: two follow ITU-T P.808 and its open-source toolkit, the others are
ours (one adapted from ITU-R BS.1534's post-screening), and the report prints that table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import SCALES, AnalysisConfig

REASONS = {
    "headphone_check_failed": "failed the headphone check",
    "clips_not_heard_to_end": "did not hear every clip to the end",
    "flat_responder": "straight-lined a scale (rating variance on it below the threshold)",
    "reference_below_anchor": "rated real music below the low anchor",
    "poor_panel_correlation": "ratings correlate poorly with the rest of the panel",
}

# code -> (the rule as applied here, where it comes from)
CRITERIA = {
    "headphone_check_failed": (
        "the headphone check before rating failed (no check ran: excludes nobody)",
        "P.808: listeners must wear headphones and pass a check of their listening set-up",
    ),
    "clips_not_heard_to_end": (
        "share of clips not played to the end above max_unfinished_fraction (default 0)",
        "P.808 toolkit: a session is rejected unless every clip was played to the end",
    ),
    "flat_responder": (
        "on any one scale with at least flat_min_ratings ratings, the variance of the listener's "
        "ratings below min_rating_variance",
        "ours (straight-lining, per scale); the P.808 toolkit has a similar check on a worker's "
        "rating variance",
    ),
    "reference_below_anchor": (
        "mean rating of real music below that of the low anchor minus reference_below_anchor_margin",
        "ours, adapted from ITU-R BS.1534 post-screening (which drops assessors who rate the hidden "
        "reference below 90 of 100 too often); needs a low anchor",
    ),
    "poor_panel_correlation": (
        "Pearson r with the leave-one-out panel means below the bar, which rises smoothly from -1 "
        "(nobody) at a panel spread of min_panel_spread to min_panel_correlation at full_panel_spread",
        "ours: the 0.7 comes from the P.808 toolkit, where r >= 0.7 with the MOS earns a worker a "
        "quality bonus and excludes nobody; here it is an exclusion",
    ),
}

LISTENER_COLUMNS = [
    "participant",
    "trials",
    "ratings",
    "mean_rating",
    "rating_variance",
    "min_scale_variance",
    "flat_scales",
    "unfinished_fraction",
    "headphone_passed",
    "reference_minus_anchor",
    "panel_correlation",
    "correlation_bar",
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

    A headphone result of None means the study ran no check, which excludes nobody. Flat
    responding is judged per scale, so a listener who straight-lines one scale is caught even if
    the other scales vary. The panel correlation bar follows `correlation_bar`: when the panel's
    condition means barely differ, a low r measures noise, not an inattentive listener, so the
    bar starts at -1 (excludes nobody) and rises smoothly with the spread, with no cliff.
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
    grouped = frame.groupby(["participant", "scale"])["rating"]
    # A variance of a few ratings says little (one rated clip has none): judge a scale from
    # `flat_min_ratings` ratings on, so a volunteer mid-study is not taken for a straight-liner.
    per_scale = grouped.var(ddof=0).where(grouped.size() >= config.flat_min_ratings).unstack()
    per_scale = per_scale[[s for s in SCALES if s in per_scale.columns]]
    table["min_scale_variance"] = per_scale.min(axis=1)
    flat = per_scale.lt(config.min_rating_variance)
    names = pd.Series("", index=per_scale.index)
    for scale in per_scale.columns:
        names = names.where(~flat[scale], names + " " + scale)
    table["flat_scales"] = names.str.strip()
    role_means = frame.groupby(["participant", "role"])["rating"].mean().unstack()
    if {"reference", "low_anchor"} <= set(role_means.columns):
        table["reference_minus_anchor"] = role_means["reference"] - role_means["low_anchor"]
    else:
        table["reference_minus_anchor"] = np.nan
    correlations, spread = _panel_correlations(frame)
    table["panel_correlation"] = correlations
    bar = correlation_bar(spread, config)
    table["correlation_bar"] = bar

    flags = {
        "headphone_check_failed": config.require_headphone_check & table["headphone_passed"].eq(False),
        "clips_not_heard_to_end": table["unfinished_fraction"] > config.max_unfinished_fraction + 1e-12,
        "flat_responder": table["min_scale_variance"] < config.min_rating_variance,
        "reference_below_anchor": table["reference_minus_anchor"] < -config.reference_below_anchor_margin,
        "poor_panel_correlation": table["panel_correlation"] < bar,
    }
    reasons = pd.Series("", index=table.index)
    for code, flag in flags.items():
        reasons = reasons.where(~flag.fillna(False), reasons + ";" + code)
    table["reasons"] = reasons.str.lstrip(";")
    table["excluded"] = table["reasons"] != ""
    table.attrs["panel_spread"] = spread
    table.attrs["correlation_bar"] = bar
    table.attrs["correlation_applied"] = bool(bar > -1)
    return table.reset_index().loc[:, LISTENER_COLUMNS]


def correlation_bar(spread: float, config: AnalysisConfig) -> float:
    """The panel correlation a listener must reach, given the spread (SD) of the panel's means.

    -1 (nobody excluded) up to `min_panel_spread`, `min_panel_correlation` from
    `full_panel_spread`, linear in between: a panel whose conditions hardly differ cannot tell
    an inattentive listener from an honest one, and a slightly larger spread must not switch the
    full bar on at once (a cliff: 0.25 excluded nobody where 0.252 excluded 11 of 24 honest
    listeners, before this rule).
    """
    low, full = config.min_panel_spread, max(config.full_panel_spread, config.min_panel_spread)
    if not np.isfinite(spread) or spread <= low:
        return -1.0
    weight = 1.0 if spread >= full else (spread - low) / (full - low)
    return float(-1 + weight * (config.min_panel_correlation + 1))


def zscore_per_listener(frame: pd.DataFrame) -> pd.DataFrame:
    """Ratings standardised within each listener and scale (column `z`); a listener with no spread gets NaN."""
    g = frame.groupby(["participant", "scale"])["rating"]
    sd = g.transform("std")
    out = frame.copy()
    out["z"] = (frame["rating"] - g.transform("mean")) / sd.where(sd > 0)
    return out.dropna(subset=["z"])
