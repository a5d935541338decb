"""The study page's live results: the screened MOS table and its bar chart, computed once per
state of the ratings and cached, so that rendering a page or its refresh fragment does no analysis.

The cache key is what the summary depends on: the study, its analysis options, and its ratings
(count, latest id and latest submission time; ratings are written once and never edited, and the
screening inputs of a listener, such as the headphone check, are fixed before their first rating).
A new rating makes a new key, so live results stay live; an unchanged study is served from cache.
"""

from __future__ import annotations

import hashlib
import json

from django.core.cache import cache
from django.db.models import Count, Max
from django.utils.safestring import mark_safe

from studies.models import MushraScore, PairwiseChoice, Rating, Study

from . import live_summary
from .data import participants_frame, ratings_frame, study_config
from .design_plots import bradley_terry_chart, mushra_chart
from .plots import mos_bar_chart, render

CACHE_SECONDS = 24 * 3600


def _answers(study: Study):
    """The rows a study's answers are stored in: ratings, MUSHRA scores or pairwise choices."""
    if study.test_type == "mushra":
        return MushraScore.objects.filter(page_clip__page__participant__study=study)
    if study.test_type == "pairwise":
        return PairwiseChoice.objects.filter(page__participant__study=study)
    return Rating.objects.filter(trial__participant__study=study)


def _cache_key(study: Study) -> str:
    state = _answers(study).aggregate(n=Count("pk"), last=Max("pk"), at=Max("submitted_at"))
    options = json.dumps(
        [study.test_type, study.analysis_options or {}, study.design_options or {}], sort_keys=True
    )
    # The participant flow also changes when someone joins, is screened out or abandons.
    statuses = sorted(study.participants.order_by().values_list("status").annotate(n=Count("pk")))
    signature = f"{study.pk}|{state['n']}|{state['last']}|{state['at']}|{options}|{statuses}"
    return "docbgm:live-results:" + hashlib.sha256(signature.encode()).hexdigest()


def _compute(study: Study) -> dict:
    if study.test_type != "rating":
        return _compute_design(study)
    data = live_summary(
        ratings_frame(study), config=study_config(study), participants=participants_frame(study)
    )
    summary = data.pop("summary")
    chart = ""
    if len(summary):
        svg = render(mos_bar_chart(summary, title="MOS after screening (95 % CI)"), "svg").decode()
        chart = svg[svg.index("<svg") :]
    return {"live": data, "chart": chart}


def _records(table, columns: list[str]) -> list[dict]:
    part = table.loc[:, columns].round(3).astype(object)
    return part.where(part.notna(), None).to_dict(orient="records")


def _compute_design(study: Study) -> dict:
    """The live results of a MUSHRA study (means after post-screening) or a pairwise study
    (Bradley-Terry scores and win rates after screening), with the participant flow."""
    from .design_report import analyse_study_design
    from .mushra import MushraConfig
    from .pairwise import PairwiseConfig

    if study.test_type == "mushra":
        # The live page needs the means and their t intervals, not 2000 bootstrap resamples.
        config = MushraConfig.from_options({**(study.analysis_options or {}), "bootstrap_resamples": 200})
        result = analyse_study_design(study, config=config)
        table = result.primary
        rows = _records(
            table, ["scale", "condition", "role", "listeners", "scores", "mean", "ci_low", "ci_high"]
        )
        title, chart_of = "MUSHRA mean score after post-screening (95 % CI)", mushra_chart
        answers = len(result.scores)
    else:
        config = PairwiseConfig.from_options({**(study.analysis_options or {}), "bootstrap_resamples": 200})
        result = analyse_study_design(study, config=config)
        bt = result.bradley_terry[result.bradley_terry["variant"] == "screened"]
        wins = result.win_rates[result.win_rates["variant"] == "screened"]
        table = bt.merge(
            wins[["question", "condition", "comparisons", "win_rate"]], on=["question", "condition"]
        )
        rows = _records(
            table,
            ["question", "condition", "role", "comparisons", "win_rate", "log_strength", "ci_low", "ci_high"],
        )
        title, chart_of = "Bradley-Terry log-strength after screening (95 % CI)", bradley_terry_chart
        answers = len(result.choices)
    chart = ""
    if len(table) and not (study.test_type == "pairwise" and table["log_strength"].isna().all()):
        svg = render(chart_of(table, title=title), "svg").decode()
        chart = svg[svg.index("<svg") :]
    live = {
        "design": study.test_type,
        "listeners": len(result.listeners),
        "excluded": int(result.listeners["excluded"].sum()) if len(result.listeners) else 0,
        "ratings": answers,
        "rows": rows,
        "flow": result.flow.to_dict(orient="records"),
    }
    return {"live": live, "chart": chart}


def study_live_results(study: Study) -> dict:
    """{"live": live_summary(...) without its DataFrame, "chart": the bar chart's SVG markup or ""}."""
    key = _cache_key(study)
    results = cache.get(key)
    if results is None:
        results = _compute(study)
        cache.set(key, results, CACHE_SECONDS)
    # Our own figure; matplotlib escapes the condition names it draws.
    return {"live": results["live"], "chart": mark_safe(results["chart"])}  # noqa: S308
