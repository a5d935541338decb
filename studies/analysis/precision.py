"""Precision of the present panel: what it can detect, and how many listeners a target interval needs."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.power import TTestPower

from .config import AnalysisConfig
from .summary import Cells, listener_cells

PRECISION_COLUMNS = [
    "scale",
    "listeners",
    "detectable_dz",
    "sd_paired_difference",
    "detectable_difference",
    "widest_ci",
    "target_ci_width",
    "listeners_needed",
    "more_listeners",
]


def listeners_for_width(sd: float, width: float, confidence: float) -> int:
    """Smallest n whose t interval of a mean with listener SD `sd` is at most `width` wide (full width)."""
    if not np.isfinite(sd) or sd <= 0:
        return 2
    z = stats.norm.ppf(0.5 + confidence / 2)
    n = max(2, int(np.ceil((2 * z * sd / width) ** 2)))
    while 2 * stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / np.sqrt(n) > width:
        n += 1
    return n


def precision(frame: pd.DataFrame, config: AnalysisConfig, cells: Cells | None = None) -> pd.DataFrame:
    """Per scale: the smallest paired difference detected with `config.power` at this panel size,
    and the listeners needed so that every condition's CI is at most `config.target_ci_width` wide.

    The detectable standardised effect dz comes from statsmodels' paired t-test power; it becomes
    points through the median SD of the paired listener-mean differences over condition pairs.
    """
    if frame.empty:
        return pd.DataFrame(columns=PRECISION_COLUMNS)
    cells = cells or listener_cells(frame, config)
    rows = []
    for scale in cells.scales:
        wide = cells.wide[scale].dropna(axis=1, how="all")
        n = int(wide.notna().sum().min())
        diffs = [(wide[a] - wide[b]).dropna().std(ddof=1) for a, b in itertools.combinations(wide.columns, 2)]
        sd_diff = float(np.nanmedian(diffs)) if diffs else np.nan
        dz = np.nan
        if n >= 3:
            solved = TTestPower().solve_power(
                effect_size=None, nobs=n, alpha=config.alpha, power=config.power
            )
            dz = float(np.ravel(solved)[0])
        sd_listener = float(wide.std(ddof=1).max())
        widest = (
            2 * stats.t.ppf(0.5 + config.confidence / 2, n - 1) * sd_listener / np.sqrt(n)
            if n >= 2
            else np.nan
        )
        needed = listeners_for_width(sd_listener, config.target_ci_width, config.confidence)
        rows.append(
            {
                "scale": scale,
                "listeners": n,
                "detectable_dz": dz,
                "sd_paired_difference": sd_diff,
                "detectable_difference": dz * sd_diff,
                "widest_ci": widest,
                "target_ci_width": config.target_ci_width,
                "listeners_needed": needed,
                "more_listeners": max(0, needed - n),
            }
        )
    return pd.DataFrame(rows, columns=PRECISION_COLUMNS)
