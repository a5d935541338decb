"""Score analyses of a listening study: one entry point, `analyse(frame, config=...)`.

The pure part (this package minus data.py, report.py, views.py) needs no Django: it takes the
long-format ratings frame described in `frame.COLUMNS`. `export_zip(study)` (report.py) builds
the frame from the database and packs every table, figure and report.html into one zip.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .config import AnalysisConfig
from .frame import validate_frame
from .precision import precision
from .reliability import agreement
from .screening import screen, zscore_per_listener
from .significance import significance
from .summary import headline, summarise

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
    summary: pd.DataFrame  # variant x scale x condition: listeners, ratings, MOS, SD, median, CIs
    headline: pd.DataFrame  # the paper's figures: advantage over second best, gap to real music
    tests: pd.DataFrame  # Friedman, Wilcoxon (Holm), mixed and ordinal models
    reliability: pd.DataFrame  # Krippendorff's alpha per scale and variant
    precision: pd.DataFrame  # detectable difference and listeners needed, screened panel
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


def analyse(frame: pd.DataFrame, *, config: AnalysisConfig | None = None) -> AnalysisResult:
    """Run every analysis of issue 7 on a long-format ratings frame.

    Args:
        frame: one row per participant x trial x scale (see `frame.COLUMNS`); practice trials
            already removed.
        config: thresholds and settings; defaults follow P.808 / P.800.2.

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
        if not listeners.attrs.get("correlation_applied", True):
            notes.append(
                f"Panel-correlation screening skipped: the panel's condition means spread only "
                f"{listeners.attrs['panel_spread']:.2f} points (threshold {config.min_panel_spread})."
            )
    z = zscore_per_listener(screened).drop(columns="rating").rename(columns={"z": "rating"})
    variants = {"screened": screened, "all": ratings}
    summary = _tagged(
        {v: summarise(f, config) for v, f in variants.items()} | {"screened_z": summarise(z, config)}
    )
    head = _tagged({v: headline(f, summary[summary["variant"] == v], config) for v, f in variants.items()})
    tests = _tagged(
        {
            "screened": significance(screened, config, models=config.fit_models),
            "all": significance(ratings, config, models=False),
        }
    )
    failed = tests[tests["note"].str.contains("did not converge|Error", regex=True, na=False)]
    for _, row in failed.drop_duplicates(["scale", "test"]).iterrows():
        notes.append(f"{row['test']} ({row['scale']}): {row['note']}")
    reliability = _tagged({v: agreement(f) for v, f in variants.items()})
    return AnalysisResult(
        config=config,
        ratings=ratings,
        listeners=listeners,
        summary=summary,
        headline=head,
        tests=tests,
        reliability=reliability,
        precision=precision(screened, config),
        notes=notes,
    )


def live_summary(frame: pd.DataFrame, *, config: AnalysisConfig | None = None) -> dict:
    """What the study page shows while the study runs: screening counts and the screened MOS table.

    Cheap (no models, no tests): screening plus per condition x scale descriptives.

    Returns:
        {"listeners", "excluded", "ratings", "rows": [{scale, condition, role, listeners, ratings,
        mos, ci_low, ci_high}, ...]} with floats rounded to 3 decimals (NaN -> None).
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
        "summary": table,
    }
