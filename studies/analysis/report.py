"""Pack an analysis into one zip: CSV tables, an XLSX with the same sheets, figures, report.html.

report.html stands alone: its figures are inline SVG, so it keeps them when it is mailed or
opened outside the zip. Rendering it uses Django's template engine
(templates/studies/analysis/report.html), so Django settings must be configured; the analysis
itself (`analyse`) does not need them.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from openpyxl import Workbook

from . import AnalysisResult, analyse
from .plots import flow_chart, listener_distribution_chart, mos_bar_chart, render
from .screening import CRITERIA, REASONS

REPORT_TEMPLATE = "studies/analysis/report.html"

# The paper's section 3.3.2 (Wang & Wang 2026): the proposed model's average score per scale, its
# advantage over the second best (VD-ED), and its gap to real music ("within 0.5 points").
PAPER = {
    "naturalness": {"mos": 4.35, "advantage": 26.45},
    "creativity": {"mos": 4.52, "advantage": 24.86},
    "musicality": {"mos": 4.47, "advantage": 26.27},
}
PAPER_GAP = "< 0.5"


@dataclass
class ReportMeta:
    """What the report says about where the ratings came from."""

    title: str = "Listening study"
    slug: str = ""
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    extra: dict[str, str] = field(default_factory=dict)  # e.g. status, groups x clips


def format_p(p: float) -> str:
    """The report's one p-value format: three decimals, "< 0.001" below that, "" when untested."""
    if p is None or not np.isfinite(p):
        return ""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _csv_ready(df: pd.DataFrame) -> pd.DataFrame:
    """ISO text for timestamps (Excel cannot hold time zones); everything else unchanged."""
    out = df.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]) or (
            out[column].dtype == object and len(out) and isinstance(out[column].iloc[0], datetime)
        ):
            stamps = pd.to_datetime(out[column], utc=True)
            # Format each distinct time once: the three scales of a trial share it.
            codes, uniques = pd.factorize(stamps)
            text = pd.DatetimeIndex(uniques).strftime("%Y-%m-%dT%H:%M:%S.%fZ").to_numpy(dtype=object)
            out[column] = np.where(codes >= 0, text[np.maximum(codes, 0)], None)
    return out


def paper_comparison(result: AnalysisResult) -> pd.DataFrame:
    """Our study next to the paper's table, per scale: the best system's MOS with its 95 % CI, its
    advantage over the second best with the bootstrap CI, and its gap to real music with the t CI."""
    summary = result.primary.set_index(["scale", "condition"])
    head = result.headline[result.headline["variant"] == "screened"]
    rows = []
    for scale, paper in PAPER.items():
        advantage = head[(head["scale"] == scale) & (head["kind"] == "advantage_over_second_best")]
        if advantage.empty:
            continue
        adv = advantage.iloc[0]
        cell = summary.loc[(scale, adv["condition"])]
        gap = head[
            (head["scale"] == scale)
            & (head["kind"] == "gap_to_real_music")
            & (head["condition"] == adv["condition"])
        ]
        row = {
            "scale": scale,
            "best_system": adv["condition"],
            "second_best": adv["versus"],
            "mos": cell["mos"],
            "mos_ci_low": cell["ci_low"],
            "mos_ci_high": cell["ci_high"],
            "paper_mos": paper["mos"],
            "advantage_pct": adv["value"],
            "advantage_ci_low": adv["ci_low"],
            "advantage_ci_high": adv["ci_high"],
            "paper_advantage_pct": paper["advantage"],
            "gap_to_real": np.nan,
            "gap_ci_low": np.nan,
            "gap_ci_high": np.nan,
            "paper_gap": PAPER_GAP,
            "listeners": int(cell["listeners"]),
        }
        if len(gap):
            g = gap.iloc[0]
            row |= {"gap_to_real": g["value"], "gap_ci_low": g["ci_low"], "gap_ci_high": g["ci_high"]}
        rows.append(row)
    return pd.DataFrame(rows)


def criteria_table() -> pd.DataFrame:
    """The screening criteria: code, what is applied here, where it comes from."""
    return pd.DataFrame(
        [{"criterion": code, "rule": rule, "source": source} for code, (rule, source) in CRITERIA.items()]
    )


def tables(result: AnalysisResult) -> dict[str, pd.DataFrame]:
    """The sheets of the export, in order; each is also written as <name>.csv."""
    return {
        "ratings": _csv_ready(result.ratings),
        "flow": result.flow,
        "flow_by_condition": result.condition_flow,
        "summary": result.summary,
        "headline": result.headline,
        "paper_comparison": paper_comparison(result),
        "tests": result.tests,
        "exclusions": result.listeners,
        "screening_criteria": criteria_table(),
        "reliability": result.reliability,
        "precision": result.precision,
    }


def figures(result: AnalysisResult) -> dict[str, object]:
    """Figure objects by file stem."""
    out = {"flow": flow_chart(result.flow, result.condition_flow)}
    for variant, label in (("screened", "after screening"), ("all", "all listeners")):
        part = result.summary[result.summary["variant"] == variant]
        if len(part):
            n = f"n = {part['listeners'].min()}" + (
                f"-{part['listeners'].max()}" if part["listeners"].max() != part["listeners"].min() else ""
            )
            out[f"mos_{variant}"] = mos_bar_chart(
                part, title=f"Mean opinion score, 95 % CI ({label}, {n} listeners)"
            )
    if len(result.ratings):
        out["listener_ratings"] = listener_distribution_chart(result.ratings, result.listeners)
    return out


def _interval(value: float, low: float, high: float, digits: int = 2, unit: str = "") -> str:
    if value is None or not np.isfinite(value):
        return ""
    text = f"{value:.{digits}f}{unit}"
    if np.isfinite(low) and np.isfinite(high):
        text += f" [{low:.{digits}f}, {high:.{digits}f}]"
    return text


def _html_table(df: pd.DataFrame, columns: list[str] | None = None, css: str = "table") -> str:
    """A table for the report: p-values in the one format, other floats to 3 decimals."""
    if columns is not None:
        df = df.loc[:, [c for c in columns if c in df.columns]]
    df = df.copy()
    for column in ("p", "p_holm"):
        if column in df:
            df[column] = df[column].map(format_p)
    return mark_safe(  # noqa: S308 - pandas escapes every cell (escape=True)
        df.to_html(
            index=False,
            na_rep="",
            float_format=lambda v: f"{v:.3g}" if 0 < abs(v) < 1e-3 else f"{v:.3f}",
            classes=css,
            border=0,
            escape=True,
        )
    )


def _paper_table(comparison: pd.DataFrame) -> str:
    shown = pd.DataFrame(
        {
            "scale": comparison["scale"],
            "best system (vs second best)": comparison["best_system"]
            + " (vs "
            + comparison["second_best"]
            + ")",
            "MOS [95 % CI], ours": [
                _interval(r.mos, r.mos_ci_low, r.mos_ci_high) for r in comparison.itertuples()
            ],
            "MOS, paper": comparison["paper_mos"].map("{:.2f}".format),
            "% over second best [95 % CI], ours": [
                _interval(r.advantage_pct, r.advantage_ci_low, r.advantage_ci_high, 1, " %")
                for r in comparison.itertuples()
            ],
            "% over second best, paper": comparison["paper_advantage_pct"].map("{:.2f} %".format),
            "gap to real music [95 % CI], ours": [
                _interval(r.gap_to_real, r.gap_ci_low, r.gap_ci_high) for r in comparison.itertuples()
            ],
            "gap, paper": comparison["paper_gap"],
        }
    )
    return _html_table(shown)


def _exclusions_table(listeners: pd.DataFrame) -> str:
    """Excluded listeners, their reasons in words first, then the numbers behind them."""
    excluded = listeners[listeners["excluded"]] if len(listeners) else listeners
    if excluded.empty:
        return mark_safe("<p>Nobody was excluded.</p>")
    shown = pd.DataFrame(
        {
            "listener": excluded["participant"],
            "reasons": excluded["reasons"].map(lambda r: "; ".join(REASONS[c] for c in r.split(";") if c)),
            "flat scales": excluded["flat_scales"],
            "min variance (scale)": excluded["min_scale_variance"],
            "unfinished": excluded["unfinished_fraction"],
            "headphones": excluded["headphone_passed"]
            .map({True: "passed", False: "failed"})
            .fillna("no check"),
            "real - anchor": excluded["reference_minus_anchor"],
            "panel r (bar)": [
                "" if not np.isfinite(r) else f"{r:.2f} ({b:.2f})"
                for r, b in zip(excluded["panel_correlation"], excluded["correlation_bar"], strict=True)
            ],
        }
    )
    return _html_table(shown, css="table exclusions")


def _svg(data: bytes) -> str:
    """Matplotlib's SVG without the XML prolog, ready to sit inside the HTML (our own figure;
    matplotlib escapes the condition names it draws)."""
    text = data.decode()
    return mark_safe(text[text.index("<svg") :])  # noqa: S308


def _statements(result: AnalysisResult) -> dict[str, str]:
    """Plain sentences next to the test tables: family, statistic, n, what was skipped and why."""
    tests = result.tests[result.tests["variant"] == "screened"]
    wilcoxon = tests[tests["test"] == "wilcoxon"]
    friedman = tests[tests["test"] == "friedman"]
    tested = wilcoxon[wilcoxon["p"].notna()]
    per_scale = tested.groupby("scale").size()
    family = ", ".join(f"{n} pairs of {scale}" for scale, n in per_scale.items())
    methods = ", ".join(f"{m} ({n})" for m, n in tested["method"].value_counts().items())
    zeros = int(tested["zeros"].fillna(0).sum())
    skipped = [
        f"{r.scale} {r.test} {r.condition} vs {r.versus}: {r.note}".replace(" all vs ", " ")
        for r in tests[tests["note"].str.startswith("skipped")].itertuples()
    ]
    complete = "; ".join(f"{r.scale}: {r.note}" for r in friedman.itertuples())
    return {
        "family": f"Holm's correction runs within each scale over its tested pairs ({family}); the "
        "scales are separate families, Friedman's test is not part of them."
        if family
        else "",
        "statistic": "The statistic is V, the sum of the ranks of the positive differences (condition "
        "minus versus), as R reports it; differences of listener means are rounded to 1e-9 before zeros "
        f"and ties are found, zero differences are dropped before ranking ({zeros} in all). "
        f"p-values: {methods}."
        if len(tested)
        else "",
        "friedman": f"Friedman on complete cases only — {complete}." if complete else "",
        "skipped": skipped,
    }


def render_report(result: AnalysisResult, meta: ReportMeta, svgs: dict[str, str]) -> str:
    """report.html: flow, the paper's table side by side, MOS, tests, screening, precision."""
    summary = result.summary
    tests = result.tests
    screened_tests = tests[tests["variant"] == "screened"]
    main_tests = screened_tests[screened_tests["test"].isin(["friedman", "wilcoxon"])]
    model_tests = screened_tests[screened_tests["test"].isin(["mixedlm", "ordinal_logit"])]
    summary_columns = [
        "scale", "condition", "role", "listeners", "ratings", "mos", "ci_low", "ci_high",
        "boot_low", "boot_high", "listener_sd", "raw_mean",
    ]  # fmt: skip
    model_note = model_tests["note"].iloc[0] if len(model_tests) else ""
    context = {
        "meta": meta,
        "config": result.config.as_dict(),
        "notes": result.notes,
        "n_listeners": len(result.listeners),
        "n_excluded": int(result.listeners["excluded"].sum()) if len(result.listeners) else 0,
        "n_ratings": len(result.ratings),
        "order": ", ".join(result.order),
        "svgs": {k: _svg(v) for k, v in svgs.items()},
        "flow": _html_table(result.flow, css="table exclusions"),
        "flow_by_condition": _html_table(result.condition_flow),
        "paper": _paper_table(paper_comparison(result)),
        "headline": _html_table(
            result.headline[result.headline["variant"] == "screened"].drop(columns="variant")
        ),
        "headline_all": _html_table(
            result.headline[result.headline["variant"] == "all"].drop(columns="variant")
        ),
        "summary": _html_table(summary[summary["variant"] == "screened"], summary_columns),
        "summary_all": _html_table(summary[summary["variant"] == "all"], summary_columns),
        "summary_z": _html_table(
            summary[summary["variant"] == "screened_z"],
            ["scale", "condition", "role", "listeners", "mos", "ci_low", "ci_high"],
        ),
        "tests": _html_table(
            main_tests,
            [
                "scale",
                "test",
                "condition",
                "versus",
                "n",
                "zeros",
                "statistic",
                "p",
                "p_holm",
                "method",
                "effect",
                "effect_size",
                "significant",
            ],
        ),  # fmt: skip
        "statements": _statements(result),
        "models": _html_table(
            model_tests, ["scale", "test", "condition", "versus", "n", "effect_size", "p", "significant"]
        ),
        "model_note": model_note,
        "reliability": _html_table(result.reliability),
        "precision": _html_table(result.precision),
        "criteria": _html_table(criteria_table(), css="table exclusions"),
        "exclusions": _exclusions_table(result.listeners),
        "correlation_bar": result.listeners.attrs.get("correlation_bar", np.nan),
        "panel_spread": result.listeners.attrs.get("panel_spread", np.nan),
    }
    return render_to_string(REPORT_TEMPLATE, context)


EXCEL_MAX_ROWS = 1_048_575  # a worksheet's row limit, less the header
# Writing a sheet costs ~20 s per million cells; the ratings of a large panel stay in ratings.csv.
EXCEL_RATINGS_MAX_ROWS = 100_000


def workbook(sheets: dict[str, pd.DataFrame]) -> bytes:
    """The sheets as one XLSX, written row by row (openpyxl's write-only mode: ~1.6x faster than
    pandas' writer, in constant memory). The ratings sheet above EXCEL_RATINGS_MAX_ROWS rows, and
    any sheet beyond Excel's row limit, point to their CSV instead."""
    book = Workbook(write_only=True)
    for name, df in sheets.items():
        sheet = book.create_sheet(name)
        limit = EXCEL_RATINGS_MAX_ROWS if name == "ratings" else EXCEL_MAX_ROWS
        if len(df) > limit:
            sheet.append([f"{len(df)} rows: too many for this workbook, see {name}.csv"])
            continue
        sheet.append([str(c) for c in df.columns])
        for row in df.astype(object).where(df.notna(), None).itertuples(index=False):
            sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def build_zip(result: AnalysisResult, meta: ReportMeta | None = None) -> bytes:
    """Every table (CSV and one XLSX), every figure (PNG and SVG) and report.html in one zip."""
    meta = meta or ReportMeta()
    buffer = io.BytesIO()
    sheets = tables(result)
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, df in sheets.items():
            archive.writestr(f"{name}.csv", df.to_csv(index=False))
        archive.writestr("analysis.xlsx", workbook(sheets))
        svgs = {}
        for stem, fig in figures(result).items():
            archive.writestr(f"figures/{stem}.png", render(fig, "png"))
            svgs[stem] = render(fig, "svg")
            archive.writestr(f"figures/{stem}.svg", svgs[stem])
        archive.writestr("config.json", json.dumps(result.config.as_dict(), indent=2))
        archive.writestr("report.html", render_report(result, meta, svgs))
    return buffer.getvalue()


def rating_export_zip(study, *, overrides: dict | None = None) -> bytes:
    """Analyse a rating study's answers and return the zip (bytes) that the researcher downloads
    (export.export_zip picks this or the MUSHRA or pairwise one by Study.test_type)."""
    from .data import participants_frame, ratings_frame, study_conditions, study_config

    result = analyse(
        ratings_frame(study),
        config=study_config(study, overrides),
        participants=participants_frame(study),
        study_order=study_conditions(study),
    )
    meta = ReportMeta(
        title=study.title,
        slug=study.slug,
        extra={
            "status": study.get_status_display(),
            "design": f"{study.groups} groups x {study.clips_per_group} clips",
            "conditions": ", ".join(f"{c.name} ({c.role})" for c in study.conditions.order_by("id")),
        },
    )
    return build_zip(result, meta)
