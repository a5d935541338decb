"""Writes of the volunteer pages that are not the studies services' (those change the database)."""

from django.http import HttpRequest

from studies.models import Participant
from studies.volunteer.selectors import SESSION_KEY


def remember_participant(*, request: HttpRequest, participant: Participant) -> None:
    """Record in this browser's server-side session that it is `participant` in their study."""
    tokens = dict(request.session.get(SESSION_KEY, {}))
    tokens[participant.study.slug] = participant.token
    request.session[SESSION_KEY] = tokens
