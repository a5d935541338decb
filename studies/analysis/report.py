"""Pack an analysis into one zip: CSV tables, an XLSX with the same sheets, figures, report.html.

Rendering report.html uses Django's template engine (templates/studies/analysis/report.html), so
Django settings must be configured; the analysis itself (`analyse`) does not need them.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from openpyxl import Workbook

from . import AnalysisResult, analyse
from .plots import listener_distribution_chart, mos_bar_chart, render

REPORT_TEMPLATE = "studies/analysis/report.html"


@dataclass
class ReportMeta:
    """What the report says about where the ratings came from."""

    title: str = "Listening study"
    slug: str = ""
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    extra: dict[str, str] = field(default_factory=dict)  # e.g. status, groups x clips


def _csv_ready(df: pd.DataFrame) -> pd.DataFrame:
    """ISO text for timestamps (Excel cannot hold time zones); everything else unchanged."""
    out = df.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]) or (
            out[column].dtype == object and len(out) and isinstance(out[column].iloc[0], datetime)
        ):
            out[column] = pd.to_datetime(out[column], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return out


def tables(result: AnalysisResult) -> dict[str, pd.DataFrame]:
    """The sheets of the export, in order; each is also written as <name>.csv."""
    return {
        "ratings": _csv_ready(result.ratings),
        "summary": result.summary,
        "headline": result.headline,
        "tests": result.tests,
        "exclusions": result.listeners,
        "reliability": result.reliability,
        "precision": result.precision,
    }


def figures(result: AnalysisResult) -> dict[str, object]:
    """Figure objects by file stem."""
    out = {}
    for variant, label in (("screened", "after screening"), ("all", "all listeners")):
        part = result.summary[result.summary["variant"] == variant]
        if len(part):
            out[f"mos_{variant}"] = mos_bar_chart(part, title=f"Mean opinion score, 95 % CI ({label})")
    if len(result.ratings):
        out["listener_ratings"] = listener_distribution_chart(result.ratings, result.listeners)
    return out


def _html_table(df: pd.DataFrame, columns: list[str] | None = None) -> str:
    if columns is not None:
        df = df.loc[:, [c for c in columns if c in df.columns]]
    return mark_safe(  # noqa: S308 - pandas escapes every cell (escape=True)
        df.to_html(
            index=False,
            na_rep="",
            float_format=lambda v: f"{v:.3g}" if abs(v) < 1e-3 else f"{v:.3f}",
            classes="table",
            border=0,
            escape=True,
        )
    )


def render_report(result: AnalysisResult, meta: ReportMeta, svgs: dict[str, str]) -> str:
    """report.html: the paper's section 3.3.2 figures with intervals, tests, screening, precision."""
    summary = result.summary
    tests = result.tests
    screened_tests = tests[tests["variant"] == "screened"]
    main_tests = screened_tests[screened_tests["test"].isin(["friedman", "wilcoxon"])]
    model_tests = screened_tests[screened_tests["test"].isin(["mixedlm", "ordinal_logit"])]
    excluded = result.listeners[result.listeners["excluded"]] if len(result.listeners) else result.listeners
    context = {
        "meta": meta,
        "config": result.config.as_dict(),
        "notes": result.notes,
        "n_listeners": len(result.listeners),
        "n_excluded": int(result.listeners["excluded"].sum()) if len(result.listeners) else 0,
        "n_ratings": len(result.ratings),
        "svgs": svgs,
        "headline": _html_table(result.headline[result.headline["variant"] == "screened"]),
        "headline_all": _html_table(result.headline[result.headline["variant"] == "all"]),
        "summary": _html_table(summary[summary["variant"] == "screened"].drop(columns="variant")),
        "summary_all": _html_table(summary[summary["variant"] == "all"].drop(columns="variant")),
        "summary_z": _html_table(
            summary[summary["variant"] == "screened_z"],
            ["scale", "condition", "role", "listeners", "mos", "ci_low", "ci_high"],
        ),
        "tests": _html_table(main_tests.drop(columns="variant")),
        "models": _html_table(model_tests.drop(columns=["variant", "p_holm"])),
        "reliability": _html_table(result.reliability),
        "precision": _html_table(result.precision),
        "exclusions": _html_table(excluded),
    }
    return render_to_string(REPORT_TEMPLATE, context)


EXCEL_MAX_ROWS = 1_048_575  # a worksheet's row limit, less the header


def workbook(sheets: dict[str, pd.DataFrame]) -> bytes:
    """The sheets as one XLSX, written row by row (openpyxl's write-only mode: ~1.6x faster than
    pandas' writer, in constant memory). A sheet beyond Excel's row limit points to its CSV instead."""
    book = Workbook(write_only=True)
    for name, df in sheets.items():
        sheet = book.create_sheet(name)
        if len(df) > EXCEL_MAX_ROWS:
            sheet.append([f"{len(df)} rows exceed Excel's limit: see {name}.csv"])
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
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, df in sheets.items():
            archive.writestr(f"{name}.csv", df.to_csv(index=False))
        archive.writestr("analysis.xlsx", workbook(sheets))
        svgs = {}
        for stem, fig in figures(result).items():
            archive.writestr(f"figures/{stem}.png", render(fig, "png"))
            svg = render(fig, "svg")
            archive.writestr(f"figures/{stem}.svg", svg)
            svgs[stem] = f"figures/{stem}.svg"
        archive.writestr("config.json", json.dumps(result.config.as_dict(), indent=2))
        archive.writestr("report.html", render_report(result, meta, svgs))
    return buffer.getvalue()


def export_zip(study, *, overrides: dict | None = None) -> bytes:
    """Analyse a study's ratings and return the zip (bytes) that the researcher downloads."""
    from .data import ratings_frame, study_config

    result = analyse(ratings_frame(study), config=study_config(study, overrides))
    meta = ReportMeta(
        title=study.title,
        slug=study.slug,
        extra={
            "status": study.get_status_display(),
            "design": f"{study.groups} groups x {study.clips_per_group} clips",
            "conditions": ", ".join(f"{c.name} ({c.role})" for c in study.conditions.all()),
        },
    )
    return build_zip(result, meta)
