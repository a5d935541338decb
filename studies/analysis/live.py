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

from studies.models import Rating, Study

from . import live_summary
from .data import participants_frame, ratings_frame, study_config
from .plots import mos_bar_chart, render

CACHE_SECONDS = 24 * 3600


def _cache_key(study: Study) -> str:
    state = Rating.objects.filter(trial__participant__study=study).aggregate(
        n=Count("pk"), last=Max("pk"), at=Max("submitted_at")
    )
    options = json.dumps(study.analysis_options or {}, sort_keys=True)
    # The participant flow also changes when someone joins, is screened out or abandons.
    statuses = sorted(study.participants.order_by().values_list("status").annotate(n=Count("pk")))
    signature = f"{study.pk}|{state['n']}|{state['last']}|{state['at']}|{options}|{statuses}"
    return "docbgm:live-results:" + hashlib.sha256(signature.encode()).hexdigest()


def _compute(study: Study) -> dict:
    data = live_summary(
        ratings_frame(study), config=study_config(study), participants=participants_frame(study)
    )
    summary = data.pop("summary")
    chart = ""
    if len(summary):
        svg = render(mos_bar_chart(summary, title="MOS after screening (95 % CI)"), "svg").decode()
        chart = svg[svg.index("<svg") :]
    return {"live": data, "chart": chart}


def study_live_results(study: Study) -> dict:
    """{"live": live_summary(...) without its DataFrame, "chart": the bar chart's SVG markup or ""}."""
    key = _cache_key(study)
    results = cache.get(key)
    if results is None:
        results = _compute(study)
        cache.set(key, results, CACHE_SECONDS)
    # Our own figure; matplotlib escapes the condition names it draws.
    return {"live": results["live"], "chart": mark_safe(results["chart"])}  # noqa: S308
