"""Figures: the grouped MOS bar chart with 95 % CIs (the paper's Figure 7) and ratings per listener.

Matplotlib's object API with the Agg canvas only: no pyplot state, safe in web workers and threads.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .config import SCALES

ROLE_COLOURS = {"system": None, "reference": "#4d4d4d", "low_anchor": "#bdbdbd"}
RATING_COLOURS = ["#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641"]
MAX_LISTENERS_DRAWN = 60  # above this, one bar per listener is unreadable: show distributions instead


def mos_bar_chart(summary: pd.DataFrame, title: str = "Mean opinion score per condition (95 % CI)") -> Figure:
    """Grouped bars: one group per scale, one bar per condition at its MOS, error bars = t CI.

    Bars are drawn in `summary` order (systems, real music, low anchor); each bar carries its
    condition as `gid` ("scale|condition") so tests and the report can find it.
    """
    fig = Figure(figsize=(8, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    scales = [s for s in SCALES if s in set(summary["scale"])]
    conditions = list(dict.fromkeys(summary["condition"]))
    roles = summary.drop_duplicates("condition").set_index("condition")["role"]
    width = 0.8 / max(len(conditions), 1)
    palette = iter(["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"])
    for c_i, condition in enumerate(conditions):
        colour = ROLE_COLOURS[roles[condition]] or next(palette, "#7f7f7f")
        cells = summary[summary["condition"] == condition].set_index("scale").reindex(scales)
        x = np.arange(len(scales)) - 0.4 + width * (c_i + 0.5)
        mos = cells["mos"].to_numpy(dtype=float)
        err = np.vstack(
            [
                cells["listener_mean"].to_numpy(dtype=float) - cells["ci_low"].to_numpy(dtype=float),
                cells["ci_high"].to_numpy(dtype=float) - cells["listener_mean"].to_numpy(dtype=float),
            ]
        )
        bars = ax.bar(x, mos, width, label=condition, color=colour, edgecolor="black", linewidth=0.5)
        for bar, scale in zip(bars, scales, strict=True):
            bar.set_gid(f"{scale}|{condition}")
        ax.errorbar(
            x,
            cells["listener_mean"].to_numpy(dtype=float),
            yerr=np.nan_to_num(err),
            fmt="none",
            ecolor="black",
            capsize=2,
            linewidth=0.8,
            gid=f"ci|{condition}",
        )
    ax.set_xticks(np.arange(len(scales)), [s.capitalize() for s in scales])
    ax.set_ylim(1, 5.2)
    ax.set_ylabel("Rating (1-5)")
    ax.set_title(title)
    ax.legend(
        ncols=min(len(conditions), 6), fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.08)
    )
    ax.grid(axis="y", alpha=0.3)
    return fig


def listener_distribution_chart(frame: pd.DataFrame, listeners: pd.DataFrame) -> Figure:
    """How each listener used the scale.

    Up to MAX_LISTENERS_DRAWN listeners: one stacked bar per listener with the share of each
    rating 1-5, sorted by mean rating, excluded listeners' labels in red. Beyond that: histograms
    of listener means and SDs, kept and excluded listeners overlaid.
    """
    excluded = set(listeners.loc[listeners["excluded"], "participant"])
    counts = frame.groupby("participant")["rating"].value_counts(normalize=True).unstack(fill_value=0.0)
    counts = counts.reindex(columns=[1, 2, 3, 4, 5], fill_value=0.0)
    order = frame.groupby("participant")["rating"].mean().sort_values().index
    counts = counts.loc[order]
    if len(counts) <= MAX_LISTENERS_DRAWN:
        fig = Figure(figsize=(8, max(2.5, 0.22 * len(counts) + 1.2)), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        left = np.zeros(len(counts))
        y = np.arange(len(counts))
        for value, colour in zip(range(1, 6), RATING_COLOURS, strict=True):
            bars = ax.barh(
                y, counts[value], left=left, color=colour, edgecolor="white", linewidth=0.3, label=str(value)
            )
            for bar, who in zip(bars, counts.index, strict=True):
                bar.set_gid(f"{who}|{value}")
            left += counts[value].to_numpy()
        ax.set_yticks(y, counts.index, fontsize="x-small")
        for label in ax.get_yticklabels():
            if label.get_text() in excluded:
                label.set_color("#d7191c")
        ax.set_xlim(0, 1)
        ax.set_xlabel("Share of the listener's ratings (red names: excluded)")
        ax.legend(title="rating", ncols=5, fontsize="small", loc="lower center", bbox_to_anchor=(0.5, 1.0))
        return fig
    stats = frame.groupby("participant")["rating"].agg(["mean", "std"])
    kept = ~stats.index.isin(excluded)
    fig = Figure(figsize=(8, 3.4), layout="constrained")
    FigureCanvasAgg(fig)
    for i, (column, label) in enumerate(
        [("mean", "listener mean rating"), ("std", "listener SD of ratings")]
    ):
        ax = fig.add_subplot(1, 2, i + 1)
        bins = np.linspace(0, 2.5, 26) if column == "std" else np.linspace(1, 5, 33)
        ax.hist(stats.loc[kept, column].dropna(), bins=bins, color="#1f77b4", label="kept")
        ax.hist(stats.loc[~kept, column].dropna(), bins=bins, color="#d7191c", alpha=0.7, label="excluded")
        ax.set_xlabel(label)
        ax.set_ylabel("listeners")
        ax.legend(fontsize="small")
    return fig


def render(fig: Figure, fmt: str) -> bytes:
    """The figure as PNG (150 dpi) or SVG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=150 if fmt == "png" else None)
    return buffer.getvalue()
