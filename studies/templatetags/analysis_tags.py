"""`{% live_summary study %}`: the live MOS table and bar chart, rendered where the study page includes it."""

from django import template
from django.utils.safestring import mark_safe

from studies.analysis import live_summary as compute_live_summary
from studies.analysis.data import ratings_frame, study_config
from studies.analysis.plots import mos_bar_chart, render

register = template.Library()


def live_summary_context(study, user) -> dict:
    """The context of _summary_table.html: also what the page's refresh endpoint renders."""
    data = compute_live_summary(ratings_frame(study), config=study_config(study))
    chart = ""
    if len(data["summary"]):
        svg = render(mos_bar_chart(data["summary"], title="MOS after screening (95 % CI)"), "svg").decode()
        # Our own figure; matplotlib escapes the condition names it draws.
        chart = mark_safe(svg[svg.index("<svg") :])  # noqa: S308
    return {"study": study, "live": data, "chart": chart, "user": user}


@register.inclusion_tag("studies/analysis/_summary_table.html", takes_context=True)
def live_summary(context, study):
    return live_summary_context(study, context.get("user"))
