"""Volunteer-facing texts written elsewhere, made translatable here.

The studies services raise StudyErrors with English messages and the models hold English default
scale definitions; neither marks them for translation. They are listed here with gettext_noop so
that `makemessages` puts them in the catalog, and `translate()` looks them up when shown.
tests/studies/test_volunteer_views.py checks this list against the services' source, so a new
message cannot slip through untranslated.
"""

from django.utils.translation import gettext, gettext_noop

SERVICE_MESSAGES = [
    gettext_noop("This study is not open at the moment."),
    gettext_noop("This study has closed."),
    gettext_noop("The questionnaire must be a set of answers."),
    gettext_noop("The consent text has changed; please read it again and consent."),
    gettext_noop("This study has all the participants it needs. Thank you for your interest!"),
    gettext_noop("This session has ended after the headphone check. Thank you!"),
    gettext_noop("This session expired after a long pause. Thank you for your time!"),
    gettext_noop("You have already completed this study. Thank you!"),
    gettext_noop("The headphone check result is not valid."),
    gettext_noop("This clip is not part of your session."),
    gettext_noop("Unknown player event."),
    gettext_noop("The clip has not been played yet."),
    gettext_noop("Please rate all three scales before continuing."),
    gettext_noop("Naturalness must be a whole number from 1 to 5."),
    gettext_noop("Creativity must be a whole number from 1 to 5."),
    gettext_noop("Musicality must be a whole number from 1 to 5."),
    gettext_noop("Naturalness must be from 1 to 5."),
    gettext_noop("Creativity must be from 1 to 5."),
    gettext_noop("Musicality must be from 1 to 5."),
    gettext_noop("Please play the clip before rating it."),
    gettext_noop("Please listen to the whole clip before rating it."),
    gettext_noop("Please rate every clip before finishing."),
    gettext_noop(
        "The study link is not valid: its Prolific ids must be 1 to 64 letters, digits, "
        "hyphens or underscores. Please open the link from Prolific again."
    ),
    gettext_noop("This Prolific ID has already completed this study. Thank you!"),
    gettext_noop(
        "This Prolific ID has already taken this study's headphone check, which can be taken only once. "
        "Thank you for your time!"
    ),
    gettext_noop("This Prolific ID's session expired after a long pause. Thank you for your time!"),
    gettext_noop(
        "This Prolific ID has already started this study in another browser. Please continue in the "
        "browser where you started; if you cannot, contact the researcher through Prolific."
    ),
    gettext_noop("Too many people joined from your network in a short time. Please try again in a while."),
    # The MUSHRA and pairwise pages (services.page_clip_record_play, mushra_submit, pairwise_submit).
    gettext_noop("This page is not part of your session."),
    gettext_noop("Please listen to every clip to its end before answering."),
    gettext_noop("Please score every clip on every scale before continuing."),
    gettext_noop("A score must be a whole number from 0 to 100."),
    gettext_noop("This page does not take this kind of answer."),
    gettext_noop("Please answer every question before continuing."),
    gettext_noop("Please choose clip A or clip B."),
    gettext_noop("Please answer every page before finishing."),
]

# services.DEFAULT_MUSHRA_SCALES and DEFAULT_PAIRWISE_QUESTIONS, word for word (a test keeps them equal):
# a researcher's own scales and questions are shown as written.
DEFAULT_DESIGN_TEXTS = [gettext_noop("Basic audio quality"), gettext_noop("Which clip do you prefer?")]

# studies.models.DEFAULT_SCALE_DEFINITIONS, word for word (a test keeps them equal).
DEFAULT_SCALE_DEFINITIONS = {
    "naturalness": gettext_noop("How natural and fluent the melody sounds, as if a person had written it."),
    "creativity": gettext_noop("How original and interesting the melody is, beyond simple repetition."),
    "musicality": gettext_noop("How pleasant and musically coherent the melody is with its chords."),
}


def translate(text: str) -> str:
    """The active language's version of a text listed above; other texts come back unchanged."""
    return gettext(text) if text else text
