"""Figures of the MUSHRA and pairwise analyses (matplotlib's object API, Agg canvas, as plots.py).

Every mark carries a `gid` naming what it shows, so tests and the report can find it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
ROLE_COLOURS = {"reference": "#4d4d4d", "low_anchor": "#bdbdbd", "anchor": "#bdbdbd"}


def _colours(conditions: list[str], roles: dict[str, str]) -> dict[str, str]:
    palette = iter(PALETTE)
    return {c: ROLE_COLOURS.get(roles.get(c, "system")) or next(palette, "#7f7f7f") for c in conditions}


def mushra_chart(summary: pd.DataFrame, title: str) -> Figure:
    """Bars at each condition's mean of listener means (0-100), 95 % t CI whiskers, n above the
    axis; one group per scale. Bars: gid "scale|condition"; n labels: "n|scale|condition"."""
    fig = Figure(figsize=(8, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    scales = list(dict.fromkeys(summary["scale"]))
    conditions = list(dict.fromkeys(summary["condition"]))
    roles = summary.drop_duplicates("condition").set_index("condition")["role"].to_dict()
    colours = _colours(conditions, roles)
    width = 0.8 / max(len(conditions), 1)
    for k, condition in enumerate(conditions):
        cells = summary[summary["condition"] == condition].set_index("scale").reindex(scales)
        x = np.arange(len(scales)) - 0.4 + width * (k + 0.5)
        mean = cells["mean"].to_numpy(dtype=float)
        err = np.vstack(
            [mean - cells["ci_low"].to_numpy(dtype=float), cells["ci_high"].to_numpy(dtype=float) - mean]
        )
        bars = ax.bar(
            x, mean, width, label=condition, color=colours[condition], edgecolor="black", linewidth=0.5
        )
        for bar, scale, n in zip(bars, scales, cells["listeners"], strict=True):
            bar.set_gid(f"{scale}|{condition}")
            if pd.notna(n):
                label = ax.text(bar.get_x() + bar.get_width() / 2, 101, f"n={int(n)}", ha="center",
                                va="bottom", fontsize=6.5)  # fmt: skip
                label.set_gid(f"n|{scale}|{condition}")
        ax.errorbar(x, mean, yerr=np.nan_to_num(err), fmt="none", ecolor="black", capsize=2, linewidth=0.8,
                    gid=f"ci|{condition}")  # fmt: skip
    ax.set_xticks(np.arange(len(scales)), scales)
    ax.set_ylim(0, 108)
    ax.set_ylabel("Score (0-100): mean of listener means")
    ax.set_title(title)
    ax.legend(
        ncols=min(len(conditions), 6), fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.08)
    )
    ax.grid(axis="y", alpha=0.3)
    return fig


def bradley_terry_chart(bt: pd.DataFrame, title: str) -> Figure:
    """Bradley-Terry log-strengths with 95 % Wald CIs, one panel row per question, conditions top
    to bottom in the study's order. Points: gid "bt|question|condition"."""
    questions = list(dict.fromkeys(bt["question"]))
    fig = Figure(figsize=(8, 1.2 + 0.45 * len(bt)), layout="constrained")
    FigureCanvasAgg(fig)
    roles = bt.drop_duplicates("condition").set_index("condition")["role"].to_dict()
    colours = _colours(list(dict.fromkeys(bt["condition"])), roles)
    for q, question in enumerate(questions):
        ax = fig.add_subplot(len(questions), 1, q + 1)
        part = bt[bt["question"] == question].reset_index(drop=True)
        y = np.arange(len(part))[::-1]
        for yi, row in zip(y, part.itertuples(), strict=True):
            if np.isfinite(row.log_strength):
                ax.errorbar([row.log_strength], [yi], xerr=[[row.log_strength - row.ci_low], [row.ci_high - row.log_strength]],
                            fmt="o", color=colours[row.condition], capsize=3, gid=f"bt|{question}|{row.condition}")  # fmt: skip
        ax.axvline(0, color="#999", linewidth=0.8)
        ax.set_yticks(y, part["condition"])
        ax.set_xlabel("Bradley-Terry log-strength (mean 0), 95 % CI")
        ax.set_title(f"{question}" if len(questions) > 1 else title, fontsize="medium")
        ax.grid(axis="x", alpha=0.3)
    if len(questions) > 1:
        fig.suptitle(title, fontsize="medium")
    return fig


def win_matrix_chart(pairs: pd.DataFrame, order: list[str], question: str) -> Figure:
    """The share of choices for the row condition over the column condition, with n in each cell.
    Cells: gid "win|row|column"."""
    part = pairs[pairs["question"] == question]
    present = [c for c in order if c in set(part["condition"]) | set(part["versus"])]
    k = len(present)
    rate = np.full((k, k), np.nan)
    count = np.zeros((k, k), dtype=int)
    index = {c: i for i, c in enumerate(present)}
    for row in part.itertuples():
        i, j = index[row.condition], index[row.versus]
        if row.n:
            rate[i, j], rate[j, i] = row.wins / row.n, row.losses / row.n
            count[i, j] = count[j, i] = row.n
    fig = Figure(figsize=(1.6 + 0.9 * k, 1.2 + 0.8 * k), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.imshow(np.nan_to_num(rate, nan=0.5), cmap="RdBu", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            if i != j and count[i, j]:
                dark = abs(rate[i, j] - 0.5) > 0.3  # white on the deep reds and blues
                text = ax.text(
                    j, i, f"{rate[i, j]:.2f}\nn={count[i, j]}", ha="center", va="center", fontsize=7,
                    color="white" if dark else "black",
                )  # fmt: skip
                text.set_gid(f"win|{present[i]}|{present[j]}")
    ax.set_xticks(range(k), present, rotation=30, ha="right")
    ax.set_yticks(range(k), present)
    ax.set_title(f"{question}: share of choices for the row over the column", fontsize="small")
    return fig
