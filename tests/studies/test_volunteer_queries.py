"""How many database queries each volunteer request makes (studies/volunteer), pinned: under load a
request's queries are most of its cost (benchmarks/bench_load.py), so adding one must be a choice.

The counts are those of the default settings (sessions in the database) inside a test's
transaction, where each service's transaction shows as a SAVEPOINT and a RELEASE; in production
those are BEGIN and COMMIT, which Django does not count. With Redis (cached_db sessions) the
session read leaves the database too, which the last test shows.
"""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from studies.models import Participant, Trial
from tests.studies.factories import OpenStudyFactory, ParticipantFactory

pytestmark = pytest.mark.django_db

RATING = {"naturalness": 3, "creativity": 4, "musicality": 5}


@pytest.fixture
def study():
    study = OpenStudyFactory(slug="q", headphone_check=False, volume_check=False, target_participants=0)
    for _ in range(3):
        ParticipantFactory(study=study)
    return study


def join(client: Client, study) -> Participant:
    assert (
        client.post("/s/q/", {"consent": "on", "consent_version": study.consent_version}).status_code == 302
    )
    return Participant.objects.get(token=client.session["volunteer_tokens"]["q"])


def post(client, path, data):
    return client.post(f"/s/q/api/{path}", data, content_type="application/json")


def test_a_join_costs_the_same_however_many_joined_before(study, django_assert_num_queries):
    # The study read, then in the join's transaction: study lock, stale seats, conditions, stimuli,
    # ordinal, exposure rows, participant, trials, exposure update; then the new session (2).
    consent = {"consent": "on", "consent_version": study.consent_version}
    with django_assert_num_queries(16):
        assert Client().post("/s/q/", consent).status_code == 302
    for _ in range(20):
        ParticipantFactory(study=study)
    with django_assert_num_queries(16):
        assert Client().post("/s/q/", consent).status_code == 302


def test_trial_page_clip_events_and_rating_queries(study, django_assert_num_queries):
    client = Client()
    trial = join(client, study).trials.get(is_practice=True)

    # session, participant with its study, its trials with their ratings
    with django_assert_num_queries(3):
        page = client.get("/s/q/go/")
    assert page.status_code == 200 and trial.public_id in page.content.decode()

    # session, then the stimulus's file name found from the session's token through the trial in
    # one query (no participant or study loaded); the file is read, not the database
    with django_assert_num_queries(2):
        clip = client.get(f"/s/q/clip/{trial.public_id}/", headers={"Range": "bytes=0-"})
        body = b"".join(clip.streaming_content)
    assert clip.status_code == 206 and len(body) == int(clip["Content-Length"])

    # session, participant; then locked participant, locked trial, its update
    with django_assert_num_queries(7):
        assert post(client, f"trials/{trial.public_id}/events/", {"event": "play"}).status_code == 200
    Trial.objects.filter(pk=trial.pk).update(first_played_at=timezone.now() - timedelta(seconds=5))

    # session, participant; then locked participant, locked trial with its rating, the insert
    with django_assert_num_queries(7):
        assert post(client, f"trials/{trial.public_id}/rating/", RATING).status_code == 200
    # A retry finds the rating in the same locked read and writes nothing.
    with django_assert_num_queries(6):
        assert post(client, f"trials/{trial.public_id}/rating/", RATING).status_code == 200
    trial.refresh_from_db()
    assert (trial.rating.naturalness, trial.rating.musicality, trial.plays) == (3, 5, 1)


def test_last_seen_is_written_once_a_minute_not_on_every_request(study):
    client = Client()
    participant = join(client, study)
    trial = participant.trials.get(is_practice=True)
    joined_at = participant.last_seen_at
    assert post(client, f"trials/{trial.public_id}/events/", {"event": "play"}).status_code == 200
    participant.refresh_from_db()
    assert participant.last_seen_at == joined_at
    Participant.objects.filter(pk=participant.pk).update(last_seen_at=joined_at - timedelta(seconds=61))
    assert post(client, f"trials/{trial.public_id}/events/", {"event": "ended"}).status_code == 200
    participant.refresh_from_db()
    assert participant.last_seen_at > joined_at


def test_sessions_in_the_cache_take_the_session_read_off_the_database(
    study, settings, django_assert_num_queries
):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    client = Client()
    join(client, study)
    with django_assert_num_queries(2):
        assert client.get("/s/q/go/").status_code == 200
