"""Reads for the volunteer pages: which participant this browser is, and its own trials."""

from django.http import HttpRequest

from generation.models import Stimulus
from studies import selectors
from studies.models import Participant, Study
from studies.prepared import PreparedQuery, one_row

# The Django session (server side) maps study slug -> participant token; the browser holds only
# the session cookie, never the token or any id.
SESSION_KEY = "volunteer_tokens"
# Studies that volunteers can see (drafts do not exist for them).
VISIBLE_STATUSES = [status for status in Study.Status.values if status != Study.Status.DRAFT]


def session_participant(*, request: HttpRequest, study: Study) -> Participant | None:
    token = request.session.get(SESSION_KEY, {}).get(study.slug, "")
    return selectors.participant_by_token(study=study, token=token)


# Columns that no volunteer request after the join reads from session_participant_in's row: each
# costs compiling and converting on every request (the questionnaire and analysis options are JSON).
# The services write through their own locked read of the participant (services._lock_participant),
# which loads every participant column; a deferred field is still read if touched (one query more).
UNUSED_ON_VOLUNTEER_REQUESTS = (
    "prolific_pid",
    "prolific_study_id",
    "prolific_session_id",
    "consent_version",
    "consented_at",
    "questionnaire",
    "assignment_seed",
    "created_at",
    "completed_at",
    "study__description",
    "study__consent_text",
    "study__consent_version",
    "study__analysis_options",
    "study__seed",
    "study__owner",
    "study__created_at",
    "study__opened_at",
    "study__closed_at",
)


# Compiled once (studies/prepared.py): this read is on every volunteer request.
_SESSION_PARTICIPANT = PreparedQuery(
    lambda token, slug: (
        Participant.objects.select_related("study")
        .defer(*UNUSED_ON_VOLUNTEER_REQUESTS)
        .filter(token=token, study__slug=slug)
        .exclude(study__status=Study.Status.DRAFT)
        .order_by()[:1]
    ),
    token="\x00token\x00",
    slug="\x00slug\x00",
)


def session_participant_in(*, request: HttpRequest, slug: str) -> Participant | None:
    """This browser's participant in the open or closed study `slug`, its study loaded with it:
    one query for what the volunteer's every request needs (None: no session, or a draft)."""
    token = request.session.get(SESSION_KEY, {}).get(slug, "")
    if not token:
        return None
    rows = _SESSION_PARTICIPANT(token=token, slug=slug)
    return rows[0] if rows else None


def participant_clip_stimulus(*, request: HttpRequest, slug: str, public_id: str) -> Stimulus | None:
    """The stimulus behind one of this browser's clip URLs in the open or closed study `slug`: a
    trial's, or a MUSHRA or pairwise page's clip (both ids are opaque and share /clip/<id>/); None
    for no session, a draft, anyone else's clip or no clip.

    One query for a trial's clip, straight from the session's token: a clip needs neither the
    participant nor the study loaded, and of the stimulus only its file. Every condition is in one
    filter(), so all of them hold for the same trial (or page clip) row.
    """
    token = request.session.get(SESSION_KEY, {}).get(slug, "")
    if not token:
        return None
    stimulus = one_row(
        Stimulus.objects.only("audio").filter(
            trials__public_id=public_id,
            trials__participant__token=token,
            trials__participant__study__slug=slug,
            trials__participant__study__status__in=VISIBLE_STATUSES,
        )
    )
    if stimulus is not None:
        return stimulus
    return one_row(
        Stimulus.objects.only("audio").filter(
            page_clips__public_id=public_id,
            page_clips__page__participant__token=token,
            page_clips__page__participant__study__slug=slug,
            page_clips__page__participant__study__status__in=VISIBLE_STATUSES,
        )
    )
