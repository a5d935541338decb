"""The volunteer page's API (studies/volunteer/api.py): session-token auth, CSRF, screening, plays, ratings."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from studies import services
from studies.models import Participant, Rating, Trial
from studies.volunteer.views import HUGGINS_SESSION_KEY
from tests.studies.factories import OpenStudyFactory, ParticipantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def study():
    return OpenStudyFactory(slug="listen")


def volunteer(study) -> tuple[Client, Participant]:
    client = Client()
    client.post(f"/s/{study.slug}/", {"consent": "on", "consent_version": study.consent_version})
    return client, Participant.objects.get(token=client.session["volunteer_tokens"][study.slug])


def api(client, study, path, data=None):
    return client.post(f"/s/{study.slug}/api/{path}", data or {}, content_type="application/json")


def rating_ready(study) -> tuple[Client, Participant, Trial]:
    """A screened volunteer whose practice clip started playing 5 s ago (the server's clock)."""
    client, participant = volunteer(study)
    assert api(client, study, "volume/").status_code == 200
    services.participant_record_headphone_check(participant=participant, correct=6, total=6)
    trial = participant.trials.get(is_practice=True)
    assert (
        api(
            client, study, f"trials/{trial.public_id}/events/", {"event": "play", "position_s": 0}
        ).status_code
        == 200
    )
    Trial.objects.filter(pk=trial.pk).update(first_played_at=timezone.now() - timedelta(seconds=5))
    return client, participant, trial


def test_no_session_means_no_access(study):
    client, participant = volunteer(study)
    trial = participant.trials.first()
    stranger = Client()
    for path in [
        "volume/",
        "headphones/1/",
        f"trials/{trial.public_id}/events/",
        f"trials/{trial.public_id}/rating/",
    ]:
        response = api(stranger, study, path, {"event": "play", "answer": 1})
        assert response.status_code == 403, path
        assert "open the study link again" in response.json()["detail"]
    assert stranger.get(f"/s/{study.slug}/api/state/").status_code == 403
    # A session for one study opens nothing in another.
    other = OpenStudyFactory(slug="other")
    assert client.get(f"/s/{other.slug}/api/state/").status_code == 403
    assert client.get(f"/s/{study.slug}/api/state/").json()["step"] == "volume"


def test_csrf_is_enforced(study):
    client = Client(enforce_csrf_checks=True)
    page = client.get(f"/s/{study.slug}/")
    token = page.cookies["csrftoken"].value
    client.post(
        f"/s/{study.slug}/",
        {"consent": "on", "consent_version": study.consent_version, "csrfmiddlewaretoken": token},
    )
    assert api(client, study, "volume/").status_code == 403
    participant = Participant.objects.get()
    assert participant.volume_checked is False
    response = client.post(
        f"/s/{study.slug}/api/volume/", {}, content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert response.status_code == 200 and response.json() == {"next": f"/s/{study.slug}/go/"}
    participant.refresh_from_db()
    assert participant.volume_checked is True


def answer_all(client, study, right: int):
    plan = client.session[HUGGINS_SESSION_KEY][Participant.objects.get().token]
    for number, answer in enumerate(plan["answers"], start=1):
        given = answer + 1 if number <= right else (answer + 1) % 3 + 1
        response = api(client, study, f"headphones/{number}/", {"answer": given})
        assert response.status_code == 200, response.content
        if number == 2:  # a network retry of an answer already counted changes nothing
            assert api(client, study, "headphones/2/", {"answer": (given % 3) + 1}).status_code == 200


@pytest.mark.parametrize(
    ("right", "passed", "status"), [(6, True, "rating"), (4, True, "rating"), (3, False, "screened_out")]
)
def test_headphone_check_is_scored_by_the_service(study, right, passed, status):
    client, participant = volunteer(study)
    api(client, study, "volume/")
    client.get(f"/s/{study.slug}/go/")  # draws the test
    answer_all(client, study, right)
    participant.refresh_from_db()
    assert (participant.headphone_correct, participant.headphone_total) == (right, 6)
    assert participant.headphone_passed is passed and participant.status == status
    assert api(client, study, "headphones/7/", {"answer": 1}).status_code == 409


def test_headphone_answers_out_of_order_or_invalid_are_refused(study):
    client, _ = volunteer(study)
    api(client, study, "volume/")
    client.get(f"/s/{study.slug}/go/")
    assert api(client, study, "headphones/3/", {"answer": 1}).status_code == 400
    assert api(client, study, "headphones/1/", {"answer": 4}).status_code == 400
    assert client.session[HUGGINS_SESSION_KEY][Participant.objects.get().token]["responses"] == []


def test_play_events_count_replays(study):
    client, participant, trial = rating_ready(study)
    url = f"trials/{trial.public_id}/events/"
    assert api(client, study, url, {"event": "ended", "position_s": 1.0}).json() == {"plays": 1}
    assert api(client, study, url, {"event": "play", "position_s": 0}).json() == {"plays": 2}
    assert api(client, study, url, {"event": "rewind"}).status_code == 400
    trial.refresh_from_db()
    assert trial.plays == 2 and trial.ended_at is not None


def test_rating_is_idempotent(study):
    client, participant, trial = rating_ready(study)
    url = f"trials/{trial.public_id}/rating/"
    first = api(client, study, url, {"naturalness": 4, "creativity": 2, "musicality": 5})
    again = api(client, study, url, {"naturalness": 1, "creativity": 1, "musicality": 1})
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    rating = Rating.objects.get()
    assert (rating.naturalness, rating.creativity, rating.musicality) == (4, 2, 5)


@pytest.mark.parametrize(
    ("values", "status", "message"),
    [
        ({"naturalness": 6, "creativity": 3, "musicality": 3}, 400, "Naturalness must be from 1 to 5."),
        ({"naturalness": 0, "creativity": 3, "musicality": 3}, 400, "Naturalness must be from 1 to 5."),
        ({"naturalness": 3, "creativity": 3}, 400, "Please rate all three scales before continuing."),
        (
            {"naturalness": 3, "creativity": "x", "musicality": 3},
            400,
            "Creativity must be a whole number from 1 to 5.",
        ),
    ],
)
def test_invalid_ratings_are_refused_with_a_clear_message(study, values, status, message):
    client, _, trial = rating_ready(study)
    response = api(client, study, f"trials/{trial.public_id}/rating/", values)
    assert response.status_code == status and response.json()["detail"] == message
    assert Rating.objects.count() == 0


def test_rating_before_the_clip_could_end_is_refused(study):
    client, participant, _ = rating_ready(study)
    trial = participant.trials.get(group=1, position=1)
    url = f"trials/{trial.public_id}/"
    values = {"naturalness": 3, "creativity": 3, "musicality": 3}
    response = api(client, study, url + "rating/", values)
    assert (
        response.status_code == 409 and response.json()["detail"] == "Please play the clip before rating it."
    )
    api(client, study, url + "events/", {"event": "play"})
    response = api(client, study, url + "rating/", values)
    assert response.status_code == 409
    assert response.json()["detail"] == "Please listen to the whole clip before rating it."
    assert Rating.objects.count() == 0


def test_another_participants_trial_and_a_closed_study_are_refused(study):
    client, _, trial = rating_ready(study)
    other = ParticipantFactory(study=study).trials.first()
    values = {"naturalness": 3, "creativity": 3, "musicality": 3}
    response = api(client, study, f"trials/{other.public_id}/rating/", values)
    assert (
        response.status_code == 403 and response.json()["detail"] == "This clip is not part of your session."
    )
    assert api(client, study, f"trials/{other.public_id}/events/", {"event": "play"}).status_code == 403
    services.study_close(study=study)
    response = api(client, study, f"trials/{trial.public_id}/rating/", values)
    assert response.status_code == 409 and response.json()["detail"] == "This study has closed."
    assert Rating.objects.count() == 0


def test_messages_follow_the_browser_language(study):
    client, _, trial = rating_ready(study)
    response = client.post(
        f"/s/{study.slug}/api/trials/{trial.public_id}/rating/",
        {"naturalness": 9, "creativity": 3, "musicality": 3},
        content_type="application/json",
        headers={"Accept-Language": "zh-CN"},
    )
    assert response.status_code == 400 and response.json()["detail"] == "自然度必须在 1 到 5 之间。"
