"""Figures: the grouped MOS bar chart with 95 % CIs (the paper's Figure 7) and ratings per listener.

Matplotlib's object API with the Agg canvas only: no pyplot state, safe in web workers and threads.
"""

from __future__ import annotations

import io
import textwrap

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .config import SCALES

ROLE_COLOURS = {"system": None, "reference": "#4d4d4d", "low_anchor": "#bdbdbd"}
RATING_COLOURS = ["#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641"]
MAX_LISTENERS_DRAWN = 60  # above this, one bar per listener is unreadable: show distributions instead


def mos_bar_chart(summary: pd.DataFrame, title: str = "Mean opinion score per condition (95 % CI)") -> Figure:
    """Grouped bars: one group per scale, one bar per condition at its MOS (the mean of listener
    means), error bars = the t CI around it, and the number of listeners under each bar.

    Bars are drawn in `summary` order (systems in the study's order, real music, low anchor); each
    bar carries its condition as `gid` ("scale|condition"), each n label "n|scale|condition", so
    tests and the report can find them.
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
            [mos - cells["ci_low"].to_numpy(dtype=float), cells["ci_high"].to_numpy(dtype=float) - mos]
        )
        bars = ax.bar(x, mos, width, label=condition, color=colour, edgecolor="black", linewidth=0.5)
        for bar, scale, n in zip(bars, scales, cells["listeners"], strict=True):
            bar.set_gid(f"{scale}|{condition}")
            if pd.notna(n):
                label = ax.text(
                    bar.get_x() + bar.get_width() / 2,
                    1.05,
                    f"n={int(n)}",
                    ha="center",
                    va="bottom",
                    rotation=90,
                    fontsize=6.5,
                    color="white" if roles[condition] == "reference" else "black",
                )
                label.set_gid(f"n|{scale}|{condition}")
        ax.errorbar(
            x,
            mos,
            yerr=np.nan_to_num(err),
            fmt="none",
            ecolor="black",
            capsize=2,
            linewidth=0.8,
            gid=f"ci|{condition}",
        )
    ax.set_xticks(np.arange(len(scales)), [s.capitalize() for s in scales])
    ax.set_ylim(1, 5.2)
    ax.set_ylabel("Rating (1-5): mean of listener means")
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
    title = f"How each listener used the scale: n = {len(counts)} listeners, {len(excluded)} excluded"
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
        fig.suptitle(title, fontsize="medium")
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
    fig.suptitle(title, fontsize="medium")
    return fig


def flow_chart(flow: pd.DataFrame, by_condition: pd.DataFrame) -> Figure:
    """The participant flow as a CONSORT-style diagram: the main stages top to bottom, each
    drop-out in a box to the right of the arrow it leaves, the analysed n per condition last.

    Each stage's text carries the stage as `gid` ("flow|<stage>") and its count.
    """
    height = 0.9 * (~flow["stage"].str.startswith("-")).sum() + 0.5 * flow["stage"].str.startswith("-").sum()
    fig = Figure(figsize=(8, 0.75 * height + 1.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_axis_off()
    main_box = {"boxstyle": "round,pad=0.35", "facecolor": "#f2f6fb", "edgecolor": "#4d6e99"}
    side_box = {"boxstyle": "round,pad=0.3", "facecolor": "#fdf3e7", "edgecolor": "#b07a2a"}
    y, previous = 0.0, None
    for stage in flow.itertuples():
        if stage.stage.startswith("-"):
            text = f"{stage.stage[2:]}: {stage.listeners}"
            if stage.detail:
                text += "\n" + "\n".join(textwrap.wrap(stage.detail, 64))
            label = ax.text(4.6, y + 0.45, text, fontsize=7, va="center", ha="left", bbox=side_box)
            ax.annotate("", xy=(4.5, y + 0.45), xytext=(2.3, y + 0.45), arrowprops={"arrowstyle": "->"})
            y -= 0.25 * (text.count("\n") + 1)
        else:
            if previous is not None:
                ax.annotate(
                    "", xy=(2.3, y + 0.3), xytext=(2.3, previous - 0.3), arrowprops={"arrowstyle": "->"}
                )
            text = f"{stage.stage}\nn = {stage.listeners}"
            label = ax.text(2.3, y, text, fontsize=8.5, ha="center", va="center", bbox=main_box)
            previous = y
            y -= 0.9
        label.set_gid(f"flow|{stage.stage.lstrip('- ')}")
    if len(by_condition):
        per = ", ".join(f"{r.condition} {r.analysed}" for r in by_condition.itertuples())
        wrapped = "\n".join(textwrap.wrap(f"analysed per condition: {per}", 90))
        ax.text(0.0, y + 0.3, wrapped, fontsize=7.5, ha="left", va="top")
        y -= 0.3 * (wrapped.count("\n") + 1)
    ax.set_xlim(0, 10)
    ax.set_ylim(y, 0.7)
    ax.set_title("Participant flow", fontsize="medium")
    return fig


def render(fig: Figure, fmt: str) -> bytes:
    """The figure as PNG (150 dpi) or SVG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=150 if fmt == "png" else None)
    return buffer.getvalue()
