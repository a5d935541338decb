"""The zip of a MUSHRA or pairwise study: CSV tables, one XLSX, figures, a self-contained report.html.

The same shape as the ratings export (report.py), whose helpers it reuses: one p-value format,
tables escaped by pandas, figures inline as SVG so report.html stands alone.
"""

from __future__ import annotations

import io
import json
import zipfile

import pandas as pd
from django.template.loader import render_to_string

from .design_plots import bradley_terry_chart, mushra_chart, win_matrix_chart
from .mushra import CRITERIA as MUSHRA_CRITERIA
from .mushra import REASONS as MUSHRA_REASONS
from .mushra import MushraConfig, MushraResult, analyse_mushra
from .pairwise import CRITERIA as PAIRWISE_CRITERIA
from .pairwise import REASONS as PAIRWISE_REASONS
from .pairwise import PairwiseConfig, PairwiseResult, analyse_pairwise
from .plots import flow_chart, render
from .report import ReportMeta, _html_table, _svg, format_p, workbook

TEMPLATES = {
    "mushra": "studies/analysis/report_mushra.html",
    "pairwise": "studies/analysis/report_pairwise.html",
}


def _criteria(criteria: dict) -> pd.DataFrame:
    return pd.DataFrame([{"criterion": c, "rule": r, "source": s} for c, (r, s) in criteria.items()])


def _words(listeners: pd.DataFrame, reasons: dict) -> pd.DataFrame:
    out = listeners.copy()
    out.insert(1, "why", out["reasons"].map(lambda r: "; ".join(reasons[c] for c in str(r).split(";") if c)))
    return out


def mushra_tables(result: MushraResult) -> dict[str, pd.DataFrame]:
    return {
        "scores": result.scores,
        "flow": result.flow,
        "flow_by_condition": result.condition_flow,
        "summary": result.summary,
        "by_item": result.by_item,
        "tests": result.tests,
        "exclusions": result.listeners,
        "screening_criteria": _criteria(MUSHRA_CRITERIA),
    }


def pairwise_tables(result: PairwiseResult) -> dict[str, pd.DataFrame]:
    return {
        "choices": result.choices,
        "flow": result.flow,
        "flow_by_condition": result.condition_flow,
        "win_rates": result.win_rates,
        "pairs": result.pairs,
        "bradley_terry": result.bradley_terry,
        "position_bias": result.position,
        "exclusions": result.listeners,
        "screening_criteria": _criteria(PAIRWISE_CRITERIA),
    }


def _n_range(part: pd.DataFrame, column: str) -> str:
    low, high = int(part[column].min()), int(part[column].max())
    return f"n = {low}" + (f"-{high}" if high != low else "")


def mushra_figures(result: MushraResult) -> dict[str, object]:
    out = {"flow": flow_chart(result.flow, result.condition_flow)}
    for variant, label in (("screened", "after post-screening"), ("all", "all listeners")):
        part = result.summary[result.summary["variant"] == variant]
        if len(part):
            out[f"means_{variant}"] = mushra_chart(
                part, title=f"MUSHRA mean score, 95 % CI ({label}, {_n_range(part, 'listeners')} listeners)"
            )
    return out


def pairwise_figures(result: PairwiseResult) -> dict[str, object]:
    out = {"flow": flow_chart(result.flow, result.condition_flow)}
    bt = result.bradley_terry[result.bradley_terry["variant"] == "screened"]
    if len(bt):
        out["bradley_terry"] = bradley_terry_chart(
            bt, "Bradley-Terry log-strength, 95 % CI (after screening)"
        )
    pairs = result.pairs[result.pairs["variant"] == "screened"]
    for k, question in enumerate(dict.fromkeys(pairs["question"])):
        out[f"wins_{k + 1}"] = win_matrix_chart(pairs, result.order, question)
    return out


def _screened(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["variant"] == "screened"].drop(columns="variant")


def _everyone(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["variant"] == "all"].drop(columns="variant")


def render_design_report(result, meta: ReportMeta, svgs: dict[str, bytes]) -> str:
    """report.html of a MUSHRA or pairwise analysis."""
    listeners = result.listeners
    context = {
        "meta": meta,
        "config": result.config.as_dict(),
        "notes": result.notes,
        "order": ", ".join(result.order),
        "n_listeners": len(listeners),
        "n_excluded": int(listeners["excluded"].sum()) if len(listeners) else 0,
        "svgs": {k: _svg(v) for k, v in svgs.items()},
        "flow": _html_table(result.flow, css="table exclusions"),
        "flow_by_condition": _html_table(result.condition_flow),
    }
    if result.test_type == "mushra":
        excluded = _words(listeners[listeners["excluded"]], MUSHRA_REASONS) if len(listeners) else listeners
        context |= {
            "n_answers": len(result.scores),
            "reference": result.reference or "none identified",
            "anchor": result.anchor or "none identified",
            "summary": _html_table(_screened(result.summary)),
            "summary_all": _html_table(_everyone(result.summary)),
            "by_item": _html_table(result.by_item),
            "tests": _html_table(_screened(result.tests).drop(columns=["zeros"])),
            "tests_all": _html_table(_everyone(result.tests).drop(columns=["zeros"])),
            "criteria": _html_table(_criteria(MUSHRA_CRITERIA), css="table exclusions"),
            "exclusions": _html_table(excluded.drop(columns=["reasons"]), css="table")
            if len(excluded)
            else "",
        }
    else:
        excluded = _words(listeners[listeners["excluded"]], PAIRWISE_REASONS) if len(listeners) else listeners
        context |= {
            "n_answers": len(result.choices),
            "bradley_terry": _html_table(_screened(result.bradley_terry).drop(columns=["method"])),
            "win_rates": _html_table(_screened(result.win_rates)),
            "pairs": _html_table(_screened(result.pairs)),
            "position": _html_table(_screened(result.position)),
            "bradley_terry_all": _html_table(_everyone(result.bradley_terry).drop(columns=["method"])),
            "pairs_all": _html_table(_everyone(result.pairs)),
            "position_all": _html_table(_everyone(result.position)),
            "criteria": _html_table(_criteria(PAIRWISE_CRITERIA), css="table exclusions"),
            "exclusions": _html_table(excluded.drop(columns=["reasons"]), css="table")
            if len(excluded)
            else "",
        }
    return render_to_string(TEMPLATES[result.test_type], context)


def build_design_zip(result, meta: ReportMeta | None = None) -> bytes:
    """Every table (CSV and one XLSX), every figure (PNG and SVG), config.json and report.html."""
    meta = meta or ReportMeta()
    sheets = mushra_tables(result) if result.test_type == "mushra" else pairwise_tables(result)
    figures = mushra_figures(result) if result.test_type == "mushra" else pairwise_figures(result)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, df in sheets.items():
            archive.writestr(f"{name}.csv", df.to_csv(index=False))
        archive.writestr("analysis.xlsx", workbook(sheets))
        svgs = {}
        for stem, fig in figures.items():
            archive.writestr(f"figures/{stem}.png", render(fig, "png"))
            svgs[stem] = render(fig, "svg")
            archive.writestr(f"figures/{stem}.svg", svgs[stem])
        archive.writestr(
            "config.json", json.dumps({"test_type": result.test_type, **result.config.as_dict()}, indent=2)
        )
        archive.writestr("report.html", render_design_report(result, meta, svgs))
    return buffer.getvalue()


def analyse_study_design(study, *, overrides: dict | None = None, config=None):
    """The MUSHRA or pairwise analysis of a study, from the database (Study.test_type decides)."""
    from .data import participants_frame, study_conditions
    from .designs_data import condition_roles, mushra_frame, pairwise_frame

    options = {**(study.analysis_options or {}), **(overrides or {})}
    design = study.design_options or {}
    if study.test_type == "mushra":
        return analyse_mushra(
            mushra_frame(study),
            reference=design.get("reference"),
            anchor=design.get("anchor"),
            config=config or MushraConfig.from_options(options),
            participants=participants_frame(study),
            study_order=study_conditions(study),
        )
    if study.test_type == "pairwise":
        return analyse_pairwise(
            pairwise_frame(study),
            roles=condition_roles(study),
            config=config or PairwiseConfig.from_options(options),
            participants=participants_frame(study),
            study_order=study_conditions(study),
        )
    raise ValueError(f"study {study.slug} is a {study.test_type} study: use analyse() from studies.analysis")


def design_meta(study) -> ReportMeta:
    design = study.design_options or {}
    if study.test_type == "mushra":
        scales = ", ".join(s.get("key", "") for s in design.get("scales", []))
        what = f"MUSHRA, {design.get('items_per_volunteer', '?')} items per volunteer, scales: {scales}"
    else:
        questions = ", ".join(q.get("key", "") for q in design.get("questions", []))
        what = (
            f"pairwise, {design.get('pairs_per_volunteer', '?')} pairs per volunteer, questions: {questions}"
        )
    return ReportMeta(
        title=study.title,
        slug=study.slug,
        extra={
            "status": study.get_status_display(),
            "design": what,
            "conditions": ", ".join(f"{c.name} ({c.role})" for c in study.conditions.order_by("id")),
        },
    )


def design_export_zip(study, *, overrides: dict | None = None) -> bytes:
    return build_design_zip(analyse_study_design(study, overrides=overrides), design_meta(study))


def design_headline(result) -> list[str]:
    """A few lines for the command line: exclusions, then the primary estimates with their CIs."""
    excluded = result.listeners[result.listeners["excluded"]] if len(result.listeners) else result.listeners
    lines = [
        f"{len(result.listeners)} listeners, {len(excluded)} excluded"
        + (
            f" ({', '.join(f'{p}: {r}' for p, r in zip(excluded['participant'], excluded['reasons']))})"
            if len(excluded)
            else ""
        )
    ]
    if result.test_type == "mushra":
        for row in result.primary.itertuples():
            lines.append(
                f"{row.scale} {row.condition}: mean {row.mean:.1f} [{row.ci_low:.1f}, {row.ci_high:.1f}], "
                f"{row.listeners} listeners"
            )
        tests = _screened(result.tests)
        for row in tests[tests["test"] == "friedman"].itertuples():
            lines.append(f"{row.scale} Friedman chi2 {row.statistic:.1f}, p {format_p(row.p)}, n {row.n}")
        wilcoxon = tests[tests["test"] == "wilcoxon"]
        lines.append(
            f"Wilcoxon-Holm: {int(wilcoxon['significant'].fillna(False).sum())} of {len(wilcoxon)} pairs significant"
        )
    else:
        for row in _screened(result.bradley_terry).itertuples():
            lines.append(
                f"{row.question} {row.condition}: log-strength {row.log_strength:+.2f} "
                f"[{row.ci_low:+.2f}, {row.ci_high:+.2f}], listener bootstrap [{row.boot_low:+.2f}, "
                f"{row.boot_high:+.2f}]"
            )
        pairs = _screened(result.pairs)
        lines.append(
            f"binomial-Holm: {int(pairs['significant'].fillna(False).sum())} of {len(pairs)} pairs significant"
        )
        for row in _screened(result.position).itertuples():
            lines.append(
                f"{row.question} left chosen {row.left_share:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}], "
                f"p {format_p(row.p)}"
            )
    return lines
