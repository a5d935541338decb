"""Score analyses of a listening study: one entry point, `analyse(frame, config=...)`.

The pure part (this package minus data.py, designs_data.py, report.py, design_report.py, export.py,
live.py, views.py) needs no Django: it takes the
long-format ratings frame described in `frame.COLUMNS`. `export_zip(study)` (export.py) builds
the frame from the database and packs every table, figure and report.html into one zip.

The MUSHRA and pairwise designs (Study.test_type) have their own entry points on their own
frames, `mushra.analyse_mushra` and `pairwise.analyse_pairwise`; `export_zip` picks the analysis
by the study's test type (design_report.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .config import AnalysisConfig
from .flow import condition_flow, participant_flow
from .frame import validate_frame
from .precision import precision
from .reliability import agreement
from .screening import screen, zscore_per_listener
from .significance import significance
from .summary import headline, listener_cells, summarise

__all__ = ["AnalysisConfig", "AnalysisResult", "analyse", "live_summary"]

VARIANTS = ("screened", "all", "screened_z")  # the first is the primary analysis


@dataclass
class AnalysisResult:
    """Everything one analysis produced. Tables carry a `variant` column where it applies:
    "all" (every listener), "screened" (exclusions applied: the primary analysis) and
    "screened_z" (exclusions applied, ratings z-scored within listener and scale)."""

    config: AnalysisConfig
    ratings: pd.DataFrame  # the validated long-format input
    listeners: pd.DataFrame  # one row per listener: screening statistics, excluded, reasons
    summary: pd.DataFrame  # variant x scale x condition: listeners, MOS (mean of listener means), CIs
    headline: pd.DataFrame  # the paper's figures: advantage over second best, gap to real music
    tests: pd.DataFrame  # Friedman, Wilcoxon (Holm), mixed and ordinal models
    reliability: pd.DataFrame  # Krippendorff's alpha per scale and variant
    precision: pd.DataFrame  # detectable difference and listeners needed, screened panel
    flow: pd.DataFrame  # participant flow, CONSORT style: stage, listeners, detail
    condition_flow: pd.DataFrame  # per condition: with ratings, excluded, analysed
    order: list[str] = field(default_factory=list)  # conditions in report order
    notes: list[str] = field(default_factory=list)

    @property
    def primary(self) -> pd.DataFrame:
        return self.summary[self.summary["variant"] == "screened"]


def _tagged(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    parts = [df.assign(variant=v) for v, df in frames.items() if not df.empty]
    if not parts:
        columns = next(iter(frames.values())).columns
        return pd.DataFrame(columns=["variant", *columns])
    out = pd.concat(parts, ignore_index=True)
    return out[["variant", *[c for c in out.columns if c != "variant"]]]


def analyse(
    frame: pd.DataFrame,
    *,
    config: AnalysisConfig | None = None,
    participants: pd.DataFrame | None = None,
    study_order: list[str] | None = None,
) -> AnalysisResult:
    """Run every analysis on a long-format ratings frame.

    Args:
        frame: one row per participant x trial x scale (see `frame.COLUMNS`); practice trials
            already removed.
        config: thresholds and settings; defaults follow P.808 / P.800.2.
        participants: one row per participant who joined (see `flow.PARTICIPANT_COLUMNS`), for
            the participant flow; None starts the flow at the listeners with ratings.
        study_order: the study's conditions in its own order (systems keep it, then real music,
            then the low anchor); None sorts systems by name.

    Returns:
        An AnalysisResult; robustness models that fail or do not converge are noted in
        `tests.note`, never raised.
    """
    config = config or AnalysisConfig()
    ratings = validate_frame(frame)
    listeners = screen(ratings, config)
    notes: list[str] = []
    kept_ids = set(listeners.loc[~listeners["excluded"], "participant"]) if len(listeners) else set()
    screened = ratings[ratings["participant"].isin(kept_ids)]
    if len(listeners):
        notes.append(
            f"{int(listeners['excluded'].sum())} of {len(listeners)} listeners excluded by screening."
        )
        bar, spread = listeners.attrs["correlation_bar"], listeners.attrs["panel_spread"]
        if bar < config.min_panel_correlation:
            notes.append(
                f"Panel-correlation bar lowered to {bar:.2f}"
                f"{' (criterion skipped: it excludes nobody)' if bar <= -1 else ''}: the panel's "
                f"condition means spread only {spread:.2f} points (full bar {config.min_panel_correlation} "
                f"from a spread of {config.full_panel_spread}, none up to {config.min_panel_spread})."
            )
    z = zscore_per_listener(screened).drop(columns="rating").rename(columns={"z": "rating"})
    variants = {"screened": screened, "all": ratings}
    cells = {v: listener_cells(f, config, study_order=study_order) for v, f in variants.items()}
    z_cells = listener_cells(z, config, study_order=study_order)
    if z_cells.listeners.equals(cells["screened"].listeners):  # the usual case: resample them alike
        z_cells._resampler = cells["screened"].resampler
    summaries = {v: summarise(f, config, cells=cells[v]) for v, f in variants.items()}
    summary = _tagged(summaries | {"screened_z": summarise(z, config, cells=z_cells)})
    head = _tagged({v: headline(f, summaries[v], config, cells=cells[v]) for v, f in variants.items()})
    tests = _tagged(
        {
            "screened": significance(screened, config, models=config.fit_models, cells=cells["screened"]),
            "all": significance(ratings, config, models=False, cells=cells["all"]),
        }
    )
    failed = tests[tests["note"].str.contains("did not converge|skipped: (?!.*rated)", regex=True, na=False)]
    for _, row in (
        failed[failed["test"].isin(["mixedlm", "ordinal_logit"])]
        .drop_duplicates(["scale", "test"])
        .iterrows()
    ):
        notes.append(f"{row['test']} ({row['scale']}): {row['note']}")
    notes.extend(_basis_notes(summaries["screened"]))
    reliability = _tagged({v: agreement(f) for v, f in variants.items()})
    order = cells["all"].order
    return AnalysisResult(
        config=config,
        ratings=ratings,
        listeners=listeners,
        summary=summary,
        headline=head,
        tests=tests,
        reliability=reliability,
        precision=precision(screened, config, cells=cells["screened"]),
        flow=participant_flow(participants, ratings, listeners),
        condition_flow=condition_flow(ratings, listeners, order),
        order=order,
        notes=notes,
    )


def _basis_notes(summary: pd.DataFrame) -> list[str]:
    """Say where the MOS (mean of listener means) and the plain mean of all ratings part ways."""
    if summary.empty:
        return []
    gap = (summary["mos"] - summary["raw_mean"]).abs()
    if not (gap > 0.005).any():
        return []
    worst = summary.loc[gap.idxmax()]
    return [
        "Some listeners rated some conditions more often than others (missing trials), so the MOS "
        "(mean of listener means, the estimate every interval is built around) and the raw mean of "
        f"all ratings differ, by up to {float(np.max(gap)):.3f} points ({worst['scale']}, "
        f"{worst['condition']}). Headline figures use the listeners who rated both conditions."
    ]


def live_summary(
    frame: pd.DataFrame, *, config: AnalysisConfig | None = None, participants: pd.DataFrame | None = None
) -> dict:
    """What the study page shows while the study runs: screening counts, the screened MOS table
    and the participant flow.

    Cheap (no models, no tests): screening plus per condition x scale descriptives.

    Returns:
        {"listeners", "excluded", "ratings", "rows": [{scale, condition, role, listeners, ratings,
        mos, ci_low, ci_high}, ...], "flow": [{stage, listeners, detail}, ...], "summary"} with
        floats rounded to 3 decimals (NaN -> None).
    """
    config = config or AnalysisConfig()
    ratings = validate_frame(frame)
    listeners = screen(ratings, config)
    excluded = set(listeners.loc[listeners["excluded"], "participant"]) if len(listeners) else set()
    table = summarise(ratings[~ratings["participant"].isin(excluded)], config)
    keep = ["scale", "condition", "role", "listeners", "ratings", "mos", "ci_low", "ci_high"]
    rows = table.loc[:, keep].round(3).astype(object).where(table.loc[:, keep].notna(), None)
    return {
        "listeners": len(listeners),
        "excluded": len(excluded),
        "ratings": len(ratings),
        "rows": rows.to_dict(orient="records"),
        "flow": participant_flow(participants, ratings, listeners).to_dict(orient="records"),
        "summary": table,
    }
