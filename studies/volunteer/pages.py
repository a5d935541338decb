"""The MUSHRA and pairwise pages of a volunteer's session (Study.test_type), drawn from its Page.

Called by views.session for the "practice_page" and "page" steps. As for trials, what reaches the
browser is blind: the page's own opaque id, one opaque clip URL per PageClip (served by
views.clip like a trial's), the clips' labels "A", "B", ... in the volunteer's own order, and the
study's scales or questions in the language shown (Study.design_texts); nothing names a condition,
a set, an item or a row.
"""

from django.conf import settings
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from studies.models import Study
from studies.selectors import Step


def page_strings() -> dict[str, str]:
    """The texts the page script shows, in the active language (views._page_config adds the rest)."""
    return {
        "stop": _("Stop"),
        "heard": _("heard"),
        "not_heard": _("Please listen to every clip to its end first:"),
        "unscored": _("Please move every slider (scores still to give):"),
        "unanswered": _("Please answer every question."),
        "may_answer": _("Every clip has been heard: you can answer now (and listen again if you like)."),
    }


def page_view(request, slug: str, step: Step, page_config) -> tuple[str, dict]:
    """(template, context) of the volunteer's current MUSHRA or pairwise page.

    Args:
        page_config: views._page_config, which builds the page script's configuration.
    """
    page = step.page
    study = page.participant.study
    language = get_language() or settings.LANGUAGE_CODE
    clips = [
        {
            "label": clip.label,
            "url": reverse("volunteer:clip", args=[slug, clip.public_id]),
            "events": reverse("volunteer:api-clip-events", args=[slug, clip.public_id]),
            "played_to_end": clip.ended_at is not None,
        }
        for clip in page.clips.order_by("slot")
    ]
    practice = step.kind == "practice_page"
    context = {
        "practice": practice,
        "clips": clips,
        "instructions": study.text("instructions", language),
        "progress": {"page": step.clip_number, "pages": step.total, "done": step.rated},
    }
    extra = {}
    if study.test_type == Study.TestType.MUSHRA:
        scales = study.design_texts("scale_labels", language)
        context["scales"] = scales
        extra["scales"] = scales
        template = "studies/volunteer/mushra.html"
    else:
        questions = study.design_texts("questions", language)
        context["questions"] = questions
        extra["questions"] = questions
        template = "studies/volunteer/pairwise.html"
    config = page_config(
        request,
        slug,
        study.test_type,
        urls={"answer": reverse("volunteer:api-page-answer", args=[slug, page.public_id])},
        clips=[{k: c[k] for k in ("label", "url", "events", "played_to_end")} for c in clips],
        **extra,
    )
    config["strings"].update(page_strings())
    context["page_config"] = config
    return template, context
