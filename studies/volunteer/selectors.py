"""Reads for the volunteer pages: which participant this browser is, and its own trials."""

from django.http import HttpRequest

from generation.models import Stimulus
from studies import selectors
from studies.models import PageClip, Participant, Study, Trial

# The Django session (server side) maps study slug -> participant token; the browser holds only
# the session cookie, never the token or any id.
SESSION_KEY = "volunteer_tokens"


def session_participant(*, request: HttpRequest, study: Study) -> Participant | None:
    token = request.session.get(SESSION_KEY, {}).get(study.slug, "")
    return selectors.participant_by_token(study=study, token=token)


def session_participant_in(*, request: HttpRequest, slug: str) -> Participant | None:
    """This browser's participant in the open or closed study `slug`, its study loaded with it:
    one query for what the volunteer's every request needs (None: no session, or a draft)."""
    token = request.session.get(SESSION_KEY, {}).get(slug, "")
    if not token:
        return None
    queryset = (
        Participant.objects.select_related("study")
        .filter(token=token, study__slug=slug)
        .exclude(study__status=Study.Status.DRAFT)
    )
    return _one(queryset)


def _one(queryset):
    """The row of a query on a unique key, or None. Unordered: `.first()` would add an ORDER BY,
    and the models' Meta.ordering follows their foreign keys (a trial's ["participant", ...] orders
    by the participant's study's created_at), which joins two more tables, costs compiling on every
    volunteer request and orders nothing here."""
    rows = list(queryset.order_by()[:1])
    return rows[0] if rows else None


def participant_trial(*, participant: Participant, public_id: str) -> Trial | None:
    """One of this participant's own trials, or None (also for another participant's trial)."""
    return _one(participant.trials.select_related("stimulus").filter(public_id=public_id))


def participant_clip_stimulus(*, participant: Participant, public_id: str) -> Stimulus | None:
    """The stimulus behind one of this participant's clip URLs: a trial's, or a MUSHRA or pairwise
    page's clip (both ids are opaque and share /clip/<id>/); None for anyone else's or no clip."""
    trial = participant_trial(participant=participant, public_id=public_id)
    if trial is not None:
        return trial.stimulus
    clip = _one(
        PageClip.objects.select_related("stimulus").filter(page__participant=participant, public_id=public_id)
    )
    return clip.stimulus if clip is not None else None
