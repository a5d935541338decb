"""`{{ study|study_text:"consent_text" }}`: a study's text in the language the page is shown in.

The volunteer templates read every researcher-written text through it (Study.text), so a study
offered in several languages shows each volunteer the texts of the language they read, and a
template cannot show the study's own text by mistake. It reads only the study row already loaded.
"""

from django import template
from django.conf import settings
from django.utils.translation import get_language

register = template.Library()


@register.filter
def study_text(study, field: str):
    """The text, or "" on a page that has no study (an error page rendered before any view, e.g.
    the oversized-request page of docbgm_site.middleware), so the page's own default shows."""
    if not hasattr(study, "text"):
        return ""
    return study.text(field, get_language() or settings.LANGUAGE_CODE)
